import XCTest
import Training

final class RecipeTests: XCTestCase {
    let base = """
    name: demo
    model: tiny
    train: [resampler]
    data:
      train: Data/captions.jsonl
      tokenizer: Data/tokenizer.json
      resolution: 224
    optimizer:
      lr: 1e-3
      betas: [0.9, 0.98]
    schedule:
      kind: wsd
      warmup: 5
    steps: 40
    """

    func testParsesDefaultsAndValues() throws {
        let r = try Recipe.parse(base, file: "demo.yaml")
        XCTAssertEqual(r.name, "demo")
        XCTAssertEqual(r.trainable, ["resampler"])
        XCTAssertEqual(r.phases.count, 1)
        XCTAssertEqual(r.phases[0].steps, 40)
        XCTAssertEqual(r.phases[0].data.resolution, 224)
        XCTAssertEqual(r.phases[0].data.format, "captions")
        XCTAssertEqual(r.optimizer.lr, 1e-3)
        XCTAssertEqual(r.optimizer.beta2, 0.98)
        XCTAssertEqual(r.checkpoint.dir, "Checkpoints/demo")
        XCTAssertEqual(r.initialization, .random)
    }

    func testUnknownKeyNamesLineAndSuggestion() {
        let text = base.replacingOccurrences(of: "  lr: 1e-3", with: "  lr: 1e-3\n  wieght_decay: 0.1")
        XCTAssertThrowsError(try Recipe.parse(text, file: "demo.yaml")) { e in
            let s = "\(e)"
            XCTAssertTrue(s.hasPrefix("demo.yaml:10:"), s)
            XCTAssertTrue(s.contains("optimizer.wieght_decay"), s)
            XCTAssertTrue(s.contains("weight_decay"), s)
        }
    }

    func testWrongTypeNamesKeyAndLine() {
        let text = base.replacingOccurrences(of: "steps: 40", with: "steps: forty")
        XCTAssertThrowsError(try Recipe.parse(text, file: "r.yaml")) { e in
            XCTAssertTrue("\(e)".contains("r.yaml:14"), "\(e)")
            XCTAssertTrue("\(e)".contains("`steps` must be an integer"), "\(e)")
        }
    }

    func testMissingRequiredKey() {
        let text = base.replacingOccurrences(of: "  tokenizer: Data/tokenizer.json\n", with: "")
        XCTAssertThrowsError(try Recipe.parse(text, file: "r.yaml")) { e in
            XCTAssertTrue("\(e)".contains("`data.tokenizer` is required"), "\(e)")
        }
    }

    func testOverrides() throws {
        let r = try Recipe.parse(base, file: "r.yaml", overrides: ["optimizer.lr=3e-4", "steps=7", "checkpoint.every=2"])
        XCTAssertEqual(r.optimizer.lr, 3e-4)
        XCTAssertEqual(r.phases[0].steps, 7)
        XCTAssertEqual(r.checkpoint.every, 2)
        XCTAssertThrowsError(try Recipe.parse(base, file: "r.yaml", overrides: ["optimizer.lrr=1"]))
        XCTAssertThrowsError(try Recipe.parse(base, file: "r.yaml", overrides: ["steps"]))
    }

    func testPhasesInheritAndOverride() throws {
        let text = base + """

        phases:
          - name: part1
            steps: 10
          - name: part2
            data:
              format: conversations
              train: Data/sft2.json
              tokenizer: Data/tokenizer.json
        """
        let r = try Recipe.parse(text, file: "r.yaml")
        XCTAssertEqual(r.phases.map(\.name), ["part1", "part2"])
        XCTAssertEqual(r.phases.map(\.steps), [10, 40])
        XCTAssertEqual(r.phases[1].data.format, "conversations")
        XCTAssertEqual(r.phases[0].data.train, ["Data/captions.jsonl"])
        XCTAssertEqual(r.totalSteps, 50)
    }

    func testInvalidYAMLReportsLine() {
        XCTAssertThrowsError(try Recipe.parse("name: a\nmodel: [tiny\n", file: "bad.yaml")) { e in
            XCTAssertTrue("\(e)".hasPrefix("bad.yaml"), "\(e)")
            XCTAssertTrue("\(e)".contains("invalid YAML"), "\(e)")
        }
    }

    func testMissingFile() {
        XCTAssertThrowsError(try Recipe.load("/nonexistent/recipe.yaml")) { e in
            XCTAssertTrue("\(e)".contains("/nonexistent/recipe.yaml"), "\(e)")
            XCTAssertTrue("\(e)".contains("not found"), "\(e)")
        }
    }
}

/// Every shipped recipe parses (the data need not exist yet: the chain's world is generated).
final class ShippedRecipeTests: XCTestCase {
    func testEveryShippedRecipeLoads() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Recipes")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }
        XCTAssertTrue(names.contains("foundation.yaml") && names.contains("quickstart.yaml"), "\(names)")
        for name in names {
            XCTAssertNoThrow(try Recipe.load(dir.appendingPathComponent(name).path), name)
        }
    }
}
