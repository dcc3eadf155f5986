import XCTest
import Autograd
import Core

/// Σ over `axes` of x (Double), in the kept-dims layout, then the output shape.
private func referenceSum(_ x: Tensor, axes: [Int], keepDims: Bool) -> (shape: [Int], values: [Double]) {
    let axes = Set(axes.map { $0 < 0 ? $0 + x.rank : $0 })
    let kept = x.shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
    var out = [Double](repeating: 0, count: kept.reduce(1, *))
    let d = doubles(x)
    for i in 0..<x.count {
        var idx = unflatten(i, x.shape)
        for a in axes { idx[a] = 0 }
        out[broadcastIndex(idx, into: kept)] += d[i]
    }
    let shape = keepDims ? kept : x.shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
    return (shape, out)
}

final class ReduceTests: XCTestCase {
    private let axisCases: [[Int]] = [[0], [1], [2], [-1], [0, 2], [1, 2], [0, 1, 2], []]

    func testSumForward() {
        let x = randomTensor([3, 5, 7], seed: 1)
        for axes in axisCases {
            for keep in [false, true] {
                let (shape, expected) = referenceSum(x, axes: axes, keepDims: keep)
                let y = x.sum(axes: axes, keepDims: keep)
                XCTAssertEqual(y.shape, shape, "axes \(axes) keep \(keep)")
                assertClose(y, expected, rtol: 1e-5, atol: 1e-5, "sum axes \(axes) keep \(keep)")
            }
        }
        assertClose(x.sum(), [doubles(x).reduce(0, +)], rtol: 1e-5, atol: 1e-5, "sum all")
        XCTAssertEqual(x.sum().shape, [])
        assertClose(x.sum(axis: 1), referenceSum(x, axes: [1], keepDims: false).values, rtol: 1e-5, atol: 1e-5, "sum axis")
    }

    func testMeanForward() {
        let x = randomTensor([3, 5, 7], seed: 2)
        for axes in axisCases where !axes.isEmpty {
            let n = Double(axes.map { x.dim($0) }.reduce(1, *))
            let (_, expected) = referenceSum(x, axes: axes, keepDims: true)
            assertClose(x.mean(axes: axes), expected.map { $0 / n }, rtol: 1e-5, atol: 1e-6, "mean axes \(axes)")
        }
        assertClose(x.mean(), [doubles(x).reduce(0, +) / 105], rtol: 1e-5, atol: 1e-6, "mean all")
        assertClose(x.mean(axis: -1, keepDims: true), referenceSum(x, axes: [2], keepDims: true).values.map { $0 / 7 },
                    rtol: 1e-5, atol: 1e-6, "mean last")
    }

    /// Column sums of a tall matrix (the bias-gradient shape), big enough to split.
    func testAxisZeroLarge() {
        for shape in [[1001, 67], [3, 40_003], [20_011, 3]] {
            let x = randomTensor(shape, seed: 3)
            let (_, expected) = referenceSum(x, axes: [0], keepDims: false)
            assertClose(x.sum(axis: 0), expected, rtol: 1e-4, atol: 1e-4, "axis 0 of \(shape)")
            let (_, rows) = referenceSum(x, axes: [1], keepDims: false)
            assertClose(x.sum(axis: 1), rows, rtol: 1e-4, atol: 1e-4, "axis 1 of \(shape)")
        }
    }

    func testSumMeanGradients() {
        let x = randomTensor([3, 4, 5], seed: 4)
        for axes in axisCases {
            gradCheck([x], tolerance: 1e-2) { $0[0].sum(axes: axes) }
            if !axes.isEmpty { gradCheck([x], tolerance: 1e-2) { $0[0].mean(axes: axes, keepDims: true) } }
        }
        gradCheck([x], tolerance: 1e-2) { $0[0].sum() }
        gradCheck([x], tolerance: 1e-2) { $0[0].mean() }
    }

    func testMaxForwardAndGradient() {
        // A permutation of distinct values spaced 0.1 apart: no ties within the probe step.
        var rng = RNG(seed: 5)
        let perm = rng.permutation(60)
        let x = Tensor(perm.map { Float($0) * 0.1 - 3 }, shape: [3, 4, 5])
        for axis in [0, 1, 2, -1] {
            for keep in [false, true] {
                let y = x.max(axis: axis, keepDims: keep)
                let a = axis < 0 ? axis + 3 : axis
                var kept = x.shape; kept[a] = 1
                var expected = [Double](repeating: -.infinity, count: kept.reduce(1, *))
                let d = doubles(x)
                for i in 0..<x.count {
                    var idx = unflatten(i, x.shape); idx[a] = 0
                    let o = broadcastIndex(idx, into: kept)
                    expected[o] = max(expected[o], d[i])
                }
                XCTAssertEqual(y.shape, keep ? kept : x.shape.enumerated().filter { $0.offset != a }.map(\.element))
                assertClose(y, expected, rtol: 0, atol: 1e-6, "max axis \(axis)")
            }
            gradCheck([x], tolerance: 1e-2) { $0[0].max(axis: axis) }
        }
    }

    /// Ties: the gradient goes to the first maximal element only.
    func testMaxTieGoesToFirst() {
        let x = Tensor([1, 3, 3, 2, 5, 5], shape: [2, 3]).requiringGrad()
        x.max(axis: 1).sum().backward()
        XCTAssertEqual(x.grad!.scalars, [0, 1, 0, 0, 1, 0])
    }
}
