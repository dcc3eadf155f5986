import Core
#if canImport(Glibc)
import Glibc
#endif

/// A frozen matrix [rows, columns] stored in bfloat16: the upper 16 bits of each
/// float32 (rounded to nearest, ties to even), half the memory.
///
/// Products never hold its float32 copy whole: `linear` widens one panel of rows
/// at a time (about 4 MiB) into a scratch buffer and runs sgemm on it, so the
/// GEMMs stay float32 with float32 accumulation.
public final class BF16Matrix {
    public let rows: Int
    public let columns: Int
    let bits: UnsafeMutablePointer<UInt16>

    /// A zero matrix.
    public init(rows: Int, columns: Int) {
        require(rows >= 0 && columns >= 0, "bf16 matrix of \(rows) × \(columns)")
        self.rows = rows; self.columns = columns
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, max(rows * columns, 1) * 2) == 0, let raw else {
            fatalError("out of memory allocating a bf16 matrix of \(rows) × \(columns)")
        }
        bits = raw.bindMemory(to: UInt16.self, capacity: max(rows * columns, 1))
        bits.initialize(repeating: 0, count: rows * columns)
    }

    /// The values of a float32 matrix, rounded to bfloat16.
    public convenience init(_ t: Tensor) {
        require(t.rank == 2, "a bf16 matrix needs a rank-2 tensor, got \(t.shape)")
        self.init(rows: t.shape[0], columns: t.shape[1])
        store(t.pointer, count: t.count)
    }

    deinit { free(bits) }

    public var shape: [Int] { [rows, columns] }
    public var bytes: Int { rows * columns * 2 }

    /// Overwrites every value from `count` float32 values (row-major).
    public func store(_ values: UnsafePointer<Float>, count: Int) {
        require(count == rows * columns, "storing \(count) values into a bf16 matrix of \(rows) × \(columns)")
        parallelFor(count, grain: 1 << 16) { range in
            for i in range { self.bits[i] = BF16Matrix.narrow(values[i]) }
        }
    }

    /// Rows `range` widened to float32 into `out` (row-major, `columns` per row).
    public func widen(rows range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let base = range.lowerBound * columns, n = range.count * columns
        let source = UnsafeRawPointer(bits + base).assumingMemoryBound(to: UInt16.self)
        out.withMemoryRebound(to: UInt32.self, capacity: n) { o in
            for i in 0..<n { o[i] = UInt32(source[i]) << 16 }
        }
    }

    /// The whole matrix in float32.
    public func tensor() -> Tensor {
        let t = Tensor.empty(shape)
        parallelFor(rows, grain: max(1, (1 << 16) / max(columns, 1))) { r in self.widen(rows: r, into: t.pointer + r.lowerBound * self.columns) }
        return t
    }

    @inline(__always)
    public static func narrow(_ x: Float) -> UInt16 {
        let b = x.bitPattern
        if x.isNaN { return UInt16(b >> 16) | 0x40 }                  // stays a (quiet) NaN
        return UInt16((b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
    }

    /// Rows per widened panel: about 4 MiB of float32.
    var panelRows: Int { max(1, min(rows, (1 << 20) / max(columns, 1))) }
}

/// y = x·Wᵀ + b with a frozen bfloat16 W [out, in]: x [..., in] → [..., out].
/// Gradients flow to x (and b); W, being frozen, gets none.
public func linear(_ x: Tensor, _ weight: BF16Matrix, _ bias: Tensor? = nil) -> Tensor {
    let (n, k) = (weight.rows, weight.columns)
    require(x.rank >= 1 && x.shape.last == k, "linear: input \(x.shape) for a bf16 weight \(weight.shape)")
    if let bias { require(bias.count == n, "linear: bias \(bias.shape) for \(n) outputs") }
    let rows = x.count / Swift.max(k, 1)
    let out = Tensor.empty(Array(x.shape.dropLast()) + [n])            // [..., out]
    if let bias { for r in 0..<rows { (out.pointer + r * n).update(from: bias.pointer, count: n) } }
    let panel = weight.panelRows
    let scratch = Storage(count: panel * k)
    for start in stride(from: 0, to: n, by: panel) {                   // out[:, panel] (+)= x · W[panel]ᵀ
        let end = Swift.min(n, start + panel)
        weight.widen(rows: start..<end, into: scratch.pointer)
        BLAS.sgemm(false, true, rows, end - start, k, 1, x.pointer, k, scratch.pointer, k,
                   bias == nil ? 0 : 1, out.pointer + start, n)
    }
    let needsBias = bias?.requiresGrad ?? false, needsX = x.requiresGrad, xShape = x.shape
    return out.recorded([x] + (bias.map { [$0] } ?? [])) { g in         // g [..., out]
        var gx: Tensor? = nil
        if needsX {                                                    // dx = g · W, one panel of W's rows at a time
            let t = Tensor.empty(xShape)
            let scratch = Storage(count: panel * k)
            for start in stride(from: 0, to: n, by: panel) {
                let end = Swift.min(n, start + panel)
                weight.widen(rows: start..<end, into: scratch.pointer)
                BLAS.sgemm(false, false, rows, k, end - start, 1, g.pointer + start, n, scratch.pointer, k,
                           start == 0 ? 0 : 1, t.pointer, k)
            }
            gx = t
        }
        return [gx] + (bias == nil ? [] : [needsBias ? g.reshaped([rows, n]).sum(axis: 0) : nil])
    }
}
