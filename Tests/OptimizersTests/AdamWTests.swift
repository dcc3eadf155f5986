import XCTest
import Autograd
import Core
import Optimizers

final class AdamWTests: XCTestCase {
    /// Two steps against the update rule written out in Double.
    func testMatchesReferenceUpdate() {
        let w0: [Float] = [0.5, -1.0, 2.0], g1: [Float] = [0.1, -0.2, 0.3], g2: [Float] = [-0.05, 0.4, 0.0]
        let w = Tensor(w0, shape: [3])
        let opt = AdamW(beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1)
        for g in [g1, g2] {
            opt.update([OptimizerTensor(path: "w", value: w, grad: Tensor(g, shape: [3]), decays: true)], lr: 0.01)
        }
        var ref = w0.map(Double.init), m = [Double](repeating: 0, count: 3), v = m
        for (t, g) in [g1, g2].enumerated() {
            for i in 0..<3 {
                let gi = Double(g[i])
                m[i] = 0.9 * m[i] + 0.1 * gi
                v[i] = 0.95 * v[i] + 0.05 * gi * gi
                let mh = m[i] / (1 - pow(0.9, Double(t + 1))), vh = v[i] / (1 - pow(0.95, Double(t + 1)))
                ref[i] = ref[i] * (1 - 0.01 * 0.1) - 0.01 * mh / (vh.squareRoot() + 1e-8)
            }
        }
        for i in 0..<3 { XCTAssertEqual(Double(w.scalars[i]), ref[i], accuracy: 1e-6) }
    }

    /// Many values over a wide range of gradient magnitudes (and exact zeros),
    /// in several tensors with different settings, against the rule in Double.
    func testVectorisedUpdateOverManyValues() {
        var rng = RNG(seed: 11)
        let sizes = [1, 7, 8, 9, 1000, 4099]
        let values = sizes.map { Tensor.uniform([$0], low: -1, high: 1, rng: &rng) }
        let start = values.map(\.scalars)
        let grads: [Tensor] = sizes.enumerated().map { i, n in
            let g = Tensor.uniform([n], low: -1, high: 1, rng: &rng).scalars.enumerated().map { j, x in
                j % 13 == 0 ? 0 : x * Float(pow(10.0, Double(j % 11) - 8))
            }
            return Tensor(g, shape: [n])
        }
        let opt = AdamW(beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1)
        let lr: Float = 0.01, scale: Float = 0.5
        opt.update(values.indices.map {
            OptimizerTensor(path: "t\($0)", value: values[$0], grad: grads[$0], decays: $0 % 2 == 0, lrScale: $0 == 3 ? 0.5 : 1)
        }, lr: lr, gradScale: scale)
        for (i, t) in values.enumerated() {
            let a = Double(lr) * (i == 3 ? 0.5 : 1), decay = i % 2 == 0 ? 1 - a * 0.1 : 1
            let got = t.scalars, g = grads[i].scalars
            for j in got.indices {
                let gj = Double(g[j]) * Double(scale)
                let m = 0.1 * gj / (1 - 0.9), v = 0.05 * gj * gj / (1 - 0.95)
                let ref = Double(start[i][j]) * decay - a * m / (v.squareRoot() + 1e-8)
                XCTAssertEqual(Double(got[j]), ref, accuracy: 1e-6 * max(1, abs(ref)), "tensor \(i) value \(j)")
            }
        }
    }

    func testNoDecayAndMissingGradient() {
        let a = Tensor([1, 1], shape: [2]), b = Tensor([3, 3], shape: [2])
        let opt = AdamW(weightDecay: 0.5)
        opt.update([OptimizerTensor(path: "a", value: a, grad: Tensor([0, 0], shape: [2]), decays: false),
                    OptimizerTensor(path: "b", value: b, grad: nil, decays: true)], lr: 0.1)
        XCTAssertEqual(a.scalars, [1, 1])       // zero gradient, no decay: unchanged
        XCTAssertEqual(b.scalars, [3, 3])       // no gradient: untouched
        XCTAssertNil(opt.moments["b"])
    }

    func testClipFactor() {
        let g = [Tensor([3, 0], shape: [2]), Tensor([4], shape: [1])]
        let (norm, factor) = clipFactor(g, maxNorm: 1)
        XCTAssertEqual(norm, 5, accuracy: 1e-6)
        XCTAssertEqual(factor, 0.2, accuracy: 1e-5)
        XCTAssertEqual(clipFactor(g, maxNorm: 10).factor, 1)
        XCTAssertEqual(clipFactor(g, scale: 0.5, maxNorm: nil).norm, 2.5, accuracy: 1e-6)
        XCTAssertEqual(g[0].scalars, [3, 0])     // gradients are not modified
    }
}
