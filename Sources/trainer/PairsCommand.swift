import ArgumentParser
import Datasets
import Foundation
import SyntheticWorld
import Training

/// `trainer pairs`: preference pairs from scored answers (RLAIF-V step 3).
struct Pairs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build preference JSONL from scored answers (RLAIF-V, step 3).")

    @Option(help: "scored.jsonl from `trainer score`.")
    var scored: String
    @Option(name: .customLong("min-gap"), help: "Smallest score gap between chosen and rejected.")
    var minGap: Double = 1
    @Option(name: .customLong("max-pairs"), help: "Most pairs per prompt.")
    var maxPairs: Int = 2
    @Option(name: .customLong("max-length-ratio"), help: "Skip pairs whose longer answer is more than this many times the shorter.")
    var maxLengthRatio: Double = 2
    @Option(help: "Where to write the preference JSONL.")
    var out: String

    func run() throws {
        let s = try RLAIFV.readJSONL(RLAIFV.Scored.self, from: scored)
        let (records, report) = try RLAIFV.pairs(s, config: PairingConfig(minScoreGap: minGap, maxPairsPerPrompt: maxPairs,
                                                                         maxLengthRatio: maxLengthRatio))
        try RLAIFV.writeJSONL(records, to: out)
        print("\(records.count) pairs from \(report.promptsWithPairs) of \(report.prompts) prompts "
              + "(skipped: \(report.skippedIdentical) identical, \(report.skippedLength) length, \(report.skippedOverLimit) over the limit) → \(out)")
    }
}
