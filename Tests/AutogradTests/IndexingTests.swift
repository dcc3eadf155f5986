import XCTest
import Autograd
import Core

final class IndexingTests: XCTestCase {
    func testIndexSelectForwardAndGradient() {
        let table = randomTensor([5, 3], seed: 1)
        let ids: [Int32] = [4, 0, 4, 2, 4, 1]
        let y = table.indexSelect(ids)
        XCTAssertEqual(y.shape, [6, 3])
        for (i, id) in ids.enumerated() {
            XCTAssertEqual(Array(y.scalars[(i * 3)..<(i * 3 + 3)]), Array(table.scalars[(Int(id) * 3)..<(Int(id) * 3 + 3)]))
        }
        gradCheck([table], tolerance: 1e-2) { $0[0].indexSelect(ids) }
        // Repeated ids accumulate: row 4 is used three times, row 3 never.
        let t = table.requiringGrad()
        t.indexSelect(ids).sum().backward()
        XCTAssertEqual(t.grad!.scalars, [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 3, 3, 3])
    }

    func testScatteringRows() {
        let base = randomTensor([6, 4], seed: 2), values = randomTensor([3, 4], seed: 3)
        let positions = [1, 4, 5]
        let y = base.scatteringRows(at: positions, from: values)
        for r in 0..<6 {
            let src = positions.firstIndex(of: r).map { Array(values.scalars[($0 * 4)..<($0 * 4 + 4)]) }
                ?? Array(base.scalars[(r * 4)..<(r * 4 + 4)])
            XCTAssertEqual(Array(y.scalars[(r * 4)..<(r * 4 + 4)]), src, "row \(r)")
        }
        gradCheck([base, values], tolerance: 1e-2) { $0[0].scatteringRows(at: positions, from: $0[1]) }
    }

    /// A repeated position: the last value wins, and only it gets a gradient.
    func testScatteringRowsRepeatedPosition() {
        let base = randomTensor([4, 2], seed: 4), values = randomTensor([3, 2], seed: 5)
        let positions = [2, 0, 2]
        let y = base.scatteringRows(at: positions, from: values)
        XCTAssertEqual(Array(y.scalars[4..<6]), Array(values.scalars[4..<6]))
        gradCheck([base, values], tolerance: 1e-2) { $0[0].scatteringRows(at: positions, from: $0[1]) }
    }

    func testMaskedFill() {
        let x = randomTensor([3, 4], seed: 6)
        let perElement = (0..<12).map { $0 % 5 == 1 }
        let y = x.maskedFill(perElement, -7)
        for i in 0..<12 { XCTAssertEqual(y.scalars[i], perElement[i] ? -7 : x.scalars[i]) }
        gradCheck([x], tolerance: 1e-2) { $0[0].maskedFill(perElement, -7) }
        let perRow = [false, true, false]
        let z = x.maskedFill(perRow, 0.5)
        for i in 0..<12 { XCTAssertEqual(z.scalars[i], perRow[i / 4] ? 0.5 : x.scalars[i]) }
        gradCheck([x], tolerance: 1e-2) { $0[0].maskedFill(perRow, 0.5) }
    }

    // MARK: - Non-differentiable ops

    func testArgmaxAndTopK() {
        let x = Tensor([1, 5, 5, 2, -1, -3, -1, -2, 0, 7, 3, 7], shape: [3, 4])
        XCTAssertEqual(x.argmax(), [1, 0, 1])
        let (values, indices) = x.topK(2)
        XCTAssertEqual(indices, [[1, 2], [0, 2], [1, 3]])
        XCTAssertEqual(values, [[5, 5], [-1, -1], [7, 7]])
        XCTAssertEqual(x.topK(4).indices[2], [1, 3, 2, 0])
    }

    func testComparisonsBroadcast() {
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]), b = Tensor([2, 5, 3], shape: [3])
        XCTAssertEqual(a.greater(b).scalars, [0, 0, 0, 1, 0, 1])
        XCTAssertEqual(a.less(b).scalars, [1, 1, 0, 0, 0, 0])
        XCTAssertEqual(a.equal(b).scalars, [0, 0, 1, 0, 1, 0])
        let g = a.requiringGrad().greater(b)
        XCTAssertFalse(g.requiresGrad, "comparisons are not differentiable")
    }

    func testIntegerCastsAndFiniteness() {
        let t = Tensor(ints: [3, -2, 0, 70000], shape: [2, 2])
        XCTAssertEqual(t.shape, [2, 2])
        XCTAssertEqual(t.int32s(), [3, -2, 0, 70000])
        XCTAssertEqual(Tensor([1.9, -1.9, 0.5], shape: [3]).int32s(), [1, -1, 0])
        XCTAssertTrue(t.isFinite)
        XCTAssertFalse(Tensor([1, .nan], shape: [2]).isFinite)
        XCTAssertFalse(Tensor([.infinity], shape: [1]).isFinite)
    }
}
