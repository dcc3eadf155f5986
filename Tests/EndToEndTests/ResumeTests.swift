import Checkpointing
import Foundation
import Training
import XCTest

/// Training N steps straight and training k steps, stopping, resuming and
/// finishing give bit-identical weights and optimizer state.
final class ResumeTests: XCTestCase {
    func testInterruptedAndResumedRunIsBitIdentical() throws {
        let steps = 6
        let straightDir = E2E.scratch("straight"), resumedDir = E2E.scratch("resumed")
        let straight = try E2E.recipe(E2E.captionRecipe(name: "a", dir: straightDir, steps: steps), in: straightDir)
        let a = try TrainingRun(recipe: straight, options: E2E.quiet(RunOptions())).run()
        XCTAssertEqual(a.steps, steps)
        XCTAssertFalse(a.interrupted)

        let recipe = try E2E.recipe(E2E.captionRecipe(name: "b", dir: resumedDir, steps: steps), in: resumedDir)
        let first = try TrainingRun(recipe: recipe, options: E2E.quiet(RunOptions(stopAfter: 3))).run()
        XCTAssertTrue(first.interrupted)
        XCTAssertEqual(first.steps, 3)
        let second = try TrainingRun(recipe: recipe, options: E2E.quiet(RunOptions(resume: "latest"))).run()
        XCTAssertEqual(second.steps, steps - 3)

        let finalA = straightDir.appendingPathComponent("ckpt/step-000006.h5").path
        let finalB = resumedDir.appendingPathComponent("ckpt/step-000006.h5").path
        try E2E.assertSameTrainState(finalA, finalB)
        // The weights did change during training (the comparison is not vacuous).
        let initial = try TrainingRun(recipe: straight, options: E2E.quiet(RunOptions()))
        let w0 = initial.model.namedParameters().first { $0.path.hasPrefix("llm.model.layers.0.mlp") }!
        let trained = try E2E.tensors(finalA, group: "model")["model/\(w0.path)"]!
        XCTAssertNotEqual(w0.parameter.value.scalars, trained)
    }

    func testResumeWithADifferentRecipeIsRefused() throws {
        let dir = E2E.scratch("refuse")
        let text = E2E.captionRecipe(name: "c", dir: dir, steps: 4)
        _ = try TrainingRun(recipe: try E2E.recipe(text, in: dir), options: E2E.quiet(RunOptions(stopAfter: 2))).run()
        let changed = try E2E.recipe(text, in: dir, overrides: ["optimizer.lr=0.1", "data.max_length=128"])
        XCTAssertThrowsError(try TrainingRun(recipe: changed, options: E2E.quiet(RunOptions(resume: "latest")))) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains("optimizer.lr: 0.003 → 0.1"), s)
            XCTAssertTrue(s.contains("data.max_length: 256 → 128"), s)
        }
        let other = try E2E.recipe(text.replacingOccurrences(of: "micro.yaml", with: "tiny.yaml"), in: dir)
        XCTAssertThrowsError(try TrainingRun(recipe: other, options: E2E.quiet(RunOptions(resume: "latest")))) { e in
            XCTAssertTrue("\(e)".contains("different model"), "\(e)")
        }
    }

    func testCheckpointLayoutIsReadable() throws {
        let dir = E2E.scratch("layout")
        let recipe = try E2E.recipe(E2E.captionRecipe(name: "d", dir: dir, steps: 2), in: dir)
        let s = try TrainingRun(recipe: recipe, options: E2E.quiet(RunOptions(stopAfter: 1))).run()
        let f = try HDF5File(readingAt: try XCTUnwrap(s.checkpoint))
        defer { f.close() }
        XCTAssertEqual(try f.readInt64s("state/step").values, [1])
        XCTAssertEqual(try f.readInt64s("optimizer/step").values, [1])
        XCTAssertTrue(try f.readString("recipe/text").contains("name: d"))
        XCTAssertEqual(try f.readInt64s("state/rng/dropout").shape, [2])
        XCTAssertTrue(try f.readString("state/data").contains("cursor"))
        XCTAssertTrue(f.exists("model/llm.model.embed_tokens.weight"))
        XCTAssertTrue(f.exists("optimizer/llm.model.embed_tokens.weight/m"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("ckpt/latest.h5").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("ckpt/metrics.jsonl").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("ckpt/plot.svg").path))
    }
}
