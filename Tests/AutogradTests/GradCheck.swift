import XCTest
import Autograd

/// Central finite differences against the tape's gradients.
///
/// `f` maps the inputs to a tensor; the checked scalar is Σ f(x) ⊙ w for a fixed
/// random w (so every output element contributes with a different weight).
/// Float32 arithmetic: step 1e-2 and a relative tolerance on the whole gradient
/// (‖analytic − numeric‖ / max(‖numeric‖, 1e-3)).
func gradCheck(_ inputs: [Tensor], eps: Float = 1e-2, tolerance: Float = 2e-2, seed: UInt64 = 7,
               file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) -> Tensor) {
    let leaves = inputs.map { $0.requiringGrad() }
    let out = f(leaves)
    var rng = RNG(seed: seed)
    let w = Tensor.randn(out.shape, rng: &rng)
    (out * w).sum().backward()
    for (index, leaf) in leaves.enumerated() {
        guard let analytic = leaf.grad else { XCTFail("input \(index) got no gradient", file: file, line: line); continue }
        var numeric = [Float](repeating: 0, count: leaf.count)
        for i in 0..<leaf.count {
            func value(_ delta: Float) -> Float {
                noGrad {
                    let probe = inputs.map { $0.copy() }
                    probe[index].pointer[i] += delta
                    return Double((f(probe) * w).sum().item).isFinite ? (f(probe) * w).sum().item : .nan
                }
            }
            numeric[i] = (value(eps) - value(-eps)) / (2 * eps)
        }
        let a = analytic.scalars
        var diff: Float = 0, norm: Float = 0
        for i in 0..<a.count { diff += (a[i] - numeric[i]) * (a[i] - numeric[i]); norm += numeric[i] * numeric[i] }
        let rel = diff.squareRoot() / max(norm.squareRoot(), 1e-3)
        XCTAssertLessThan(rel, tolerance, "input \(index) \(leaf.shape): relative gradient error \(rel)", file: file, line: line)
    }
}

func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor.randn(shape, std: scale, rng: &rng)
}

final class SmokeGradTests: XCTestCase {
    func testMatmulTransposes() {
        for ta in [false, true] {
            for tb in [false, true] {
                let a = randomTensor(ta ? [2, 5, 3] : [2, 3, 5], seed: 1)
                let b = randomTensor(tb ? [4, 5] : [5, 4], seed: 2)
                gradCheck([a, b]) { matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
                let bb = randomTensor(tb ? [2, 4, 5] : [2, 5, 4], seed: 3)
                gradCheck([a, bb]) { matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
            }
        }
    }

    func testBroadcastArithmetic() {
        let a = randomTensor([3, 1, 4], seed: 1), b = randomTensor([2, 4], seed: 2)
        gradCheck([a, b]) { ($0[0] + $0[1]) * $0[1] - $0[0] / ($0[1].square() + 1) }
    }

    func testAttentionCausalSegmentsGQA() {
        let q = randomTensor([2, 6, 4, 3], seed: 1), k = randomTensor([2, 6, 2, 3], seed: 2), v = randomTensor([2, 6, 2, 3], seed: 3)
        let mask = AttentionMask(causal: true, segmentIds: [0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 0, 0])
        gradCheck([q, k, v]) { scaledDotProductAttention($0[0], $0[1], $0[2], mask: mask) }
    }
}
