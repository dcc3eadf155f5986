import Autograd
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
