// swift-tools-version:5.10
import PackageDescription

// The engine's kernels are Swift loops over unsafe pointers: they need FMA and
// vector units and no overflow checks in the hot loops (-Ounchecked). Everything
// else keeps -O, so that `precondition` checks stay active there.
let kernels: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-wmo", "-target-cpu", "haswell"]),
]
let fast: [SwiftSetting] = [
    .unsafeFlags(["-wmo", "-target-cpu", "haswell"]),
]

let package = Package(
    name: "trainer",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "trainer", targets: ["trainer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries from Debian (installed by `make setup`).
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5"),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd"),
        .systemLibrary(name: "CStb", path: "Sources/CStb"),
        .systemLibrary(name: "CVector", path: "Sources/CVector"),     // header only: vector FMA and sqrt
        .systemLibrary(name: "CMPI", path: "Sources/CMPI"),           // Open MPI (libopenmpi-dev)

        .target(name: "Core", dependencies: ["COpenBLAS"], swiftSettings: kernels),
        .target(name: "Autograd", dependencies: ["Core", "COpenBLAS", "CVector"], swiftSettings: kernels),
        .target(name: "NN", dependencies: ["Autograd"], swiftSettings: fast),
        .target(name: "Models", dependencies: ["NN", "Autograd", "Yams"], swiftSettings: fast),
        .target(name: "Tokenizers", dependencies: ["Core"], swiftSettings: fast),
        .target(name: "Datasets", dependencies: ["Core", "Tokenizers", "CStb", "CZstd"], swiftSettings: fast),
        .target(name: "SyntheticWorld", dependencies: ["Core", "Tokenizers", "Datasets"], swiftSettings: fast),
        .target(name: "Optimizers", dependencies: ["Autograd", "NN"], swiftSettings: fast),
        .target(name: "Checkpointing", dependencies: ["Core", "Autograd", "NN", "CHDF5"], swiftSettings: fast),
        .target(name: "Communication", dependencies: ["Core", "CMPI"], swiftSettings: fast),
        .target(
            name: "Training",
            dependencies: ["Autograd", "NN", "Models", "Tokenizers", "Datasets", "SyntheticWorld", "Optimizers", "Checkpointing", "Communication", "COpenBLAS", "Yams"],
            swiftSettings: fast),
        .executableTarget(
            name: "trainer",
            dependencies: [
                "Training", "Models", "Tokenizers", "Datasets", "SyntheticWorld", "Checkpointing", "Autograd", "Communication",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: fast),

        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "AutogradTests", dependencies: ["TestSupport", "Autograd", "Core"], swiftSettings: fast),
        .testTarget(name: "NNTests", dependencies: ["TestSupport", "NN", "Autograd", "Core"], swiftSettings: fast),
        .testTarget(name: "ModelsTests", dependencies: ["TestSupport", "Models", "NN", "Autograd", "Checkpointing", "Core"], swiftSettings: fast),
        .testTarget(name: "DatasetsTests", dependencies: ["TestSupport", "Datasets", "Autograd", "Checkpointing", "Core", "Tokenizers", "SyntheticWorld"], swiftSettings: fast),
        .testTarget(name: "TokenizersTests", dependencies: ["TestSupport", "Tokenizers", "Core"], swiftSettings: fast),
        .testTarget(name: "SyntheticWorldTests", dependencies: ["TestSupport", "SyntheticWorld", "Datasets", "Tokenizers", "Core"], swiftSettings: fast),
        .testTarget(name: "OptimizersTests", dependencies: ["TestSupport", "Optimizers", "NN", "Autograd", "Core"], swiftSettings: fast),
        .testTarget(name: "CheckpointingTests", dependencies: ["TestSupport", "Checkpointing", "NN", "Autograd", "Core"],
                    exclude: ["Corpus"], swiftSettings: fast),
        .testTarget(name: "TrainingTests", dependencies: ["TestSupport", "Training", "Models", "Datasets", "Optimizers", "Checkpointing", "NN", "Autograd", "Core", "Tokenizers", "SyntheticWorld"], swiftSettings: fast),
        .testTarget(name: "EndToEndTests", dependencies: ["TestSupport", "Training", "Models", "Datasets", "Checkpointing", "NN", "Autograd", "Core", "Tokenizers", "SyntheticWorld"],
                    exclude: ["Fixtures"], swiftSettings: fast),
    ]
)
