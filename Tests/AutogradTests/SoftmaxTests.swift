import XCTest
import Foundation
import Autograd
import Core

/// Softmax of each row of the last axis, in Double.
func referenceSoftmax(_ x: [Double], rowLength d: Int) -> [Double] {
    var out = x
    for r in 0..<(x.count / d) {
        let row = x[(r * d)..<(r * d + d)]
        let m = row.max()!
        if m == -.infinity { for j in 0..<d { out[r * d + j] = 0 }; continue }
        let s = row.reduce(0) { $0 + Foundation.exp($1 - m) }
        for j in 0..<d { out[r * d + j] = Foundation.exp(x[r * d + j] - m) / s }
    }
    return out
}

final class SoftmaxTests: XCTestCase {
    func testSoftmaxForward() {
        for shape in [[3, 7], [2, 3, 1], [4, 129], [1, 2]] {
            let x = randomTensor(shape, seed: 1, scale: 3)
            let y = x.softmax()
            assertClose(y, referenceSoftmax(doubles(x), rowLength: shape.last!), rtol: 2e-6, atol: 1e-7, "softmax \(shape)")
        }
    }

    func testLogSoftmaxForward() {
        for shape in [[3, 7], [2, 1], [4, 129]] {
            let x = randomTensor(shape, seed: 2, scale: 3)
            let expected = referenceSoftmax(doubles(x), rowLength: shape.last!).map { Foundation.log($0) }
            assertClose(x.logSoftmax(), expected, rtol: 2e-6, atol: 2e-6, "logSoftmax \(shape)")
        }
    }

    /// Large logits do not overflow: both are shift-invariant.
    func testStability() {
        let x = randomTensor([2, 9], seed: 3)
        let shifted = x + 1000
        assertClose(shifted.softmax(), referenceSoftmax(doubles(x), rowLength: 9), rtol: 1e-4, atol: 1e-6, "shifted softmax")
        assertClose(shifted.logSoftmax(), referenceSoftmax(doubles(x), rowLength: 9).map { Foundation.log($0) },
                    rtol: 1e-3, atol: 1e-4, "shifted logSoftmax")
    }

    /// −∞ entries get probability 0; an all −∞ row gives zeros, not NaN.
    func testMaskedEntries() {
        let x = Tensor([0, -.infinity, 1, -.infinity, -.infinity, -.infinity], shape: [2, 3])
        let y = x.softmax().scalars
        XCTAssertEqual(y[1], 0)
        XCTAssertEqual(Double(y[0]), 1 / (1 + M_E), accuracy: 1e-6)
        XCTAssertEqual(Array(y[3...]), [0, 0, 0])
    }

    func testGradients() {
        for shape in [[3, 7], [2, 2, 5], [4, 1]] {
            let x = randomTensor(shape, seed: 4, scale: 2)
            gradCheck([x], tolerance: 1e-2) { $0[0].softmax() }
            gradCheck([x], tolerance: 1e-2) { $0[0].logSoftmax() }
        }
    }
}
