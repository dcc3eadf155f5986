import XCTest
import Foundation
import Autograd
import Core

/// Fused ops against the plain compositions they replace (values computed in
/// Double from the inputs) and against finite differences.
final class FusedOpsTests: XCTestCase {
    func testSwiGLUForwardAndGradients() {
        let a = randomTensor([5, 37], seed: 1, scale: 3), b = randomTensor([5, 37], seed: 2)
        let (da, db) = (doubles(a), doubles(b))
        let sig = da.map { 1 / (1 + Foundation.exp(-$0)) }
        assertClose(swiGLU(a, b), (0..<da.count).map { da[$0] * sig[$0] * db[$0] }, rtol: 1e-5, atol: 1e-6, "forward")

        let (la, lb) = (a.requiringGrad(), b.requiringGrad())
        let g = randomTensor([5, 37], seed: 3)
        (swiGLU(la, lb) * g).sum().backward()
        let dg = doubles(g)
        let dGate: [Double] = (0..<da.count).map { i in
            let slope: Double = sig[i] * (1 + da[i] * (1 - sig[i]))
            return dg[i] * db[i] * slope
        }
        assertClose(la.grad!, dGate, rtol: 1e-5, atol: 1e-6, "d gate")
        assertClose(lb.grad!, (0..<da.count).map { i in dg[i] * da[i] * sig[i] }, rtol: 1e-5, atol: 1e-6, "d up")
        gradCheck([randomTensor([3, 9], seed: 4), randomTensor([3, 9], seed: 5)]) { swiGLU($0[0], $0[1]) }
    }

    /// A frozen input gets no gradient and the other one still does.
    func testSwiGLUOneSideFrozen() {
        let a = randomTensor([4, 8], seed: 6), b = randomTensor([4, 8], seed: 7).requiringGrad()
        swiGLU(a, b).sum().backward()
        let (da, sig) = (doubles(a), doubles(a).map { 1 / (1 + Foundation.exp(-$0)) })
        assertClose(b.grad!, (0..<da.count).map { da[$0] * sig[$0] }, rtol: 1e-5, atol: 1e-6, "d up")
    }

    /// linear with a bias: y = x Wᵀ + b, and its three gradients, in Double.
    func testLinearWithBias() {
        let (rows, inF, outF) = (2 * 7, 5, 6)
        let x = randomTensor([2, 7, inF], seed: 8), w = randomTensor([outF, inF], seed: 9)
        let b = randomTensor([outF], seed: 10)
        let (dx, dw, dbias) = (doubles(x), doubles(w), doubles(b))
        var expected = [Double](repeating: 0, count: rows * outF)
        for r in 0..<rows { for o in 0..<outF {
            var acc: Double = dbias[o]
            for i in 0..<inF { acc += dx[r * inF + i] * dw[o * inF + i] }
            expected[r * outF + o] = acc
        } }
        let y = linear(x, w, b)
        XCTAssertEqual(y.shape, [2, 7, outF])
        assertClose(y, expected, rtol: 1e-5, atol: 1e-6, "forward")
        gradCheck([x, w, b]) { linear($0[0], $0[1], $0[2]) }
    }
}
