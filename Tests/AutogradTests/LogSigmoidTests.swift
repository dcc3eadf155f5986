import XCTest
import Foundation
import Autograd
import Core

final class LogSigmoidTests: XCTestCase {
    func testGradientMatchesFiniteDifferences() {
        let x = Tensor([-6, -2.5, -0.3, 0, 0.4, 1.7, 5], shape: [7])
        gradCheck([x]) { $0[0].logSigmoid() }
        gradCheck([randomTensor([3, 4], seed: 11, scale: 3)]) { $0[0].logSigmoid() }
    }

    /// Values against log(1/(1+e^(−x))) in Double, including where the naive
    /// Float32 composition would give −∞ or 0.
    func testValuesAreStableForLargeInputs() {
        let xs: [Float] = [-200, -90, -30, -1, 0, 1, 30, 90, 200]
        let y = Tensor(xs, shape: [xs.count]).logSigmoid().scalars
        for (x, v) in zip(xs, y) {
            let d = Double(x)
            let expected = d < 0 ? d - Foundation.log1p(Foundation.exp(d)) : -Foundation.log1p(Foundation.exp(-d))
            XCTAssertTrue(v.isFinite, "logσ(\(x)) = \(v)")
            XCTAssertEqual(Double(v), expected, accuracy: 1e-6 * max(1, Swift.abs(expected)), "logσ(\(x))")
        }
    }

    func testGradientIsSigmoidOfMinusX() {
        let leaf = Tensor([-100, -1, 0, 2, 100], shape: [5]).requiringGrad()
        leaf.logSigmoid().sum().backward()
        let g = leaf.grad!.scalars
        let expected: [Float] = [1, 1 / (1 + Foundation.exp(-1)), 0.5, 1 / (1 + Foundation.exp(2)), 0]
        for i in 0..<5 { XCTAssertEqual(g[i], expected[i], accuracy: 1e-6) }
    }
}
