import ArgumentParser
import Datasets
import Foundation
import SyntheticWorld

/// `trainer data …`: data preparation commands. (Named `DataCommand` so that
/// `Data` keeps meaning Foundation's byte buffer inside this module.)
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Generate and prepare training data.",
        subcommands: [Synth.self])

    /// `trainer data synth --out DIR [--count N] [--documents M] [--seed S] [--noise A]`
    struct Synth: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Render the synthetic world (shapes and documents) with captions, OCR, SFT, preference data and ground truth.")

        @Option(name: .long, help: "Output folder (created if missing).")
        var out: String

        @Option(name: .long, help: "Number of shapes images.")
        var count: Int = 512

        @Option(name: .long, help: "Number of document images (default: count / 8).")
        var documents: Int?

        @Option(name: .long, help: "Random seed; the same seed gives byte-identical files.")
        var seed: UInt64 = 0

        @Option(name: .long, help: "Background noise amplitude in 0...64 (0 = plain background).")
        var noise: Int = 0

        func run() throws {
            let folder = URL(fileURLWithPath: out)
            let docs = documents ?? SyntheticWorld.defaultDocuments(count: count)
            let start = Date()
            let summary = try SyntheticWorld.generate(to: folder, count: count, documents: docs, seed: seed, noise: noise)
            print("wrote \(summary.shapesImages) shapes images and \(summary.documentImages) documents "
                + "(\(summary.heldoutImages) held out) to \(folder.path)")
            for (name, n) in summary.records.sorted(by: { $0.key < $1.key }) {
                print("  \(name.padding(toLength: 26, withPad: " ", startingAt: 0)) \(n) records")
            }
            let mb = Double(summary.bytes) / 1_048_576
            print(String(format: "  total %.2f MiB in %.1f s", mb, Date().timeIntervalSince(start)))
            print("  regenerate: \(SyntheticWorld.command(out: out, count: count, documents: docs, seed: seed, noise: noise))")
        }
    }
}
