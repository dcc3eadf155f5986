import Checkpointing
import Foundation
import Training
import XCTest

/// The vision pre-training phase on per-cell labels (`format: regions`) end to end:
/// it trains the vision encoder alone, reports per-attribute accuracy, keeps its heads
/// in mid-phase checkpoints, and resumes bit-identically.
final class RegionPhaseTests: XCTestCase {
    private func recipe(_ name: String, _ dir: URL, train: String = "[vpm]") throws -> Recipe {
        let root = E2E.root.path
        return try E2E.recipe("""
            name: \(name)
            model: \(root)/Recipes/models/micro.yaml
            train: \(train)
            data:
              format: regions
              train: \(root)/Data/synth/regions-heldout.jsonl
              eval: \(root)/Data/synth/regions-heldout.jsonl
              tokenizer: \(root)/Data/tokenizer.json
              resolution: 56
              max_length: 256
              rows: 2
              cache: \(dir.path)/cache
            optimizer:
              lr: 3.0e-3
            schedule:
              kind: constant
            steps: 6
            checkpoint:
              dir: \(dir.path)/ckpt
              every: 0
              keep: 5
            eval:
              every: 6
              batches: 2
            seed: 5
            threads: 2
            """, in: dir)
    }

    func testRegionPhaseTrainsTheVisionEncoderAndResumesBitIdentically() throws {
        let straightDir = E2E.scratch("regions-straight"), resumedDir = E2E.scratch("regions-resumed")
        var lines: [String] = []
        var options = E2E.quiet(RunOptions())
        options.log = { lines.append($0) }
        let runA = try TrainingRun(recipe: try recipe("a", straightDir), options: options)
        let start = runA.model.namedParameters().map { ($0.path, $0.parameter.value.scalars) }
        let a = try runA.run()
        XCTAssertEqual(a.steps, 6)
        XCTAssertLessThan(a.lastLoss!, a.firstLoss!)
        XCTAssertTrue(lines.contains { $0.hasPrefix("regions: held-out accuracy") && $0.contains("shape") }, "\(lines)")
        let metrics = try String(contentsOfFile: straightDir.appendingPathComponent("ckpt/metrics.jsonl").path, encoding: .utf8)
        XCTAssertEqual(metrics.split(separator: "\n").filter { $0.contains("\"regions/shape_accuracy") }.count, 6)
        XCTAssertEqual(metrics.split(separator: "\n").filter { $0.contains("eval_regions/shape_accuracy") }.count, 1)

        // Only the vision encoder moved; the heads are gone from the phase-end checkpoint.
        let finalA = straightDir.appendingPathComponent("ckpt/step-000006.h5").path
        let trained = try E2E.tensors(finalA, group: "model")
        for (path, values) in start {
            let moved = trained["model/" + path].map { $0 != values } ?? true
            XCTAssertEqual(moved, path.hasPrefix("vpm."), "\(path)")
        }
        let end = try HDF5File(readingAt: finalA)
        XCTAssertFalse(end.exists("objective/parameters"))
        end.close()

        let r = try recipe("b", resumedDir)
        XCTAssertTrue(try TrainingRun(recipe: r, options: E2E.quiet(RunOptions(stopAfter: 3))).run().interrupted)
        let mid = try HDF5File(readingAt: resumedDir.appendingPathComponent("ckpt/step-000003.h5").path)
        XCTAssertTrue(mid.exists("objective/regions.shape.weight"), "a mid-phase checkpoint holds the heads")
        XCTAssertTrue(mid.exists("optimizer/regions.shape.weight/m"), "… and their moments")
        mid.close()
        XCTAssertEqual(try TrainingRun(recipe: r, options: E2E.quiet(RunOptions(resume: "latest"))).run().steps, 3)
        let finalB = resumedDir.appendingPathComponent("ckpt/step-000006.h5").path
        try E2E.assertSameTrainState(finalA, finalB)
    }

    func testRegionPhaseThatTrainsMoreThanTheVisionEncoderIsRefused() throws {
        let dir = E2E.scratch("regions-refused")
        XCTAssertThrowsError(try recipe("c", dir, train: "[vpm, llm]")) { error in
            XCTAssertTrue("\(error)".contains("a regions phase trains the vision encoder only"), "\(error)")
        }
    }
}
