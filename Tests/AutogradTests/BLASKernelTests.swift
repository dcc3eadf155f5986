import XCTest
import Autograd

/// The start-up kernel choice (a pure decision) and the self-check it relies on.
final class BLASKernelTests: XCTestCase {
    let zen5: Set<String> = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_bf16"]
    let zen3: Set<String> = ["sse4_2", "avx", "avx2", "fma"]

    /// The self-check passes on the kernel in force (whichever the environment set:
    /// the suite never changes it) and stays well under a second.
    func testSelfCheckPassesOnTheKernelInForce() {
        let report = BLASSelfCheck.run()
        XCTAssertTrue(report.passed, "OpenBLAS \(BLAS.coreName): \(report.failures.prefix(5).joined(separator: "; "))")
        XCTAssertGreaterThan(report.cases, 500)
        XCTAssertLessThan(report.seconds, 5, "the self-check took \(report.seconds) s")
    }

    func testAnAVX512CPUUnderHaswellChecksSkylakeX() {
        XCTAssertEqual(BLASKernel.decide(flags: zen5, current: "Haswell", environmentCore: "Haswell", choice: nil),
                       .check(candidate: "SkylakeX"))
        XCTAssertEqual(BLASKernel.decide(flags: zen5, current: "Prescott", environmentCore: nil, choice: nil),
                       .check(candidate: "SkylakeX"))
        XCTAssertEqual(BLASKernel.decide(flags: zen5, current: "Zen", environmentCore: nil, choice: (.auto, "--blas-kernel")),
                       .check(candidate: "SkylakeX"))
        // An AVX2 CPU that OpenBLAS took for an old one gets Haswell.
        XCTAssertEqual(BLASKernel.decide(flags: zen3, current: "Prescott", environmentCore: nil, choice: nil),
                       .check(candidate: "Haswell"))
    }

    func testNothingFasterKeepsTheKernelInForce() {
        for (flags, current) in [(zen3, "Zen"), (zen3, "Haswell"), (zen5, "SkylakeX"), (zen5, "Cooperlake"),
                                 (Set<String>(), "Prescott"), (Set(["avx2"]), "Sandybridge")] {
            guard case .keep = BLASKernel.decide(flags: flags, current: current, environmentCore: nil, choice: nil) else {
                return XCTFail("\(current) on \(flags.sorted()) should stay")
            }
        }
        XCTAssertEqual(BLASKernel.decide(flags: zen3, current: "Zen", environmentCore: nil, choice: nil),
                       .keep(reason: "OpenBLAS's own choice; the fastest for this CPU"))
    }

    func testTheUsersChoiceWins() {
        // A named family is used unchecked, even a slower one; one already in force needs no re-exec.
        XCTAssertEqual(BLASKernel.decide(flags: zen5, current: "Haswell", environmentCore: "Haswell", choice: (.core("Haswell"), "--blas-kernel")),
                       .keep(reason: "chosen with --blas-kernel"))
        XCTAssertEqual(BLASKernel.decide(flags: zen5, current: "SkylakeX", environmentCore: nil, choice: (.core("Haswell"), "TRAINER_BLAS_KERNEL")),
                       .use(core: "Haswell", reason: "chosen with TRAINER_BLAS_KERNEL"))
        XCTAssertEqual(BLASKernel.decide(flags: zen3, current: "Zen", environmentCore: nil, choice: (.core("skylakex"), "--blas-kernel")),
                       .use(core: "skylakex", reason: "chosen with --blas-kernel"))
        // keep: no check, and the header says what is given up.
        XCTAssertEqual(BLASKernel.decide(flags: zen5, current: "Haswell", environmentCore: "Haswell", choice: (.keep, "TRAINER_BLAS_KERNEL")),
                       .keep(reason: "kept with TRAINER_BLAS_KERNEL=keep: Haswell from OPENBLAS_CORETYPE in the environment; this CPU offers SkylakeX"))
    }

    func testTheOptionWinsOverTheVariableAndLeavesTheArguments() {
        let env = [BLASKernel.variable: "keep"]
        var r = BLASKernel.userChoice(arguments: ["trainer", "--blas-kernel", "SkylakeX", "run", "r.yaml"], environment: env)
        XCTAssertEqual(r.choice?.0, .core("SkylakeX"))
        XCTAssertEqual(r.choice?.source, "--blas-kernel")
        XCTAssertEqual(r.arguments, ["trainer", "run", "r.yaml"])
        r = BLASKernel.userChoice(arguments: ["trainer", "bench", "--blas-kernel=auto"], environment: env)
        XCTAssertEqual(r.choice?.0, .auto)
        XCTAssertEqual(r.arguments, ["trainer", "bench"])
        r = BLASKernel.userChoice(arguments: ["trainer", "bench"], environment: env)
        XCTAssertEqual(r.choice?.0, .keep)
        XCTAssertEqual(r.choice?.source, "TRAINER_BLAS_KERNEL")
        XCTAssertEqual(BLASKernel.Choice("environment"), .keep)
        XCTAssertNil(BLASKernel.userChoice(arguments: ["trainer", "bench"], environment: [:]).choice)
        XCTAssertNil(BLASKernel.userChoice(arguments: ["trainer", "bench"], environment: [BLASKernel.variable: ""]).choice)
    }

    func testAFailedCheckKeepsTheEnvironmentsKernel() {
        XCTAssertEqual(BLASKernel.afterCheck(candidate: "SkylakeX", current: "Haswell", environmentCore: "Haswell",
                                             passed: true, detail: ""),
                       .use(core: "SkylakeX", reason: "checked at start-up: faster than Haswell in the environment"))
        XCTAssertEqual(BLASKernel.afterCheck(candidate: "SkylakeX", current: "Haswell", environmentCore: "Haswell",
                                             passed: false, detail: "crashed with signal 4"),
                       .keep(reason: "OPENBLAS_CORETYPE in the environment; SkylakeX failed the start-up check (crashed with signal 4)"))
    }

    func testFlagsAndTiers() {
        XCTAssertEqual(BLASKernel.bestCore(flags: zen5), "SkylakeX")
        XCTAssertEqual(BLASKernel.bestCore(flags: zen3), "Haswell")
        XCTAssertNil(BLASKernel.bestCore(flags: ["sse4_2", "avx"]))
        XCTAssertNil(BLASKernel.bestCore(flags: ["avx512f", "avx2", "fma"]).flatMap { $0 == "SkylakeX" ? $0 : nil },
                     "AVX-512F alone (no BW/VL/DQ) is not enough for the SkylakeX kernels")
        XCTAssertGreaterThan(BLASKernel.tier("SkylakeX"), BLASKernel.tier("Haswell"))
        XCTAssertEqual(BLASKernel.tier("Zen"), BLASKernel.tier("Haswell"))
        XCTAssertGreaterThan(BLASKernel.tier("Haswell"), BLASKernel.tier("Prescott"))
        XCTAssertFalse(BLAS.kernelDescription.isEmpty)
        XCTAssertTrue(BLAS.kernelDescription.hasPrefix(BLAS.coreName + " ("))
    }
}
