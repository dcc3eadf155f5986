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
