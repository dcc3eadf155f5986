import Checkpointing
import COpenBLAS
import Foundation

/// GPTQ (Frantar et al., 2022, arXiv 2210.17323) for one linear layer y = x Wᵀ:
/// quantizes W [rows, columns] column by column, each time spreading the
/// rounding error over the columns not yet quantized so that ‖WX − ŴX‖² stays
/// small on the calibration inputs X.
///
/// - `H = 2XXᵀ` (the mean over the calibration tokens, as in the reference) is
///   accumulated with `addInputs`.
/// - Dead inputs (H_ii = 0: the column never sees a non-zero input) get H_ii = 1
///   and a zero weight column.
/// - Dampening λ = 1 % of the mean diagonal is added to the diagonal; when the
///   Cholesky factorisation still fails, λ is raised tenfold and tried again.
/// - The upper Cholesky factor of H⁻¹ comes from LAPACKE (`spotrf`, `spotri`, `spotrf`).
/// - Columns go in blocks of `blockSize`: inside a block each quantized column's
///   error updates the rest of the block at once (a rank-1 `sger`); the columns
///   after the block get all of its errors in one lazy batch update (`sgemm`).
/// - Activation order quantizes the columns with the largest H_ii first; the
///   groups are then contiguous in that order (`groupIndex` maps them back).
public struct GPTQ {
    public let rows: Int
    public let columns: Int
    /// H = 2/n Σ xxᵀ over the n inputs seen so far, [columns, columns].
    public private(set) var hessian: [Float]
    public private(set) var inputCount = 0

    public init(rows: Int, columns: Int) {
        self.rows = rows; self.columns = columns
        hessian = [Float](repeating: 0, count: columns * columns)
    }

    /// Adds n inputs x [n, columns] (row-major) to H as a running mean:
    /// H ← H·m/(m+n) + 2/(m+n)·XᵀX.
    public mutating func addInputs(_ x: UnsafePointer<Float>, count n: Int) {
        guard n > 0 else { return }
        let total = Float(inputCount + n)
        let keep = Float(inputCount) / total, alpha = 2 / total
        let c = Int32(columns)
        hessian.withUnsafeMutableBufferPointer { h in
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, c, c, Int32(n),
                        alpha, x, c, x, c, keep, h.baseAddress, c)
        }
        inputCount += n
    }

    public struct Result {
        public var matrix: QuantizedMatrix
        /// Ŵ [rows, columns], the dequantized weights.
        public var weight: [Float]
        /// The dampening that made H positive definite.
        public var dampening: Float
        /// Σ (w − ŵ)² / (2 [H⁻¹]_jj²) over all weights: GPTQ's own loss estimate.
        public var loss: Double
        public var deadColumns: Int
    }

    /// Quantizes `weight` [rows, columns] (row-major) with the H gathered so far.
    public func quantize(_ weight: [Float], settings: QuantizationSettings, actOrder: Bool = false,
                         blockSize: Int = 128, relativeDampening: Float = 0.01) throws -> Result {
        precondition(weight.count == rows * columns)
        let n = columns
        var h = hessian
        var w = weight
        var dead = 0
        for j in 0..<n where h[j * n + j] == 0 {
            h[j * n + j] = 1
            for r in 0..<rows { w[r * n + j] = 0 }
            dead += 1
        }
        // perm[k]: the original column quantized k-th.
        let perm = actOrder ? (0..<n).sorted { (h[$0 * n + $0], $1) > (h[$1 * n + $1], $0) } : Array(0..<n)
        if actOrder { h = Self.permuted(h, n: n, perm) }
        let (hinv, damp) = try Self.dampedInverseCholesky(h, n: n, relativeDampening: relativeDampening)

        // Wt [columns, rows]: column k (in quantization order) of W is row k here, contiguous.
        var wt = [Float](repeating: 0, count: n * rows)
        for r in 0..<rows { for k in 0..<n { wt[k * rows + r] = w[r * n + perm[k]] } }
        var codes = [UInt8](repeating: 0, count: n * rows)          // [columns, rows], quantization order
        let groups = settings.groups(columns: n), gs = settings.groupSize
        var scales = [Float](repeating: 0, count: rows * groups), zeros = [UInt8](repeating: 0, count: rows * groups)
        var grids = [QuantizationGrid]()
        var err = [Float](repeating: 0, count: blockSize * rows)    // [block, rows]: (w − ŵ)/[H⁻¹]_jj
        var loss = 0.0

        wt.withUnsafeMutableBufferPointer { wtp in
            hinv.withUnsafeBufferPointer { hp in
                err.withUnsafeMutableBufferPointer { ep in
                    let W = wtp.baseAddress!, Hi = hp.baseAddress!, E = ep.baseAddress!
                    for i1 in stride(from: 0, to: n, by: blockSize) {
                        let i2 = min(i1 + blockSize, n)
                        for j in i1..<i2 {
                            if j % gs == 0 {
                                grids = Self.grids(W + j * rows, rows: rows, count: min(gs, n - j), bits: settings.bits)
                                for r in 0..<rows {
                                    scales[r * groups + j / gs] = grids[r].scale
                                    zeros[r * groups + j / gs] = UInt8(grids[r].zero)
                                }
                            }
                            let d = Hi[j * n + j]
                            let col = W + j * rows, e = E + (j - i1) * rows
                            for r in 0..<rows {
                                let q = grids[r].code(col[r])
                                codes[j * rows + r] = UInt8(q)
                                let wq = grids[r].value(ofCode: q)
                                let diff = col[r] - wq
                                loss += Double(diff * diff) / Double(2 * d * d)
                                e[r] = diff / d
                                col[r] = wq
                            }
                            // The rest of the block: W[:, j+1..<i2] −= err ⊗ H⁻¹[j, j+1..<i2].
                            if j + 1 < i2 {
                                cblas_sger(CblasRowMajor, Int32(i2 - j - 1), Int32(rows), -1,
                                           Hi + j * n + j + 1, 1, e, 1, W + (j + 1) * rows, Int32(rows))
                            }
                        }
                        // Lazy batch update: W[:, i2...] −= Err · H⁻¹[i1..<i2, i2...].
                        if i2 < n {
                            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(n - i2), Int32(rows), Int32(i2 - i1),
                                        -1, Hi + i1 * n + i2, Int32(n), E, Int32(rows), 1, W + i2 * rows, Int32(rows))
                        }
                    }
                }
            }
        }
        // Back to the original column order.
        var q = [UInt8](repeating: 0, count: rows * n), deq = [Float](repeating: 0, count: rows * n)
        var groupIndex = [Int32](repeating: 0, count: n)
        for k in 0..<n {
            let c = perm[k]
            groupIndex[c] = Int32(k / gs)
            for r in 0..<rows { q[r * n + c] = codes[k * rows + r]; deq[r * n + c] = wt[k * rows + r] }
        }
        let m = QuantizedMatrix(rows: rows, columns: n, bits: settings.bits, groups: groups,
                                codes: QuantizedMatrix.pack(q, rows: rows, columns: n, bits: settings.bits),
                                scales: scales, zeros: zeros, groupIndex: groupIndex)
        return Result(matrix: m, weight: deq, dampening: damp, loss: loss, deadColumns: dead)
    }

    /// The grid of each row over `count` consecutive columns starting at `start` ([count, rows] layout).
    static func grids(_ start: UnsafePointer<Float>, rows: Int, count: Int, bits: Int) -> [QuantizationGrid] {
        var lo = [Float](repeating: .infinity, count: rows), hi = [Float](repeating: -.infinity, count: rows)
        for k in 0..<count {
            for r in 0..<rows { let v = start[k * rows + r]; lo[r] = min(lo[r], v); hi[r] = max(hi[r], v) }
        }
        return (0..<rows).map { QuantizationGrid(minimum: lo[$0], maximum: hi[$0], bits: bits) }
    }

    static func permuted(_ h: [Float], n: Int, _ perm: [Int]) -> [Float] {
        var out = [Float](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { out[i * n + j] = h[perm[i] * n + perm[j]] } }
        return out
    }

    /// The upper Cholesky factor U of (H + λI)⁻¹ = UᵀU, with λ = `relativeDampening`
    /// × mean diagonal, raised tenfold (up to six times) while H + λI is not
    /// positive definite. Returns U [n, n] (lower triangle zero) and λ.
    public static func dampedInverseCholesky(_ h: [Float], n: Int, relativeDampening: Float) throws -> (factor: [Float], dampening: Float) {
        let mean = (0..<n).reduce(Float(0)) { $0 + h[$1 * n + $1] } / Float(n)
        var damp = relativeDampening * mean
        for _ in 0..<7 {
            var a = h
            for j in 0..<n { a[j * n + j] += damp }
            if let u = inverseCholeskyUpper(a, n: n) { return (u, damp) }
            damp = damp > 0 ? damp * 10 : max(mean, 1) * 0.01
        }
        throw UsageError("GPTQ", "the Hessian of a \(n)-column layer is not positive definite even with dampening \(damp / 10) "
                         + "(mean diagonal \(mean)); the calibration inputs may hold NaN or Inf")
    }

    /// The upper Cholesky factor of A⁻¹ for a symmetric positive definite A [n, n],
    /// through LAPACKE: A = UᵀU (`spotrf`), A⁻¹ from U (`spotri`), then A⁻¹ = VᵀV
    /// (`spotrf` again). nil when A is not positive definite.
    public static func inverseCholeskyUpper(_ a: [Float], n: Int) -> [Float]? {
        var m = a
        let upper = CChar(UInt8(ascii: "U")), size = Int32(n)
        let ok: Bool = m.withUnsafeMutableBufferPointer { p in
            guard LAPACKE_spotrf(LAPACK_ROW_MAJOR, upper, size, p.baseAddress, size) == 0,
                  LAPACKE_spotri(LAPACK_ROW_MAJOR, upper, size, p.baseAddress, size) == 0,
                  LAPACKE_spotrf(LAPACK_ROW_MAJOR, upper, size, p.baseAddress, size) == 0 else { return false }
            return true
        }
        guard ok, m.allSatisfy({ $0.isFinite }) else { return nil }
        for i in 0..<n { for j in 0..<i { m[i * n + j] = 0 } }
        return m
    }
}
