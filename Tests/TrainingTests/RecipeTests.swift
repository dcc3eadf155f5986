import XCTest
import TestSupport
import Training

let demoRecipe = """
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

final class RecipeTests: XCTestCase {
    let base = demoRecipe

    func testParsesDefaultsAndValues() throws {
        let r = try Recipe.parse(base, file: "demo.yaml")
        XCTAssertEqual(r.name, "demo")
        XCTAssertEqual(r.trainable, ["resampler"])
        XCTAssertEqual(r.phases.count, 1)
        XCTAssertEqual(r.phases[0].steps, 40)
        XCTAssertEqual(r.phases[0].data.resolution, 224)
        XCTAssertEqual(r.phases[0].data.format, .captions)
        XCTAssertEqual(r.optimizer.lr, 1e-3)
        XCTAssertEqual(r.optimizer.beta2, 0.98)
        XCTAssertEqual(r.checkpoint.dir, "Checkpoints/demo")
        XCTAssertEqual(r.initialization, .random)
    }

    func testChoicesAreTypedAndMisspeltOnesRefused() throws {
        let r = try Recipe.parse(base + "\ndpo:\n  loss: ipo\n", file: "demo.yaml")
        XCTAssertEqual(r.phases[0].schedule.kind, .wsd)
        XCTAssertEqual(r.phases[0].data.template, .chatml)
        XCTAssertEqual(r.dpo.kind, .ipo)
        XCTAssertEqual(r.dpo.beta, 0.1)
        for (from, to, key) in [("kind: wsd", "kind: wds", "`schedule.kind` must be wsd, cosine or constant, got `wds`"),
                                ("resolution: 224", "resolution: 224\n  template: chatm", "`data.template`"),
                                ("warmup: 5", "warmup: 5\n  decay: exp", "`schedule.decay`")] {
            XCTAssertThrowsError(try Recipe.parse(base.replacingOccurrences(of: from, with: to), file: "r.yaml")) { e in
                XCTAssertTrue("\(e)".contains(key), "\(e)")
            }
        }
        XCTAssertThrowsError(try Recipe.parse(base + "\ndpo:\n  reference: model\n", file: "r.yaml")) { e in
            XCTAssertTrue("\(e)".contains("`dpo.reference` is no longer a setting"), "\(e)")
        }
        // A recipe stored by an older checkpoint still reads.
        XCTAssertEqual(try Recipe.parse(base + "\ndpo:\n  reference: precomputed\n", file: "c.h5", stored: true).dpo, DPOConfig())
    }

    /// A resume compares what shapes training, read from the encoded recipe.
    func testTrajectoryDifferencesNameTheSettingsThatShapeTraining() throws {
        let old = try Recipe.parse(base, file: "demo.yaml")
        let moved = try Recipe.parse(base + "\ncheckpoint:\n  dir: /tmp/elsewhere\neval:\n  every: 5\nthreads: 1\nlog_every: 3\n",
                                     file: "demo.yaml")
        XCTAssertEqual(moved.trajectoryDifferences(from: old), [])
        let changed = try Recipe.parse(base.replacingOccurrences(of: "lr: 1e-3", with: "lr: 2e-3")
                                        .replacingOccurrences(of: "resolution: 224", with: "resolution: 448"), file: "demo.yaml")
        XCTAssertEqual(changed.trajectoryDifferences(from: old), ["data.resolution: 224 → 448", "optimizer.lr: 0.001 → 0.002"])
        let longer = try Recipe.parse(base.replacingOccurrences(of: "steps: 40", with: "steps: 60"), file: "demo.yaml")
        XCTAssertEqual(longer.trajectoryDifferences(from: old), ["steps: 40 → 60"])
        XCTAssertEqual(longer.trajectoryDifferences(from: old, ignoring: ["steps", "schedule"]), [])
        let dpo = try Recipe.parse(base + "\ndpo:\n  beta: 0.2\n", file: "demo.yaml")
        XCTAssertEqual(dpo.trajectoryDifferences(from: old), ["dpo.beta: 0.1 → 0.2"])
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
        XCTAssertEqual(r.phases[1].data.format, .conversations)
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
        let dir = Fixtures.packageRoot.appendingPathComponent("Recipes")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }
        XCTAssertTrue(names.contains("foundation.yaml") && names.contains("quickstart.yaml"), "\(names)")
        for name in names {
            XCTAssertNoThrow(try Recipe.load(dir.appendingPathComponent(name).path), name)
        }
    }
}

/// Values that parse but cannot train are refused, naming the key.
final class RecipeValueTests: XCTestCase {
    let base = demoRecipe

    func assertRefused(_ from: String, _ to: String, naming key: String, file: StaticString = #filePath, line: UInt = #line) {
        let text = base.replacingOccurrences(of: from, with: to)
        XCTAssertNotEqual(text, base, "the edit did not apply", file: file, line: line)
        XCTAssertThrowsError(try Recipe.parse(text, file: "r.yaml"), file: file, line: line) { e in
            XCTAssertTrue("\(e)".contains(key), "\(e)", file: file, line: line)
        }
    }

    func testRefusesValuesThatCannotTrain() {
        assertRefused("steps: 40", "steps: 40\nseed: -1", naming: "`seed` must be a non-negative integer")
        assertRefused("lr: 1e-3", "lr: -1e-3", naming: "`optimizer.lr`")
        assertRefused("lr: 1e-3", "lr: .nan", naming: "`optimizer.lr`")
        assertRefused("lr: 1e-3", "lr: .inf", naming: "`optimizer.lr`")
        assertRefused("betas: [0.9, 0.98]", "betas: [0.9, 1.0]", naming: "`optimizer.betas`")
        assertRefused("betas: [0.9, 0.98]", "betas: [-0.1, 0.98]", naming: "`optimizer.betas`")
        assertRefused("lr: 1e-3", "lr: 1e-3\n  eps: 0", naming: "`optimizer.eps`")
        assertRefused("lr: 1e-3", "lr: 1e-3\n  weight_decay: -0.1", naming: "`optimizer.weight_decay`")
        assertRefused("lr: 1e-3", "lr: 1e-3\n  clip: 0", naming: "`optimizer.clip`")
        assertRefused("warmup: 5", "warmup: 41", naming: "`schedule.warmup`")
        assertRefused("warmup: 5", "warmup: 5\n  decay_fraction: 0.01", naming: "rounds to no decay step")
        assertRefused("steps: 40", "steps: 40\ncheckpoint:\n  keep: 0", naming: "`checkpoint.keep`")
        assertRefused("steps: 40", "steps: 40\ncheckpoint:\n  every: -5", naming: "`checkpoint.every`")
        assertRefused("steps: 40", "steps: 40\neval:\n  batches: 0", naming: "`eval.batches`")
    }

    func testAcceptsTheBoundaries() throws {
        let text = base.replacingOccurrences(of: "lr: 1e-3", with: "lr: 0\n  weight_decay: 0\n  clip: 0.5")
            .replacingOccurrences(of: "warmup: 5", with: "warmup: 40\n  decay_fraction: 0")
        let r = try Recipe.parse(text, file: "r.yaml")
        XCTAssertEqual(r.optimizer.clip, 0.5)
    }
}

final class RecipeCommandTests: XCTestCase {
    func testCommandRepeatsEveryOverride() throws {
        let r = try Recipe.parse(demoRecipe, file: "Recipes/my run.yaml",
                                 overrides: ["optimizer.lr=3e-4", "data.prompt=What is it?"])
        XCTAssertEqual(r.command("--resume latest"),
                       "trainer run 'Recipes/my run.yaml' --set optimizer.lr=3e-4 --set 'data.prompt=What is it?' --resume latest")
    }
}

final class RecipeOverrideErrorTests: XCTestCase {
    func testABadOverrideIsNamedAsTheOverride() {
        XCTAssertThrowsError(try Recipe.parse(demoRecipe, file: "r.yaml", overrides: ["optimizer.lr=-1"])) { e in
            XCTAssertTrue("\(e)".hasPrefix("r.yaml: --set optimizer.lr=-1: `optimizer.lr`"), "\(e)")
        }
        XCTAssertThrowsError(try Recipe.parse(demoRecipe.replacingOccurrences(of: "lr: 1e-3", with: "lr: -1"),
                                              file: "r.yaml", overrides: ["seed=3"])) { e in
            XCTAssertTrue("\(e)".hasPrefix("r.yaml:9: `optimizer.lr`"), "\(e)")
        }
    }
}
