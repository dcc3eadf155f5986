import Autograd
import Checkpointing
import Core
import Foundation
import Models
import NN
import TestSupport
import Training
import XCTest

/// LoRA: adapters start at the base model, merge exactly, train alone beside the
/// modules named in `lora.full`, resume bit-identically from small checkpoints,
/// and travel in PEFT's folder layout.
final class LoRATests: XCTestCase {
    static func microModel(seed: UInt64 = 3) throws -> MiniCPMV {
        MiniCPMV(config: try MiniCPMVConfig.preset("micro", directory: E2E.root.appendingPathComponent("Recipes/models").path),
                 seed: seed)
    }

    static func logits(_ model: MiniCPMV) -> [Float] {
        let ids: [Int32] = [5, 17, 300, 42, 9, 1000, 77, 3]
        return model.llm(ids: ids, batch: 1, positions: (0..<Int32(ids.count)).map { $0 }).scalars
    }

    static func maxRelativeDifference(_ a: [Float], _ b: [Float]) -> Float {
        let scale = max(a.map(abs).max() ?? 1, 1e-6)
        return zip(a, b).map { abs($0 - $1) }.max()! / scale
    }

    func testAdaptersStartAtTheBaseAndMergeIntoTheSameModel() throws {
        let model = try Self.microModel()
        let base = Self.logits(model)
        let config = LoRAConfig(rank: 4, alpha: 8, dropout: 0, targets: Recipe.LoRASpec.attentionTargets)
        let layers = LoRA.attach(config, to: model, rng: RNG(seed: 11))
        XCTAssertEqual(layers.count, 8)                              // 2 layers × q, k, v, o
        XCTAssertTrue(layers.contains("llm.model.layers.1.self_attn.o_proj"))
        // Step 0 is the base model, exactly: B starts at zero.
        XCTAssertEqual(Self.logits(model).map(\.bitPattern), base.map(\.bitPattern))
        let q = try XCTUnwrap(model.llm.model.layers[0].attention.qProj.loraA)
        let bound = 1 / Float(q.inFeatures).squareRoot()
        XCTAssertTrue(q.weight.value.scalars.allSatisfy { abs($0) <= bound })
        XCTAssertGreaterThan(q.weight.value.scalars.map(abs).max()!, bound / 2)   // Kaiming-uniform, not zero

        // With trained-looking B, the merged model computes what the adapted one does.
        var rng = RNG(seed: 5)
        for (path, p) in model.namedParameters() where path.hasSuffix("lora_B.weight") {
            for i in 0..<p.value.count { p.value.pointer[i] = 0.05 * rng.normal() }
        }
        let adapted = Self.logits(model)
        XCTAssertGreaterThan(Self.maxRelativeDifference(adapted, base), 1e-3)
        XCTAssertEqual(LoRA.merge(model), 8)
        XCTAssertFalse(model.namedParameters().contains { LoRA.isAdapter($0.path) })
        XCTAssertLessThan(Self.maxRelativeDifference(Self.logits(model), adapted), 1e-5)
    }

    /// An adapter made by PEFT itself (`scripts/peft-lora-fixture.py`: random A and B on
    /// the attention projections of a micro-shaped Qwen2 under MiniCPM-V's paths) gives,
    /// folded into the same base, the logits PEFT computed.
    func testAdapterMadeByPEFTGivesPEFTsLogits() throws {
        let fixture = E2E.root.appendingPathComponent("Tests/EndToEndTests/Fixtures/peft-lora")
        let model = try Self.microModel()
        let llm = try Safetensors.read(fixture.appendingPathComponent("base.safetensors").path)
        try ModelWeights.load(llm, into: model, allowMissing: ["vpm", "resampler"], source: "base.safetensors")
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(
            with: Data(contentsOf: fixture.appendingPathComponent("logits.json"))) as? [String: Any])
        let ids = try XCTUnwrap(json["ids"] as? [Int]).map(Int32.init)
        let slice = try XCTUnwrap(json["vocab_slice"] as? Int)
        func logits() -> [Float] {
            let all = model.llm(ids: ids, batch: 1, positions: (0..<Int32(ids.count)).map { $0 })
            let vocab = all.shape.last!
            return ids.indices.flatMap { t in (0..<slice).map { all.scalars[t * vocab + $0] } }
        }
        let expectedBase = try XCTUnwrap(json["base"] as? [Double]).map(Float.init)
        let expectedAdapted = try XCTUnwrap(json["adapted"] as? [Double]).map(Float.init)
        XCTAssertLessThan(Self.maxRelativeDifference(logits(), expectedBase), 1e-5)
        try PEFTAdapter.fold(fixture.appendingPathComponent("adapter").path, into: model)
        let adapted = logits()
        XCTAssertGreaterThan(Self.maxRelativeDifference(adapted, expectedBase), 1e-2)
        let error = Self.maxRelativeDifference(adapted, expectedAdapted)
        print("PEFT-made adapter: logits relative error \(error)")
        XCTAssertLessThan(error, 1e-5)
    }

    /// A micro caption recipe with adapters over `base`.
    static func loraRecipe(name: String, dir: URL, base: String, steps: Int, lora: String) -> String {
        E2E.captionRecipe(name: name, dir: dir, steps: steps)
            .replacingOccurrences(of: "train: [vpm, resampler, llm]\n",
                                  with: "init:\n  checkpoint: \(base)\nlora:\n" + lora)
    }

    static let lora = "  rank: 4\n  alpha: 8\n  dropout: 0.1\n  full: [resampler]\n"

    /// A base checkpoint: two steps of the full micro recipe.
    static func base(_ dir: URL) throws -> String {
        let recipe = try E2E.recipe(E2E.captionRecipe(name: "base", dir: dir, steps: 2), in: dir)
        return try XCTUnwrap(try TrainingRun(recipe: recipe, options: E2E.quiet(RunOptions())).run().checkpoint)
    }

    func testLoRARunTrainsAdaptersAndFullModulesAndResumesExactly() throws {
        let baseDir = E2E.scratch("lora-base")
        let base = try Self.base(baseDir)
        let steps = 6
        let straightDir = E2E.scratch("lora-straight"), resumedDir = E2E.scratch("lora-resumed")
        let straight = try E2E.recipe(Self.loraRecipe(name: "a", dir: straightDir, base: base, steps: steps, lora: Self.lora),
                                      in: straightDir)
        _ = try TrainingRun(recipe: straight, options: E2E.quiet(RunOptions())).run()
        let recipe = try E2E.recipe(Self.loraRecipe(name: "b", dir: resumedDir, base: base, steps: steps, lora: Self.lora),
                                    in: resumedDir)
        let first = try TrainingRun(recipe: recipe, options: E2E.quiet(RunOptions(stopAfter: 3))).run()
        XCTAssertTrue(first.interrupted)
        _ = try TrainingRun(recipe: recipe, options: E2E.quiet(RunOptions(resume: "latest"))).run()
        let finalA = straightDir.appendingPathComponent("ckpt/step-000006.h5").path
        try E2E.assertSameTrainState(finalA, resumedDir.appendingPathComponent("ckpt/step-000006.h5").path)

        // The checkpoint holds what trains: 8 adapters and the compression layer.
        let stored = try E2E.tensors(finalA, group: "model").keys.map { String($0.dropFirst("model/".count)) }
        XCTAssertEqual(stored.filter { LoRA.isAdapter($0) }.count, 16)
        XCTAssertTrue(stored.allSatisfy { LoRA.isAdapter($0) || $0.hasPrefix("resampler.") }, "\(stored)")
        XCTAssertTrue(stored.contains("resampler.query"))

        // Loaded, it is the base with the adapters folded in: frozen weights untouched,
        // adapted projections moved, the compression layer trained.
        let baseModel = try ModelStore.model(checkpoint: base), tuned = try ModelStore.model(checkpoint: finalA)
        func weight(_ m: MiniCPMV, _ path: String) throws -> [Float] { try XCTUnwrap(m.parameter(at: path)).value.scalars }
        for path in ["llm.model.layers.0.mlp.up_proj.weight", "vpm.embeddings.patch_embedding.weight", "llm.lm_head.weight"] {
            XCTAssertEqual(try weight(tuned, path), try weight(baseModel, path), path)
        }
        XCTAssertNotEqual(try weight(tuned, "llm.model.layers.0.self_attn.q_proj.weight"),
                          try weight(baseModel, "llm.model.layers.0.self_attn.q_proj.weight"))
        XCTAssertNotEqual(try weight(tuned, "resampler.query"), try weight(baseModel, "resampler.query"))

        // A resume over another base is refused, naming both.
        let moved = try E2E.recipe(Self.loraRecipe(name: "b", dir: resumedDir, base: finalA, steps: steps, lora: Self.lora),
                                   in: resumedDir)
        XCTAssertThrowsError(try TrainingRun(recipe: moved, options: E2E.quiet(RunOptions(resume: "latest")))) { e in
            XCTAssertTrue("\(e)".contains("its adapters were trained on"), "\(e)")
        }
    }

    func testAdaptersExportAsPEFTAndFoldBackIntoTheBase() throws {
        let dir = E2E.scratch("lora-export")
        let base = try Self.base(E2E.scratch(dir.lastPathComponent + "-base"))
        let recipe = try E2E.recipe(Self.loraRecipe(name: "e", dir: dir, base: base, steps: 3, lora: Self.lora), in: dir)
        let tuned = try XCTUnwrap(try TrainingRun(recipe: recipe, options: E2E.quiet(RunOptions())).run().checkpoint)

        let adapterDir = dir.appendingPathComponent("adapter").path
        _ = try PEFTAdapter.export(checkpoint: tuned, to: adapterDir)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: adapterDir + "/adapter_config.json"))) as? [String: Any])
        XCTAssertEqual(json["peft_type"] as? String, "LORA")
        XCTAssertEqual(json["r"] as? Int, 4)
        XCTAssertEqual(json["lora_alpha"] as? Double, 8)
        XCTAssertEqual(json["modules_to_save"] as? [String], ["resampler"])
        let names = try Safetensors.read(adapterDir + "/adapter_model.safetensors")
        XCTAssertEqual(names["base_model.model.llm.model.layers.0.self_attn.q_proj.lora_A.weight"]?.shape, [4, 64])
        XCTAssertEqual(names["base_model.model.llm.model.layers.1.self_attn.o_proj.lora_B.weight"]?.shape, [64, 4])
        XCTAssertNotNil(names["base_model.model.resampler.query"])

        // The base with the PEFT folder folded in is the LoRA checkpoint's model.
        let folded = try ModelStore.model(checkpoint: base)
        try PEFTAdapter.fold(adapterDir, into: folded)
        let merged = try ModelStore.model(checkpoint: tuned)
        XCTAssertLessThan(Self.maxRelativeDifference(Self.logits(folded), Self.logits(merged)), 1e-6)
        XCTAssertGreaterThan(Self.maxRelativeDifference(Self.logits(merged), Self.logits(try ModelStore.model(checkpoint: base))), 1e-4)

        // `init.adapter` does the same from a recipe.
        let fromAdapter = try E2E.recipe(E2E.captionRecipe(name: "f", dir: dir, steps: 2)
            .replacingOccurrences(of: "train: [vpm, resampler, llm]\n",
                                  with: "init:\n  checkpoint: \(base)\n  adapter: \(adapterDir)\ntrain: [llm]\n"), in: dir)
        let (model, description) = try RunSetup.model(fromAdapter)
        XCTAssertTrue(description.contains("folded in"), description)
        XCTAssertLessThan(Self.maxRelativeDifference(Self.logits(model), Self.logits(merged)), 1e-6)

        // The merged export is a plain model folder: no adapter tensors, the merged weights.
        let mergedDir = dir.appendingPathComponent("merged").path
        _ = try ModelStore.exportCheckpoint(tuned, to: mergedDir)
        let full = try Safetensors.read(mergedDir)
        XCTAssertFalse(full.keys.contains { $0.contains("lora_") })
        XCTAssertEqual(full["llm.model.layers.0.self_attn.q_proj.weight"]?.values,
                       merged.parameter(at: "llm.model.layers.0.self_attn.q_proj.weight")?.value.scalars)
    }

    func testBadLoRASettingsAreNamed() throws {
        let dir = E2E.scratch("lora-errors")
        let base = try Self.base(E2E.scratch(dir.lastPathComponent + "-base"))
        func error(_ lora: String) -> String {
            do {
                let r = try E2E.recipe(Self.loraRecipe(name: "x", dir: dir, base: base, steps: 2, lora: lora), in: dir)
                _ = try TrainingRun(recipe: r, options: E2E.quiet(RunOptions()))
                return "no error"
            } catch { return "\(error)" }
        }
        XCTAssertTrue(error("  targets: \"llm(\"\n").contains("`lora.targets` is not a regular expression"))
        XCTAssertTrue(error("  targets: vpm\\.nothing\n").contains("matches no linear layer"))
        XCTAssertTrue(error("  full: [decoder]\n").contains("`lora.full` names `decoder`"))
        XCTAssertTrue(error("  full: [llm.model.nothing]\n").contains("holds no parameter"))
        XCTAssertTrue(error("  dropout: 1\n").contains("must lie in [0, 1)"))
        XCTAssertTrue(error("  rnak: 4\n").contains("unknown key"))
        XCTAssertEqual(error("  targets: all-linear\n  full: []\n"), "no error")
        // Adapters need a base to adapt.
        let noBase = E2E.captionRecipe(name: "y", dir: dir, steps: 2)
            .replacingOccurrences(of: "train: [vpm, resampler, llm]\n", with: "lora:\n  rank: 4\n")
        XCTAssertThrowsError(try E2E.recipe(noBase, in: dir)) { e in
            XCTAssertTrue("\(e)".contains("adapts a base model"), "\(e)")
        }
    }
}
