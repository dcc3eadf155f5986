import ArgumentParser
import Datasets
import Foundation
import SyntheticWorld
import Training

/// `trainer sample`: K answers per prompt at a temperature (RLAIF-V step 1).
struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sample K answers per image with a checkpoint (RLAIF-V, step 1).")

    @Option(help: "The policy checkpoint (e.g. Checkpoints/sft/latest.h5).")
    var checkpoint: String
    @Option(help: "A data file whose images (and preference questions) are the prompts.")
    var data: String
    @Option(help: "Ask this for every image (default: the file's question, else the caption prompt).")
    var prompt: String?
    @Option(name: .customShort("k"), help: "Answers per prompt.")
    var k: Int = 10
    @Option(help: "Sampling temperature.")
    var temperature: Float = 0.7
    @Option(name: .customLong("top-p"), help: "Nucleus sampling threshold.")
    var topP: Float = 1
    @Option(help: "At most this many prompts.")
    var limit: Int = 1_000_000
    @Option(name: .customLong("max-tokens"), help: "Longest answer.")
    var maxTokens: Int = 96
    @Option(help: "Random seed.")
    var seed: UInt64 = 0
    @Option(help: "Where to write samples.jsonl.")
    var out: String

    func run() throws {
        let s = try RLAIFV.sample(checkpoint: checkpoint, data: data, k: k, temperature: temperature, topP: topP,
                                  question: prompt, limit: limit, seed: seed, maxTokens: maxTokens) { print($0) }
        try RLAIFV.writeJSONL(s, to: out)
        print("sampled \(s.count * k) answers for \(s.count) prompts → \(out)")
    }
}

/// `trainer score`: split answers into claims and check each (RLAIF-V step 2).
struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score sampled answers: split into atomic claims, check each, score = −wrong claims (RLAIF-V, step 2).",
        discussion: "The built-in checker is the synthetic world's ground truth (metadata.jsonl); other labelers plug in through the ClaimChecker protocol.")

    @Option(help: "samples.jsonl from `trainer sample`.")
    var samples: String
    @Option(help: "Ground truth of the synthetic world.")
    var metadata: String = "Data/synth/metadata.jsonl"
    @Option(help: "Claims the checker cannot read: wrong (they lower the score) or ignore.")
    var unverifiable: RLAIFV.Unverifiable = .wrong
    @Option(help: "Where to write scored.jsonl.")
    var out: String

    func run() throws {
        let sampled = try RLAIFV.readJSONL(RLAIFV.Sampled.self, from: samples)
        let checker = try SyntheticWorldChecker(metadata: URL(fileURLWithPath: metadata))
        let scored = RLAIFV.score(sampled, checker: checker, unverifiable: unverifiable)
        try RLAIFV.writeJSONL(scored, to: out)
        let all = scored.flatMap(\.responses)
        let wrong = all.reduce(0) { $0 + $1.wrong.count }
        let unreadable = all.reduce(0) { $0 + ($1.unverifiable?.count ?? 0) }
        let checked = all.reduce(0) { $0 + $1.claims.count } - unreadable
        print(String(format: "scored %d answers: %d of %d checked claims wrong (%.1f %%), %d unverifiable (%@) → %@",
                     all.count, wrong, checked, 100 * Double(wrong) / Double(max(checked, 1)), unreadable,
                     unverifiable == .wrong ? "counted as wrong in the score" : "ignored", out))
    }
}

extension RLAIFV.Unverifiable: ExpressibleByArgument {}

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
