import Autograd
import Checkpointing
import Core
import Foundation
import Models
import NN
import Training
import XCTest

/// `memory.recompute: layers`: every vision and decoder layer runs again in
/// backward instead of keeping its activations; the gradients are the plain path's.
final class RecomputeTests: XCTestCase {
    func testRecomputedFunctionHasThePlainGradients() {
        var rng = RNG(seed: 4)
        let w = Tensor.uniform([6, 5], low: -1, high: 1, rng: &rng).requiringGrad()
        let x0 = Tensor.uniform([3, 5], low: -1, high: 1, rng: &rng)
        func body(_ x: Tensor) -> Tensor { (linear(x, w) * linear(x, w)).sum() }

        let plainX = x0.requiringGrad()
        body(plainX).backward()
        let (gx, gw) = (plainX.grad!.scalars, w.grad!.scalars)
        w.node!.zeroGrad()

        let recomputedX = x0.requiringGrad()
        let y = recomputed([recomputedX], parametersNeedGrad: true) { body($0[0]) }
        y.backward()
        XCTAssertEqual(recomputedX.grad!.scalars, gx)
        XCTAssertEqual(w.grad!.scalars, gw)
        XCTAssertNotEqual(gw.map(abs).max()!, 0)
    }

    /// Every gradient of a MiniCPM-V step, with and without recomputation
    /// (with LoRA adapters whose dropout draws masks: the second pass must draw the same).
    func gradients(recompute: Bool, lora: Bool) throws -> [String: [Float]] {
        let preset = try BenchmarkPreset.named("tiny", seqLen: 136)
        let model = MiniCPMV(config: preset.config, seed: 0)
        if lora {
            let masks = LoRADropout(seed: RNG(seed: 9))
            LoRA.attach(LoRAConfig(rank: 4, alpha: 8, dropout: 0.25, targets: Recipe.LoRASpec.allLinearTargets),
                        to: model, rng: RNG(seed: 1), dropout: masks)
            var rng = RNG(seed: 2)
            for (path, p) in model.namedParameters() where path.hasSuffix("lora_B.weight") {
                for i in 0..<p.value.count { p.value.pointer[i] = 0.1 * rng.normal() }
            }
            masks.begin(step: 3)
        }
        model.recomputeLayers = recompute
        var rng = RNG(seed: 1)
        let (lossSum, count) = try model.loss(preset.makeInput(rng: &rng))
        (lossSum * (1 / Float(count))).backward()
        var out: [String: [Float]] = [:]
        for (path, p) in model.namedParameters() { out[path] = p.grad?.scalars }
        return out
    }

    func testModelGradientsAreThePlainPathsBitForBit() throws {
        for lora in [false, true] {
            let plain = try gradients(recompute: false, lora: lora)
            let recomputed = try gradients(recompute: true, lora: lora)
            XCTAssertEqual(Set(plain.keys), Set(recomputed.keys))
            XCTAssertGreaterThan(plain.count, 50)
            for (path, g) in plain {
                XCTAssertEqual(g.map(\.bitPattern), recomputed[path]?.map(\.bitPattern), "\(path) (lora: \(lora))")
            }
        }
    }
}

/// Frozen weights in bfloat16: a model whose frozen weights are narrowed computes
/// what float32 computes with the rounded weights, saves and exports them as float32,
/// and trains (LoRA) with exact resume.
final class FrozenBF16Tests: XCTestCase {
    func testNarrowedModelComputesWithTheRoundedWeights() throws {
        let config = try MiniCPMVConfig.preset("micro", directory: E2E.root.appendingPathComponent("Recipes/models").path)
        let narrowed = MiniCPMV(config: config, seed: 3, bf16: { !Module.path($0, isUnder: "resampler") })
        let bf16 = narrowed.namedParameters().filter { $0.parameter.bf16 != nil }.map(\.path)
        XCTAssertTrue(bf16.contains("llm.model.embed_tokens.weight"))
        XCTAssertTrue(bf16.contains("llm.model.layers.1.mlp.down_proj.weight"))
        XCTAssertTrue(bf16.contains("vpm.encoder.layers.0.self_attn.q_proj.weight"))
        XCTAssertFalse(bf16.contains { $0.hasPrefix("resampler") || $0.hasSuffix("bias") || $0.contains("norm") })
        XCTAssertTrue(narrowed.namedParameters().filter { $0.parameter.bf16 != nil }.allSatisfy { !$0.parameter.isTrainable })

        // The same model in float32 with every narrowed weight rounded to bf16 by hand.
        let reference = MiniCPMV(config: config, seed: 3)
        for path in bf16 {
            let p = try XCTUnwrap(reference.parameter(at: path))
            p.assign(BF16Matrix(p.value).tensor())
        }
        XCTAssertEqual(ModelWeights.export(narrowed), ModelWeights.export(reference))     // floats of the bf16 storage
        let a = LoRATests.logits(narrowed), b = LoRATests.logits(reference)
        XCTAssertLessThan(LoRATests.maxRelativeDifference(a, b), 1e-5)

        // Made trainable again, a weight is float32 with the rounded values.
        let q = try XCTUnwrap(narrowed.parameter(at: "llm.model.layers.0.self_attn.q_proj.weight"))
        let rounded = q.floats
        q.isTrainable = true
        XCTAssertNil(q.bf16)
        XCTAssertEqual(q.value.scalars, rounded)
    }

    func testLoRARunOverABF16BaseResumesExactly() throws {
        let base = try LoRATests.base(E2E.scratch("bf16-base"))
        let lora = "  rank: 4\n  alpha: 8\n  dropout: 0.1\n  full: [resampler]\nmemory:\n  frozen: bf16\n  recompute: layers\n"
        let straightDir = E2E.scratch("bf16-straight"), resumedDir = E2E.scratch("bf16-resumed")
        let straight = try E2E.recipe(LoRATests.loraRecipe(name: "a", dir: straightDir, base: base, steps: 4, lora: lora),
                                      in: straightDir)
        // The base is narrowed as it is loaded, never held in float32.
        let (loaded, _) = try RunSetup.model(straight)
        XCTAssertNotNil(loaded.parameter(at: "llm.model.layers.0.self_attn.q_proj.weight")?.bf16)
        XCTAssertNil(loaded.parameter(at: "resampler.kv_proj.weight")?.bf16, "the resampler trains in full")
        let run = try TrainingRun(recipe: straight, options: E2E.quiet(RunOptions()))
        _ = try run.run()
        XCTAssertNotNil(run.model.parameter(at: "llm.model.layers.0.mlp.up_proj.weight")?.bf16)
        XCTAssertNil(run.model.parameter(at: "resampler.kv_proj.weight")?.bf16)
        let recipe = try E2E.recipe(LoRATests.loraRecipe(name: "b", dir: resumedDir, base: base, steps: 4, lora: lora),
                                    in: resumedDir)
        _ = try TrainingRun(recipe: recipe, options: E2E.quiet(RunOptions(stopAfter: 2))).run()
        _ = try TrainingRun(recipe: recipe, options: E2E.quiet(RunOptions(resume: "latest"))).run()
        try E2E.assertSameTrainState(straightDir.appendingPathComponent("ckpt/step-000004.h5").path,
                                     resumedDir.appendingPathComponent("ckpt/step-000004.h5").path)
    }
}

/// The run header plans the first phase's memory before training.
final class RunMemoryPlanTests: XCTestCase {
    func testHeaderPrintsThePlan() throws {
        let dir = E2E.scratch("memory-plan")
        let recipe = try E2E.recipe(E2E.captionRecipe(name: "plan", dir: dir, steps: 2), in: dir)
        var lines: [String] = []
        var options = E2E.quiet(RunOptions())
        options.log = { lines.append($0) }
        _ = try TrainingRun(recipe: recipe, options: options).run()
        let plan = try XCTUnwrap(lines.first { $0.hasPrefix("memory: estimated peak ") }, "\(lines)")
        let amount = plan.dropFirst("memory: estimated peak ".count).prefix { $0 != ":" }      // "35 MB"
        let parts = amount.split(separator: " ")
        XCTAssertEqual(parts.count, 2, plan)
        XCTAssertGreaterThan(Double(parts.first ?? "") ?? 0, 0, plan)
        XCTAssertTrue(["MB", "GB"].contains(String(parts.last ?? "")), plan)
        XCTAssertTrue(plan.contains("activations"), plan)
    }
}
