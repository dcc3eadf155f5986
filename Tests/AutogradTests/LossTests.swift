import XCTest
import Foundation
import Autograd
import Core

/// log softmax(row)[t] in Double.
private func referenceLogProb(_ row: ArraySlice<Double>, _ t: Int) -> Double {
    let m = row.max()!
    let lse = m + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - m) })
    return row[row.startIndex + t] - lse
}

final class LossTests: XCTestCase {
    private let v = 11
    private let targets: [Int32] = [3, ignoreIndex, 0, 10, 7, ignoreIndex, 5]

    func testSelectedLogProbsForward() {
        let logits = randomTensor([7, v], seed: 1, scale: 3)
        let lp = selectedLogProbs(logits, targets: targets)
        XCTAssertEqual(lp.shape, [7])
        let d = doubles(logits)
        let expected = targets.enumerated().map { i, t in
            t == ignoreIndex ? 0 : referenceLogProb(d[(i * v)..<(i * v + v)], Int(t))
        }
        assertClose(lp, expected, rtol: 1e-5, atol: 2e-6, "log-probs")
    }

    func testCrossEntropySumAndCount() {
        let logits = randomTensor([7, v], seed: 2, scale: 3)
        let (loss, count) = crossEntropy(logits, targets: targets)
        XCTAssertEqual(count, 5)
        XCTAssertEqual(loss.shape, [])
        let d = doubles(logits)
        var expected = 0.0
        for (i, t) in targets.enumerated() where t != ignoreIndex {
            expected -= referenceLogProb(d[(i * v)..<(i * v + v)], Int(t))
        }
        XCTAssertEqual(Double(loss.item), expected, accuracy: 1e-5 * Swift.abs(expected))
    }

    /// A batch-shaped [B, T, V] input works as N = B·T rows.
    func testThreeDimensionalLogits() {
        let logits = randomTensor([1, 7, v], seed: 3)
        let flat = crossEntropy(logits.reshaped([7, v]), targets: targets).loss
        XCTAssertEqual(crossEntropy(logits, targets: targets).loss.item, flat.item)
    }

    func testGradients() {
        let logits = randomTensor([7, v], seed: 4, scale: 2)
        gradCheck([logits], tolerance: 1e-2) { crossEntropy($0[0], targets: targets).loss }
        gradCheck([logits], tolerance: 1e-2) { selectedLogProbs($0[0], targets: targets) }
        // Ignored rows get exactly zero gradient.
        let l = logits.requiringGrad()
        crossEntropy(l, targets: targets).loss.backward()
        let g = l.grad!.scalars
        XCTAssertEqual(Array(g[(1 * v)..<(2 * v)]), [Float](repeating: 0, count: v))
        XCTAssertEqual(Array(g[(5 * v)..<(6 * v)]), [Float](repeating: 0, count: v))
        // Each supervised row of d(−log p)/dlogits = softmax − onehot sums to 0.
        XCTAssertEqual(Double(g[0..<v].reduce(0, +)), 0, accuracy: 1e-6)
    }

    func testLargeLogitsAreStable() {
        let logits = randomTensor([7, v], seed: 5) + 500
        let (loss, _) = crossEntropy(logits, targets: targets)
        XCTAssertTrue(loss.item.isFinite)
        let base = crossEntropy(randomTensor([7, v], seed: 5), targets: targets).loss
        XCTAssertEqual(loss.item, base.item, accuracy: 1e-3)
    }

    func testAllIgnored() {
        let logits = randomTensor([2, v], seed: 6).requiringGrad()
        let (loss, count) = crossEntropy(logits, targets: [ignoreIndex, ignoreIndex])
        XCTAssertEqual(count, 0)
        XCTAssertEqual(loss.item, 0)
        loss.backward()
        XCTAssertEqual(logits.grad!.scalars, [Float](repeating: 0, count: 2 * v))
    }
}
