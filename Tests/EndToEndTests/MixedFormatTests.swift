import Foundation
import Training
import XCTest

/// `format: auto` lets one phase train on captions and conversations files together.
final class MixedFormatTests: XCTestCase {
    private func recipe(_ files: [String], dir: URL) throws -> Recipe {
        let data = E2E.root.appendingPathComponent("Data/synth").path
        var text = E2E.captionRecipe(name: "mixed", dir: dir, steps: 2)
        text = text.replacingOccurrences(of: "format: captions", with: "format: auto")
        text = text.replacingOccurrences(of: "train: \(data)/captions-heldout.jsonl",
                                         with: "train: [\(files.map { "\(data)/\($0)" }.joined(separator: ", "))]")
        return try E2E.recipe(text, in: dir, overrides: ["optimizer.accumulation=1"])
    }

    func testCaptionsAndConversationsTrainTogether() throws {
        let dir = E2E.scratch("mixed")
        var lines: [String] = []
        var options = E2E.quiet(RunOptions())
        options.log = { lines.append($0) }
        let s = try TrainingRun(recipe: recipe(["captions-heldout.jsonl", "sft-part1-heldout.json"], dir: dir),
                                options: options).run()
        XCTAssertEqual(s.steps, 2)
        let captions = try String(contentsOfFile: E2E.root.appendingPathComponent("Data/synth/captions-heldout.jsonl").path,
                                  encoding: .utf8).split(separator: "\n").count
        let conversations = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: E2E.root.appendingPathComponent("Data/synth/sft-part1-heldout.json"))) as? [Any]).count
        let phase = try XCTUnwrap(lines.first { $0.hasPrefix("phase 1/1") })
        XCTAssertTrue(phase.contains("; \(captions + conversations) training samples"), phase)
    }

    func testPreferenceFileIsRefusedByName() throws {
        let dir = E2E.scratch("mixed-pref")
        let r = try recipe(["captions-heldout.jsonl", "preference-heldout.jsonl"], dir: dir)
        XCTAssertThrowsError(try TrainingRun(recipe: r, options: E2E.quiet(RunOptions())).run()) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains("preference-heldout.jsonl") && s.contains("preference records"), s)
        }
    }
}
