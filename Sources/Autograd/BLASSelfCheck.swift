import Foundation
import Core
import COpenBLAS

/// A short self-test of the OpenBLAS kernels in force: every routine the
/// project calls, in every form it calls them, against a simple reference.
///
/// sgemm runs in all four transpose combinations (row-major, as the engine
/// calls it) over odd shapes, padded leading dimensions and several alpha/beta
/// pairs (beta 0 over a C full of NaN, which must be overwritten, not scaled);
/// sgemv runs both ways; spotrf and spotri (GPTQ's Cholesky inverse) run on
/// odd-sized positive definite matrices. The references are triple loops in
/// Double. A wrong kernel is off by the size of the result, so the tolerance
/// (a few float roundings per term of the sum) is tight without being flaky.
/// It takes tens of milliseconds.
public enum BLASSelfCheck {
    public struct Report: Sendable {
        /// What failed, one line each; empty when everything passed.
        public var failures: [String] = []
        /// How many products and factorisations were compared.
        public var cases = 0
        public var seconds = 0.0
        public var passed: Bool { failures.isEmpty }
    }

    /// The sizes every GEMM dimension runs through (each with each), then a few
    /// larger products whose sides are not multiples of any register block.
    static let sizes = [1, 7, 17, 33, 129]
    static let larger: [(Int, Int, Int)] = [(257, 129, 65), (300, 211, 150), (64, 64, 64), (97, 513, 31)]
    static let alphaBeta: [(Float, Float)] = [(1, 0), (1, 1), (0.5, -2), (-1.5, 0.25)]

    public static func run() -> Report {
        Threads.ensureConfigured()
        let start = DispatchTime.now().uptimeNanoseconds
        var report = Report()
        var rng: UInt64 = 0x9E37_79B9_7F4A_7C15
        var index = 0
        for m in sizes { for n in sizes { for k in sizes {
            for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
                let (alpha, beta) = alphaBeta[index % alphaBeta.count]
                checkGEMM(ta, tb, m, n, k, alpha, beta, pad: index % 3, rng: &rng, into: &report)
                index += 1
            }
        } } }
        for (m, n, k) in larger {
            for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
                let (alpha, beta) = alphaBeta[index % alphaBeta.count]
                checkGEMM(ta, tb, m, n, k, alpha, beta, pad: index % 3, rng: &rng, into: &report)
                index += 1
            }
        }
        for (m, n) in [(1, 1), (7, 33), (129, 17), (257, 65), (64, 300)] {
            for t in [false, true] {
                let (alpha, beta) = alphaBeta[index % alphaBeta.count]
                checkGEMV(t, m, n, alpha, beta, rng: &rng, into: &report)
                index += 1
            }
        }
        for size in [1, 7, 33, 129] { checkCholeskyInverse(size, rng: &rng, into: &report) }
        report.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return report
    }

    private static func next(_ state: inout UInt64) -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int32(truncatingIfNeeded: state >> 32)) / Float(Int32.max)
    }

    private static func random(_ count: Int, _ rng: inout UInt64) -> [Float] {
        (0..<count).map { _ in next(&rng) }
    }

    /// Float rounding allowance for a sum of `terms` products whose magnitudes add to `scale`.
    private static func tolerance(terms: Int, scale: Double) -> Double {
        4 * Double(Float.ulpOfOne) * Double(terms + 2) * scale + 1e-30
    }

    private static func checkGEMM(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int,
                                  _ alpha: Float, _ beta: Float, pad: Int,
                                  rng: inout UInt64, into report: inout Report) {
        // Stored shapes: A is m×k (k×m when transposed), B is k×n (n×k), C is m×n.
        let aRows = ta ? k : m, aCols = ta ? m : k
        let bRows = tb ? n : k, bCols = tb ? k : n
        let lda = aCols + pad, ldb = bCols + pad, ldc = n + pad
        let a = random(aRows * lda, &rng), b = random(bRows * ldb, &rng)
        var c = beta == 0 ? [Float](repeating: .nan, count: m * ldc) : random(m * ldc, &rng)
        let c0 = c
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, &c, Int32(ldc))
        report.cases += 1
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0, scale = 0.0
                for p in 0..<k {
                    let x = Double(ta ? a[p * lda + i] : a[i * lda + p]), y = Double(tb ? b[j * ldb + p] : b[p * ldb + j])
                    sum += x * y
                    scale += Swift.abs(x * y)
                }
                let prior = beta == 0 ? 0 : Double(beta) * Double(c0[i * ldc + j])
                let expected = Double(alpha) * sum + prior
                let got = Double(c[i * ldc + j])
                let allowed = tolerance(terms: k, scale: Swift.abs(Double(alpha)) * scale + Swift.abs(prior))
                if !got.isFinite || Swift.abs(got - expected) > allowed {
                    report.failures.append("sgemm \(ta ? "T" : "N")\(tb ? "T" : "N") \(m)×\(n)×\(k) alpha \(alpha) beta \(beta): "
                                           + "C[\(i), \(j)] = \(got), expected \(expected)")
                    return
                }
            }
            // Padding between rows of C is not part of the result: it must be untouched.
            for j in n..<ldc where !(c[i * ldc + j].bitPattern == c0[i * ldc + j].bitPattern) {
                report.failures.append("sgemm \(ta ? "T" : "N")\(tb ? "T" : "N") \(m)×\(n)×\(k): wrote C[\(i), \(j)] outside the result")
                return
            }
        }
    }

    private static func checkGEMV(_ t: Bool, _ m: Int, _ n: Int, _ alpha: Float, _ beta: Float,
                                  rng: inout UInt64, into report: inout Report) {
        // A is m×n row-major; y = alpha·op(A)·x + beta·y.
        let lda = n + 1
        let a = random(m * lda, &rng)
        let xCount = t ? m : n, yCount = t ? n : m
        let x = random(xCount, &rng)
        var y = beta == 0 ? [Float](repeating: .nan, count: yCount) : random(yCount, &rng)
        let y0 = y
        cblas_sgemv(CblasRowMajor, t ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(lda),
                    x, 1, beta, &y, 1)
        report.cases += 1
        for i in 0..<yCount {
            var sum = 0.0, scale = 0.0
            for p in 0..<xCount {
                let v = Double(t ? a[p * lda + i] : a[i * lda + p]) * Double(x[p])
                sum += v
                scale += Swift.abs(v)
            }
            let prior = beta == 0 ? 0 : Double(beta) * Double(y0[i])
            let expected = Double(alpha) * sum + prior
            let got = Double(y[i])
            if !got.isFinite || Swift.abs(got - expected) > tolerance(terms: xCount, scale: Swift.abs(Double(alpha)) * scale + Swift.abs(prior)) {
                report.failures.append("sgemv \(t ? "T" : "N") \(m)×\(n) alpha \(alpha) beta \(beta): y[\(i)] = \(got), expected \(expected)")
                return
            }
        }
    }

    /// spotrf then spotri on a positive definite matrix, as GPTQ calls them
    /// (row-major, upper triangle): U must satisfy UᵀU = H, and the inverse H⁻¹·H = I.
    private static func checkCholeskyInverse(_ size: Int, rng: inout UInt64, into report: inout Report) {
        let g = random(size * size, &rng)
        var h = [Float](repeating: 0, count: size * size)
        for i in 0..<size { for j in 0..<size {
            var s = 0.0
            for p in 0..<size { s += Double(g[i * size + p]) * Double(g[j * size + p]) }
            h[i * size + j] = Float(s / Double(size)) + (i == j ? 1 : 0)
        } }
        let upper = CChar(UInt8(ascii: "U"))
        var f = h
        report.cases += 2
        guard LAPACKE_spotrf(LAPACK_ROW_MAJOR, upper, Int32(size), &f, Int32(size)) == 0 else {
            report.failures.append("spotrf \(size)×\(size): reported failure on a positive definite matrix"); return
        }
        for i in 0..<size { for j in i..<size {
            var s = 0.0, scale = 0.0
            for p in 0...i { let v = Double(f[p * size + i]) * Double(f[p * size + j]); s += v; scale += Swift.abs(v) }
            let expected = Double(h[i * size + j])
            if !s.isFinite || Swift.abs(s - expected) > 4 * tolerance(terms: size, scale: scale) {
                report.failures.append("spotrf \(size)×\(size): (UᵀU)[\(i), \(j)] = \(s), expected \(expected)"); return
            }
        } }
        guard LAPACKE_spotri(LAPACK_ROW_MAJOR, upper, Int32(size), &f, Int32(size)) == 0 else {
            report.failures.append("spotri \(size)×\(size): reported failure"); return
        }
        // spotri fills the upper triangle of the inverse; H is well conditioned (eigenvalues ≥ 1).
        func inverse(_ i: Int, _ j: Int) -> Double { Double(i <= j ? f[i * size + j] : f[j * size + i]) }
        for i in 0..<size { for j in 0..<size {
            var s = 0.0, scale = 0.0
            for p in 0..<size { let v = inverse(i, p) * Double(h[p * size + j]); s += v; scale += Swift.abs(v) }
            let expected = i == j ? 1.0 : 0.0
            if !s.isFinite || Swift.abs(s - expected) > 1e-4 * Swift.max(1, scale) {
                report.failures.append("spotri \(size)×\(size): (H⁻¹H)[\(i), \(j)] = \(s), expected \(expected)"); return
            }
        } }
    }
}
