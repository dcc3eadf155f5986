import Checkpointing
import Foundation
import Training
import XCTest

/// A DPO phase end to end: a captioning phase, then DPO on the shipped preference
/// pairs against the reference log-probs of the weights it starts from. Interrupted
/// mid-phase and resumed, it ends bit-identical to the straight run, because the
/// reference travels in the checkpoint.
final class DPOPhaseTests: XCTestCase {
    private func recipe(_ name: String, _ dir: URL) throws -> Recipe {
        let root = E2E.root.path
        // The DPO phase repeats the shared data settings with its own files (a phase's
        // `data` replaces the recipe's as a whole).
        func data(_ indent: String, _ files: String) -> String {
            (files + """

                tokenizer: \(root)/Data/tokenizer.json
                resolution: 56
                max_length: 256
                rows: 2
                cache: \(dir.path)/cache
                """).split(separator: "\n").map { indent + $0 }.joined(separator: "\n")
        }
        return try E2E.recipe("""
            name: \(name)
            model: \(root)/Recipes/models/micro.yaml
            data:
            \(data("  ", "train: \(root)/Data/synth/captions-heldout.jsonl"))
            phases:
              - name: captions
                steps: 2
              - name: dpo
                steps: 4
                data:
            \(data("      ", "format: preference\ntrain: \(root)/Data/synth/preference-heldout.jsonl\neval: \(root)/Data/synth/preference-heldout.jsonl"))
            dpo:
              beta: 0.1
              sft_weight: 0.5
            optimizer:
              lr: 1.0e-3
            schedule:
              kind: constant
            checkpoint:
              dir: \(dir.path)/ckpt
              keep: 5
            eval:
              every: 3
              batches: 2
            seed: 3
            threads: 2
            """, in: dir)
    }

    func testDPOPhaseRunsAndResumesBitIdentically() throws {
        let straightDir = E2E.scratch("dpo-straight"), resumedDir = E2E.scratch("dpo-resumed")
        var lines: [String] = []
        var options = E2E.quiet(RunOptions())
        options.log = { lines.append($0) }
        let a = try TrainingRun(recipe: try recipe("a", straightDir), options: options).run()
        XCTAssertEqual(a.steps, 6)
        XCTAssertTrue(lines.contains { $0.hasPrefix("dpo: reference log-probs of") }, "\(lines)")
        XCTAssertNotNil(a.evalLoss)
        let metrics = try String(contentsOfFile: straightDir.appendingPathComponent("ckpt/metrics.jsonl").path, encoding: .utf8)
        XCTAssertEqual(metrics.split(separator: "\n").filter { $0.contains("rewards/accuracies") }.count, 4)

        let r = try recipe("b", resumedDir)
        let first = try TrainingRun(recipe: r, options: E2E.quiet(RunOptions(stopAfter: 4))).run()
        XCTAssertTrue(first.interrupted)
        let mid = try HDF5File(readingAt: resumedDir.appendingPathComponent("ckpt/step-000004.h5").path)
        XCTAssertTrue(mid.exists("state/reference_logps/train"), "a mid-DPO checkpoint holds the reference")
        mid.close()
        let second = try TrainingRun(recipe: r, options: E2E.quiet(RunOptions(resume: "latest"))).run()
        XCTAssertEqual(second.steps, 2)

        let finalA = straightDir.appendingPathComponent("ckpt/step-000006.h5").path
        let finalB = resumedDir.appendingPathComponent("ckpt/step-000006.h5").path
        try E2E.assertSameTrainState(finalA, finalB)
    }
}
