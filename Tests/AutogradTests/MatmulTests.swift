import XCTest
import Foundation
import Autograd
import Core

/// op(A)·op(B) in Double for one batch element; `a`, `b` stored untransposed.
private func referenceProduct(_ a: [Double], _ b: [Double], m: Int, n: Int, k: Int, ta: Bool, tb: Bool) -> [Double] {
    var c = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let x = ta ? a[p * m + i] : a[i * k + p]
                let y = tb ? b[j * k + p] : b[p * n + j]
                s += x * y
            }
            c[i * n + j] = s
        }
    }
    return c
}

final class MatmulTests: XCTestCase {
    /// Every transpose combination, batched and shared right operands, odd sizes.
    func testForwardMatchesReference() {
        let (m, n, k) = (3, 7, 5)
        let batch = [2, 3]
        for ta in [false, true] {
            for tb in [false, true] {
                for shared in [false, true] {
                    let a = randomTensor(batch + (ta ? [k, m] : [m, k]), seed: 1)
                    let bShape = (shared ? [] : batch) + (tb ? [n, k] : [k, n])
                    let b = randomTensor(bShape, seed: 2)
                    let c = matmul(a, b, transposeA: ta, transposeB: tb)
                    XCTAssertEqual(c.shape, batch + [m, n])
                    var expected: [Double] = []
                    let (da, db) = (doubles(a), doubles(b))
                    for i in 0..<6 {
                        let ai = Array(da[(i * m * k)..<((i + 1) * m * k)])
                        let bi = shared ? db : Array(db[(i * k * n)..<((i + 1) * k * n)])
                        expected += referenceProduct(ai, bi, m: m, n: n, k: k, ta: ta, tb: tb)
                    }
                    assertClose(c, expected, rtol: 1e-5, atol: 1e-5, "ta \(ta) tb \(tb) shared \(shared)")
                }
            }
        }
    }

    func testGradientsAllTransposes() {
        for ta in [false, true] {
            for tb in [false, true] {
                let a = randomTensor(ta ? [2, 5, 3] : [2, 3, 5], seed: 1)
                let b = randomTensor(tb ? [4, 5] : [5, 4], seed: 2)
                gradCheck([a, b], tolerance: 1e-2) { matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
                let bb = randomTensor(tb ? [2, 4, 5] : [2, 5, 4], seed: 3)
                gradCheck([a, bb], tolerance: 1e-2) { matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
                let a2 = randomTensor(ta ? [5, 3] : [3, 5], seed: 4)
                gradCheck([a2, b], tolerance: 1e-2) { matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
            }
        }
    }

    /// Two batch axes with a shared weight: the tall-GEMM path and the summed dB.
    func testGradientsTwoBatchAxesSharedWeight() {
        let x = randomTensor([2, 3, 3, 4], seed: 5), w = randomTensor([6, 4], seed: 6)
        gradCheck([x, w], tolerance: 1e-2) { matmul($0[0], $0[1], transposeB: true) }
        let xt = randomTensor([2, 3, 4, 3], seed: 7)
        gradCheck([xt, w], tolerance: 1e-2) { matmul($0[0], $0[1], transposeA: true, transposeB: true) }
    }

    func testLinearWithBias() {
        let x = randomTensor([2, 3, 5], seed: 1), w = randomTensor([4, 5], seed: 2), b = randomTensor([4], seed: 3)
        let y = linear(x, w, b)
        XCTAssertEqual(y.shape, [2, 3, 4])
        let (dx, dw, db) = (doubles(x), doubles(w), doubles(b))
        var expected: [Double] = []
        for r in 0..<6 {
            for o in 0..<4 { expected.append(db[o] + (0..<5).reduce(0.0) { $0 + dx[r * 5 + $1] * dw[o * 5 + $1] }) }
        }
        assertClose(y, expected, rtol: 1e-5, atol: 1e-5, "linear")
        gradCheck([x, w, b], tolerance: 1e-2) { linear($0[0], $0[1], $0[2]) }
    }

    /// A frozen weight gets no gradient and the input's gradient is still right.
    func testFrozenWeight() {
        let x = randomTensor([3, 4], seed: 1).requiringGrad()
        let w = randomTensor([4, 2], seed: 2)          // no grad
        let y = matmul(x, w)
        y.sum().backward()
        XCTAssertNil(w.grad)
        let dw = doubles(w)
        let expected = (0..<12).map { (i: Int) -> Double in
            let r = i % 4
            return dw[r * 2] + dw[r * 2 + 1]
        }
        assertClose(x.grad!, expected, rtol: 1e-6, atol: 1e-6, "dx")
    }

    /// The profile records each product of a forward and backward pass under its
    /// shape, and nothing after it stops.
    func testGEMMProfileRecordsEveryProduct() {
        let x = randomTensor([3, 5], seed: 1).requiringGrad()
        let w = randomTensor([5, 7], seed: 2).requiringGrad()
        GEMMProfile.start()
        matmul(x, w).sum().backward()
        let report = GEMMProfile.stop()
        _ = matmul(x, w)                                   // not recorded
        XCTAssertEqual(report.calls, 3, "\(report.rows)")
        XCTAssertEqual(report.flops, 3 * 2 * 3 * 5 * 7)
        // Forward 3×7 over 5; dX 3×5 over 7; dW 5×7 over 3.
        XCTAssertEqual(Set(report.rows.map { [$0.m, $0.n, $0.k] }), [[3, 7, 5], [3, 5, 7], [5, 7, 3]])
        let forward = report.rows.first { $0.m == 3 && $0.n == 7 }
        XCTAssertEqual(forward?.label, "NN 3×7×5")
        XCTAssertTrue(report.rows.allSatisfy { $0.calls == 1 && $0.seconds > 0 })
        XCTAssertTrue(report.seconds > 0)
        let table = report.table(top: 2, stepSeconds: report.seconds * 2)
        XCTAssertTrue(table.last?.contains("3 calls") == true && table.last?.contains("50 %") == true, "\(table)")
        XCTAssertTrue(table.contains { $0.contains("and 1 more") }, "\(table)")
        GEMMProfile.start()
        XCTAssertEqual(GEMMProfile.stop().calls, 0)
    }

    func testEmptyInnerDimensionGivesZeros() {
        let a = Tensor.zeros([2, 0]), b = Tensor.zeros([0, 3])
        let c = matmul(a, b)
        XCTAssertEqual(c.shape, [2, 3])
        XCTAssertEqual(c.scalars, [Float](repeating: 0, count: 6))
    }

    /// Big enough for multi-threaded BLAS; checks a sample of entries.
    func testLargeProductSampled() {
        let a = randomTensor([130, 257], seed: 8), b = randomTensor([257, 96], seed: 9)
        let c = matmul(a, b)
        let (da, db) = (doubles(a), doubles(b))
        for (i, j) in [(0, 0), (129, 95), (64, 17), (3, 90)] {
            let e = (0..<257).reduce(0.0) { $0 + da[i * 257 + $1] * db[$1 * 96 + j] }
            XCTAssertEqual(Double(c.scalars[i * 96 + j]), e, accuracy: 1e-4 * max(1, Swift.abs(e)))
        }
    }

    /// FACTS §9: with OPENBLAS_CORETYPE set on an AVX-512 CPU, OpenBLAS must not
    /// fall back to its slow "Prescott" kernels.
    func testBLASRunsOptimizedKernels() throws {
        let env = ProcessInfo.processInfo.environment
        guard BLAS.cpuHasAVX512 else { throw XCTSkip("CPU has no AVX-512F") }
        guard env["OPENBLAS_CORETYPE"] != nil else {
            throw XCTSkip("OPENBLAS_CORETYPE is not set (run through `make test`)")
        }
        XCTAssertNotEqual(BLAS.coreName.lowercased(), "prescott", "OpenBLAS kernel: \(BLAS.coreName)")
        XCTAssertEqual(BLAS.preferredCoreType, "SkylakeX")
    }
}
