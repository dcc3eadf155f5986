import XCTest
import Autograd
import Core

final class ShapeTests: XCTestCase {
    func testReshape() {
        let x = randomTensor([2, 3, 4], seed: 1)
        let y = x.reshaped([4, -1])
        XCTAssertEqual(y.shape, [4, 6])
        XCTAssertEqual(y.scalars, x.scalars)
        XCTAssertTrue(y.storage === x.storage, "reshape shares storage")
        gradCheck([x], tolerance: 1e-2) { $0[0].reshaped([6, 4]).square() }
    }

    func testPermuteForwardAndGradient() {
        let x = randomTensor([2, 3, 4, 5], seed: 2)
        let orders = [[0, 2, 1, 3], [3, 2, 1, 0], [1, 3, 0, 2], [0, 1, 3, 2]]
        for order in orders {
            let y = x.permuted(order)
            XCTAssertEqual(y.shape, order.map { x.shape[$0] })
            let d = x.scalars, xs = strides(x.shape)
            let expected = (0..<y.count).map { i -> Double in
                let idx = unflatten(i, y.shape)
                var off = 0
                for (k, axis) in order.enumerated() { off += idx[k] * xs[axis] }
                return Double(d[off])
            }
            assertClose(y, expected, rtol: 0, atol: 0, "permute \(order)")
            gradCheck([x], tolerance: 1e-2) { $0[0].permuted(order) }
        }
    }

    func testTransposed() {
        let x = randomTensor([3, 5], seed: 3)
        let y = x.transposed()
        XCTAssertEqual(y.shape, [5, 3])
        for i in 0..<3 { for j in 0..<5 { XCTAssertEqual(y.scalars[j * 3 + i], x.scalars[i * 5 + j]) } }
        let z = randomTensor([2, 3, 4], seed: 4)
        XCTAssertEqual(z.transposed(0, 2).shape, [4, 3, 2])
        gradCheck([z], tolerance: 1e-2) { $0[0].transposed(0, 1) }
    }

    /// A permute big enough to split across threads.
    func testLargePermute() {
        let x = randomTensor([7, 129, 3, 41], seed: 5)
        let y = x.permuted([0, 2, 1, 3])
        let d = x.scalars
        for (b, t, h, e) in [(0, 0, 0, 0), (6, 128, 2, 40), (3, 64, 1, 17)] {
            XCTAssertEqual(y.scalars[((b * 3 + h) * 129 + t) * 41 + e], d[((b * 129 + t) * 3 + h) * 41 + e])
        }
        XCTAssertEqual(y.permuted([0, 2, 1, 3]).scalars, d)
    }

    func testSliceAndSplit() {
        let x = randomTensor([3, 7, 2], seed: 6)
        let s = x.slice(axis: 1, 2, 5)
        XCTAssertEqual(s.shape, [3, 3, 2])
        for p in 0..<3 { for i in 0..<3 { for q in 0..<2 {
            XCTAssertEqual(s.scalars[(p * 3 + i) * 2 + q], x.scalars[(p * 7 + i + 2) * 2 + q])
        } } }
        gradCheck([x], tolerance: 1e-2) { $0[0].slice(axis: 1, 2, 5) }
        gradCheck([x], tolerance: 1e-2) { $0[0].slice(axis: -1, 1, 2) }
        let parts = x.split([1, 4, 2], axis: 1)
        XCTAssertEqual(parts.map(\.shape), [[3, 1, 2], [3, 4, 2], [3, 2, 2]])
        XCTAssertEqual(concat(parts, axis: 1).scalars, x.scalars)
        // Every piece used with a different weight: gradients from all pieces meet in x.
        gradCheck([x], tolerance: 1e-2) { t in
            let p = t[0].split([1, 4, 2], axis: 1)
            return concat([p[2] * 2, p[0] - 1, p[1].square()], axis: 1)
        }
    }

    func testConcat() {
        let a = randomTensor([2, 1, 3], seed: 7), b = randomTensor([2, 4, 3], seed: 8), c = randomTensor([2, 2, 3], seed: 9)
        let y = concat([a, b, c], axis: 1)
        XCTAssertEqual(y.shape, [2, 7, 3])
        for p in 0..<2 {
            for i in 0..<7 {
                for q in 0..<3 {
                    let e: Float = i < 1 ? a.scalars[(p * 1 + i) * 3 + q]
                        : i < 5 ? b.scalars[(p * 4 + i - 1) * 3 + q] : c.scalars[(p * 2 + i - 5) * 3 + q]
                    XCTAssertEqual(y.scalars[(p * 7 + i) * 3 + q], e)
                }
            }
        }
        gradCheck([a, b, c], tolerance: 1e-2) { concat($0, axis: 1) }
        gradCheck([a, a], tolerance: 1e-2) { concat($0, axis: 0) }
        gradCheck([b, b], tolerance: 1e-2) { concat($0, axis: -1) }
    }

    /// Parts that do not need a gradient get none, and the others still do.
    func testConcatWithFrozenPart() {
        let a = randomTensor([2, 3], seed: 10).requiringGrad(), b = randomTensor([2, 3], seed: 11)
        concat([a, b], axis: 0).sum().backward()
        XCTAssertEqual(a.grad!.scalars, [Float](repeating: 1, count: 6))
        XCTAssertNil(b.grad)
    }
}
