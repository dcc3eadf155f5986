import XCTest
import Autograd
import Core

/// LayerNorm / RMSNorm over rows of length d, in Double.
private func referenceNorm(_ x: [Double], d: Int, weight: [Double]?, bias: [Double]?, eps: Double, rms: Bool) -> [Double] {
    var out = x
    for r in 0..<(x.count / d) {
        let row = Array(x[(r * d)..<(r * d + d)])
        let mu = rms ? 0 : row.reduce(0, +) / Double(d)
        let v = row.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(d)
        let rs = 1 / (v + eps).squareRoot()
        for j in 0..<d {
            out[r * d + j] = (row[j] - mu) * rs * (weight?[j] ?? 1) + (bias?[j] ?? 0)
        }
    }
    return out
}

final class NormTests: XCTestCase {
    func testLayerNormForward() {
        for (shape, eps) in [([3, 7], Float(1e-5)), ([2, 3, 13], 1e-6), ([5, 1], 1e-5), ([4, 300], 1e-6)] {
            let d = shape.last!
            let x = randomTensor(shape, seed: 1, scale: 2) + 0.7
            let w = randomTensor([d], seed: 2) * 0.2 + 1, b = randomTensor([d], seed: 3, scale: 0.1)
            assertClose(layerNorm(x, weight: w, bias: b, eps: eps),
                        referenceNorm(doubles(x), d: d, weight: doubles(w), bias: doubles(b), eps: Double(eps), rms: false),
                        rtol: 1e-5, atol: 2e-5, "layerNorm \(shape)")
            assertClose(layerNorm(x, weight: nil, bias: nil, eps: eps),
                        referenceNorm(doubles(x), d: d, weight: nil, bias: nil, eps: Double(eps), rms: false),
                        rtol: 1e-5, atol: 2e-5, "layerNorm without affine \(shape)")
        }
    }

    func testRMSNormForward() {
        for (shape, eps) in [([3, 7], Float(1e-6)), ([2, 3, 13], 1e-5), ([4, 300], 1e-6)] {
            let d = shape.last!
            let x = randomTensor(shape, seed: 4, scale: 2)
            let w = randomTensor([d], seed: 5) * 0.2 + 1
            assertClose(rmsNorm(x, weight: w, eps: eps),
                        referenceNorm(doubles(x), d: d, weight: doubles(w), bias: nil, eps: Double(eps), rms: true),
                        rtol: 1e-5, atol: 2e-5, "rmsNorm \(shape)")
        }
    }

    func testLayerNormGradients() {
        let x = randomTensor([2, 3, 7], seed: 6), w = randomTensor([7], seed: 7) * 0.2 + 1, b = randomTensor([7], seed: 8)
        gradCheck([x, w, b], tolerance: 1e-2) { layerNorm($0[0], weight: $0[1], bias: $0[2], eps: 1e-5) }
        gradCheck([x], tolerance: 1e-2) { layerNorm($0[0], weight: nil, bias: nil, eps: 1e-5) }
        gradCheck([x, w], tolerance: 1e-2) { layerNorm($0[0], weight: $0[1], bias: nil, eps: 1e-5) }
        gradCheck([x, b], tolerance: 1e-2) { layerNorm($0[0], weight: nil, bias: $0[1], eps: 1e-5) }
    }

    func testRMSNormGradients() {
        let x = randomTensor([3, 5, 9], seed: 9), w = randomTensor([9], seed: 10) * 0.2 + 1
        gradCheck([x, w], tolerance: 1e-2) { rmsNorm($0[0], weight: $0[1], eps: 1e-6) }
    }

    /// The fused kernels against the same norms composed from primitive ops, at
    /// a size where rows and the weight/bias columns split across threads.
    func testMatchesComposedOpsAtLargerSize() {
        let (rows, d) = (37, 301)
        let x = randomTensor([rows, d], seed: 15, scale: 2) + 0.3
        let w = randomTensor([d], seed: 16) * 0.2 + 1, b = randomTensor([d], seed: 17), g = randomTensor([rows, d], seed: 18)
        let (x1, w1, b1) = (x.requiringGrad(), w.requiringGrad(), b.requiringGrad())
        let fused = layerNorm(x1, weight: w1, bias: b1, eps: 1e-5)
        fused.backward(g)
        let (x2, w2, b2) = (x.requiringGrad(), w.requiringGrad(), b.requiringGrad())
        let centered = x2 - x2.mean(axis: -1, keepDims: true)
        let composed = centered * (centered.square().mean(axis: -1, keepDims: true) + 1e-5).rsqrt() * w2 + b2
        composed.backward(g)
        assertClose(fused, doubles(composed), rtol: 1e-5, atol: 1e-5, "layerNorm forward")
        assertClose(x1.grad!, doubles(x2.grad!), rtol: 1e-4, atol: 1e-5, "layerNorm dx")
        assertClose(w1.grad!, doubles(w2.grad!), rtol: 1e-4, atol: 1e-4, "layerNorm dw")
        assertClose(b1.grad!, doubles(b2.grad!), rtol: 1e-4, atol: 1e-4, "layerNorm db")

        let (x3, w3) = (x.requiringGrad(), w.requiringGrad())
        let fusedRMS = rmsNorm(x3, weight: w3, eps: 1e-6)
        fusedRMS.backward(g)
        let (x4, w4) = (x.requiringGrad(), w.requiringGrad())
        let composedRMS = x4 * (x4.square().mean(axis: -1, keepDims: true) + 1e-6).rsqrt() * w4
        composedRMS.backward(g)
        assertClose(fusedRMS, doubles(composedRMS), rtol: 1e-5, atol: 1e-5, "rmsNorm forward")
        assertClose(x3.grad!, doubles(x4.grad!), rtol: 1e-4, atol: 1e-5, "rmsNorm dx")
        assertClose(w3.grad!, doubles(w4.grad!), rtol: 1e-4, atol: 1e-4, "rmsNorm dw")
    }

    /// Frozen affine parameters: only x gets a gradient, and it is the same.
    func testFrozenAffine() {
        let x = randomTensor([4, 6], seed: 11), w = randomTensor([6], seed: 12) + 1, b = randomTensor([6], seed: 13)
        let g = randomTensor([4, 6], seed: 14)
        let x1 = x.requiringGrad(), w1 = w.requiringGrad(), b1 = b.requiringGrad()
        layerNorm(x1, weight: w1, bias: b1, eps: 1e-5).backward(g)
        let x2 = x.requiringGrad()
        layerNorm(x2, weight: w, bias: b, eps: 1e-5).backward(g)
        XCTAssertNil(w.grad); XCTAssertNil(b.grad)
        assertClose(x2.grad!, doubles(x1.grad!), rtol: 1e-6, atol: 1e-7, "dx")
        let x3 = x.requiringGrad()
        rmsNorm(x3, weight: w, eps: 1e-6).backward(g)
        XCTAssertNotNil(x3.grad)
    }
}
