import Foundation
import Core
import COpenBLAS

/// What OpenBLAS runs on, and the project's calls into it.
///
/// Debian's OpenBLAS 0.3.21 does not recognise recent Xeons and falls back to
/// its "Prescott" kernels (about 5x slower sgemm), and some environments preset
/// slower kernels than the CPU can run. The kernel is chosen when the library
/// loads, from `OPENBLAS_CORETYPE`: `BLASKernel.selectAtStartUp` decides it and
/// re-executes the program when it changes.
public enum BLAS {
    /// The kernel family OpenBLAS selected, e.g. "SkylakeX" or "Prescott".
    public static var coreName: String {
        guard let c = openblas_get_corename() else { return "unknown" }
        return String(cString: c)
    }

    public static var configInfo: String {
        guard let c = openblas_get_config() else { return "" }
        return String(cString: c)
    }

    /// True when the CPU has AVX-512F (so the SkylakeX kernels are safe and fast).
    public static var cpuHasAVX512: Bool { BLASKernel.cpuFlags.contains("avx512f") }

    /// The fastest kernel family this CPU can run, or nil to leave OpenBLAS's choice.
    public static var preferredCoreType: String? { BLASKernel.bestCore(flags: BLASKernel.cpuFlags) }

    /// The kernel in force and why, for run and bench headers: e.g. "SkylakeX
    /// (checked at start-up: faster than Haswell in the environment)".
    public static var kernelDescription: String {
        let reason = BLASKernel.decidedReason
            ?? (ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] != nil
                ? "OPENBLAS_CORETYPE in the environment" : "OpenBLAS's own choice")
        return "\(coreName) (\(reason))"
    }

    /// C = alpha * op(A) * op(B) + beta * C, all row-major.
    ///
    /// A product large enough to pay for a thread hand-off is cut into panels
    /// of C's rows (or, when C is short and wide, of its columns) that run on
    /// the engine's workers, each a single-threaded OpenBLAS call. Inside a
    /// parallel region it stays on the calling thread.
    @inline(__always)
    public static func sgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
                      _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
                      _ b: UnsafePointer<Float>, _ ldb: Int,
                      _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        if m == 0 || n == 0 { return }
        Threads.ensureConfigured()
        if k == 0 {
            if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            else if beta != 1 { for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } } }
            return
        }
        let panels = gemmPanels(m, n, k)
        if panels.count <= 1 {
            sgemmCall(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        } else if panels.rows {
            // Rows [r0, r1) of C need rows r0..<r1 of op(A): row offsets of A, or
            // column offsets when A is stored transposed.
            parallelFor(panels.count) { range in
                for p in range {
                    let r0 = panelStart(p, panels.count, m), r1 = panelStart(p + 1, panels.count, m)
                    sgemmCall(transA, transB, r1 - r0, n, k, alpha, a + (transA ? r0 : r0 * lda), lda,
                              b, ldb, beta, c + r0 * ldc, ldc)
                }
            }
        } else {
            parallelFor(panels.count) { range in
                for p in range {
                    let c0 = panelStart(p, panels.count, n), c1 = panelStart(p + 1, panels.count, n)
                    sgemmCall(transA, transB, m, c1 - c0, k, alpha, a, lda,
                              b + (transB ? c0 * ldb : c0), ldb, beta, c + c0, ldc)
                }
            }
        }
    }

    @inline(__always)
    private static func sgemmCall(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
                                  _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
                                  _ b: UnsafePointer<Float>, _ ldb: Int,
                                  _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        func call() {
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
        if GEMMProfile.isRecording { GEMMProfile.timed(transA, transB, m, n, k, beta: beta, call) } else { call() }
    }

    /// How to cut an m × n × k product: one panel per thread when it is worth a
    /// hand-off, along rows when there are enough of them, else along columns.
    private static func gemmPanels(_ m: Int, _ n: Int, _ k: Int) -> (count: Int, rows: Bool) {
        let threads = Threads.count
        guard threads > 1, !Threads.insideParallelRegion, m * n * k >= parallelGEMMVolume else { return (1, true) }
        if m >= threads * panelAlignment * 2 { return (threads, true) }
        if n >= threads * panelAlignment * 2 { return (threads, false) }
        return (1, true)
    }

    /// Start of panel `p` of `parts` over `0..<size`, on multiples of
    /// `panelAlignment` (whole register blocks of the kernel) except at the end.
    @inline(__always)
    private static func panelStart(_ p: Int, _ parts: Int, _ size: Int) -> Int {
        p >= parts ? size : Swift.min(size, (size * p / parts + panelAlignment / 2) / panelAlignment * panelAlignment)
    }

    /// A multiple of the rows per register block of OpenBLAS's sgemm kernels
    /// (16 on SkylakeX, 12 on Haswell and Zen), so that a row panel computes
    /// every element exactly as the whole product does.
    private static let panelAlignment = 48
    /// m·n·k from which a product is split across threads (about 0.1 ms on one thread).
    private static let parallelGEMMVolume = 1 << 23

    /// Raw sgemm on plain buffers, for the benchmark's baseline.
    public static func rawSgemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                c: UnsafeMutablePointer<Float>) {
        sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
    }
}
