import Foundation
import Datasets
import Training
import XCTest

/// `trainer eval` on a briefly trained micro model: both losses, the seeing
/// figures and one `--answers` line per question.
final class EvaluationTests: XCTestCase {
    func testEvaluationMeasuresSeeingAndWritesEveryAnswer() throws {
        let dir = E2E.scratch("evaluation")
        defer { try? FileManager.default.removeItem(at: dir) }
        let recipe = try E2E.recipe(E2E.captionRecipe(name: "eval", dir: dir, steps: 4), in: dir)
        _ = try TrainingRun(recipe: recipe, options: E2E.quiet(RunOptions())).run()

        var o = EvaluationOptions()
        o.limit = 3
        o.maxTokens = 12
        o.prompt = "Describe this image in detail."
        o.answers = dir.appendingPathComponent("answers.jsonl").path
        let data = E2E.root.appendingPathComponent("Data/synth/captions-heldout.jsonl").path
        let r = try Evaluation.run(checkpoint: dir.appendingPathComponent("ckpt/latest.h5").path, data: data, options: o)

        let right = try XCTUnwrap(r.heldOutLoss), swapped = try XCTUnwrap(r.swappedLoss)
        XCTAssertEqual(try XCTUnwrap(r.swapRatio), swapped / right, accuracy: 1e-12)
        XCTAssertNotEqual(swapped, right)          // other images, other loss
        XCTAssertEqual(r.generated, 3)
        XCTAssertNotNil(r.recall)                  // the world's ground truth was found and read
        XCTAssertNotNil(r.responseHallucinationRate)

        let lines = try String(contentsOfFile: o.answers!, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        for line in lines {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            XCTAssertEqual(object["question"] as? String, "Describe this image in detail.")
            XCTAssertNotNil(object["answer"] as? String)
            XCTAssertTrue((object["image"] as? String)?.hasSuffix(".png") == true)
            XCTAssertNotNil(object["claims"] as? [[String: Any]])
        }
    }

    func testUnreadableImagesAreSkippedAndAnEmptyFileIsAnError() throws {
        let dir = E2E.scratch("evaluation-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let recipe = try E2E.recipe(E2E.captionRecipe(name: "eval", dir: dir, steps: 4), in: dir)
        _ = try TrainingRun(recipe: recipe, options: E2E.quiet(RunOptions())).run()
        let checkpoint = dir.appendingPathComponent("ckpt/latest.h5").path

        try Data("not a picture".utf8).write(to: dir.appendingPathComponent("bad.png"))
        let good = E2E.root.appendingPathComponent("Data/synth/images/shapes-0010.png").path
        let data = dir.appendingPathComponent("mixed.jsonl")
        try ("{\"image\": \"bad.png\", \"caption\": \"A red circle.\"}\n"
             + "{\"image\": \"\(good)\", \"caption\": \"A blue square.\"}\n").write(to: data, atomically: true, encoding: .utf8)
        var o = EvaluationOptions()
        o.maxTokens = 4
        let r = try Evaluation.run(checkpoint: checkpoint, data: data.path, options: o)
        XCTAssertEqual(r.generated, 1)
        XCTAssertEqual(r.skippedImages, 2)          // once for the loss, once for the answer
        XCTAssertNotNil(r.heldOutLoss)

        let empty = dir.appendingPathComponent("empty.jsonl")
        try Data().write(to: empty)
        XCTAssertThrowsError(try Evaluation.run(checkpoint: checkpoint, data: empty.path, options: o)) { e in
            XCTAssertTrue("\(e)".contains("empty.jsonl"), "\(e)")
        }
    }

    func testSwappedImagesComeFromOtherRecords() throws {
        let data = E2E.root.appendingPathComponent("Data/synth/sft-part1-heldout.json")
        let records = try readRecords(data)
        let swapped = Evaluation.swappedImages(records)
        XCTAssertEqual(swapped.count, records.count)
        for (a, b) in zip(records, swapped) {
            guard case .conversation(let x) = a, case .conversation(let y) = b else { continue }
            if x.images.count == 1 { XCTAssertNotEqual(x.images[0].path, y.images[0].path, x.id) }
            else { XCTAssertEqual(x.images, y.images) }
        }
    }
}

/// Input that used to trap ends in an error naming the problem.
final class RunInputTests: XCTestCase {
    func testMaxLengthBeyondThePositionsIsAnError() throws {
        let dir = E2E.scratch("max-length")
        defer { try? FileManager.default.removeItem(at: dir) }
        let recipe = try E2E.recipe(E2E.captionRecipe(name: "long", dir: dir, steps: 4), in: dir,
                                    overrides: ["data.max_length=1000000"])
        XCTAssertThrowsError(try TrainingRun(recipe: recipe, options: E2E.quiet(RunOptions())).run()) { e in
            XCTAssertTrue("\(e)".contains("`data.max_length` 1000000 is longer than the model's 2048 positions"), "\(e)")
        }
    }
}

final class TrainedParametersTests: XCTestCase {
    func testWholeModulesAdaptersAndFullPaths() {
        let paths = ["vpm.a", "resampler.b", "llm.c", "llmx.e", "llm.model.layers.0.self_attn.q_proj.lora_A.weight",
                     "llm.model.embed_tokens.weight", "llm.model.layers.0.self_attn.q_proj.weight"]
        XCTAssertEqual(paths.filter { LoRARun.trains($0, modules: ["resampler", "llm"], lora: nil) },
                       ["resampler.b", "llm.c", "llm.model.layers.0.self_attn.q_proj.lora_A.weight",
                        "llm.model.embed_tokens.weight", "llm.model.layers.0.self_attn.q_proj.weight"])
        let lora = Recipe.LoRASpec(rank: 4, alpha: 8, dropout: 0, targets: Recipe.LoRASpec.attentionTargets,
                                   full: ["resampler", "llm.model.embed_tokens"])
        XCTAssertEqual(paths.filter { LoRARun.trains($0, modules: [], lora: lora) },
                       ["resampler.b", "llm.model.layers.0.self_attn.q_proj.lora_A.weight", "llm.model.embed_tokens.weight"])
    }
}
