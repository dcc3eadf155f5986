import XCTest
import Autograd
import Core
import NN
import Models

/// `loss` (LM head on labelled positions only) equals `forward`'s loss, and so
/// do every parameter gradient and the per-sequence log-probs.
final class LabelledLossTests: XCTestCase {
    func testLabelledLossEqualsFullForward() throws {
        let c = try MiniCPMVTests.tinyConfig()
        let m = MiniCPMV(config: c, seed: 5)
        let input = MiniCPMVTests.imageInput(c, tokens: 40, start: 3, seed: 9)
        let (_, full, n1) = try m.forward(input)
        full.backward()
        let reference = m.namedParameters().map { $0.parameter.grad?.scalars }
        m.zeroGrad()
        let (labelled, n2) = try m.loss(input)
        labelled.backward()
        XCTAssertEqual(n1, n2)
        XCTAssertEqual(labelled.item, full.item, accuracy: 1e-5 * abs(full.item))
        for ((path, p), g) in zip(m.namedParameters(), reference) {
            guard let g else { XCTAssertNil(p.grad, path); continue }
            let h = try XCTUnwrap(p.grad?.scalars, path)
            let diff = zip(g, h).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
            let norm = g.map { $0 * $0 }.reduce(0, +).squareRoot()
            XCTAssertLessThanOrEqual(diff, 1e-5 * max(norm, 1e-3), path)
        }
    }
}
