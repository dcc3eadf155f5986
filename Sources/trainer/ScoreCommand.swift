import ArgumentParser
import Datasets
import Foundation
import SyntheticWorld
import Training

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
