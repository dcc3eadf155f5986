import Checkpointing
import Foundation
import Training
import XCTest

final class TrainingRunTests: XCTestCase {
    /// A short run on the synthetic captions learns: the loss clearly falls.
    func testLossFalls() throws {
        let dir = E2E.scratch("learn")
        let text = E2E.captionRecipe(name: "learn", dir: dir, steps: 30)
        let recipe = try E2E.recipe(text, in: dir, overrides: ["optimizer.accumulation=1"])
        let s = try TrainingRun(recipe: recipe, options: E2E.quiet(RunOptions())).run()
        let records = MetricsLog.read(dir.appendingPathComponent("ckpt/metrics.jsonl").path)
        let losses = records.compactMap { $0["loss"] as? Double }
        XCTAssertEqual(losses.count, 30)
        let early = losses.prefix(3).reduce(0, +) / 3, late = losses.suffix(3).reduce(0, +) / 3
        XCTAssertLessThan(late, 0.6 * early, "loss \(early) → \(late)")
        XCTAssertEqual(s.steps, 30)
    }

    /// A NaN stops the step, names the step and its samples, and leaves the last
    /// good checkpoint in place.
    func testNonFiniteLossStopsWithoutCorruptingCheckpoints() throws {
        let dir = E2E.scratch("nan")
        let recipe = try E2E.recipe(E2E.captionRecipe(name: "nan", dir: dir, steps: 4), in: dir)
        _ = try TrainingRun(recipe: recipe, options: E2E.quiet(RunOptions(stopAfter: 2))).run()
        let good = try E2E.tensors(dir.appendingPathComponent("ckpt/step-000002.h5").path, group: "model")

        let run = try TrainingRun(recipe: recipe, options: E2E.quiet(RunOptions(resume: "latest")))
        let w = try XCTUnwrap(run.model.parameter(at: "llm.model.norm.weight"))
        w.value.pointer[0] = .nan
        XCTAssertThrowsError(try run.run()) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains("step 3"), s)
            XCTAssertTrue(s.contains("not finite"), s)
            XCTAssertTrue(s.contains("captions-heldout"), "names the samples: \(s)")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("ckpt").path)
        XCTAssertFalse(files.contains("step-000003.h5"))
        let after = try E2E.tensors(dir.appendingPathComponent("ckpt/step-000002.h5").path, group: "model")
        XCTAssertEqual(after.count, good.count)
        for (k, v) in good { XCTAssertEqual(v.map(\.bitPattern), after[k]?.map(\.bitPattern), k) }
    }
}
