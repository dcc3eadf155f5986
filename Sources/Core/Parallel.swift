import Foundation
import COpenBLAS
#if canImport(Glibc)
import Glibc
#endif

/// The engine's thread budget, and the one pool that uses it (WorkerPool.swift).
///
/// OpenBLAS always runs on one thread: the engine splits large GEMMs into
/// panels itself (`BLAS.sgemm`) and runs them on its own workers, like every
/// other kernel. Two pools on the same cores (OpenBLAS's workers spin-waiting
/// between GEMMs while the engine's elementwise chunks run) cost a sixth of
/// the CPU time at two threads.
///
/// The budget starts from `TRAINER_THREADS` when set (else the number of active
/// cores).
public enum Threads {
    nonisolated(unsafe) public private(set) static var count: Int = {
        openblas_set_num_threads(1)
        return Threads.fromEnvironment ?? ProcessInfo.processInfo.activeProcessorCount
    }()
    /// Whether the current thread is running a parallelFor chunk (per thread:
    /// worker threads are marked while they run one).
    public static var insideParallelRegion: Bool {
        get { pthread_getspecific(regionKey) != nil }
        set { pthread_setspecific(regionKey, newValue ? UnsafeRawPointer(bitPattern: 1) : nil) }
    }

    /// `TRAINER_THREADS` as a positive integer, or nil when unset or invalid.
    public static var fromEnvironment: Int? {
        guard let s = ProcessInfo.processInfo.environment["TRAINER_THREADS"], let n = Int(s), n > 0 else { return nil }
        return n
    }

    /// Sets the engine's thread budget (OpenBLAS stays at one thread).
    public static func set(_ n: Int) {
        ensureConfigured()
        count = max(1, n)
    }

    /// The workers for the current budget (made on first use, remade when the budget changes).
    nonisolated(unsafe) private static var currentPool: WorkerPool?
    static var pool: WorkerPool {
        if let p = currentPool, p.workers == count - 1 { return p }
        currentPool?.stop()
        let p = WorkerPool(workers: count - 1)
        currentPool = p
        return p
    }

    /// The number of threads OpenBLAS uses for one call (always 1).
    public static var blasThreads: Int { Int(openblas_get_num_threads()) }

    /// Forces the lazy initialisation above (so OpenBLAS is held at one thread).
    @inline(__always)
    public static func ensureConfigured() { _ = count }
}

/// Splits `0..<n` into contiguous chunks of at least `grain` items and runs them
/// on up to `Threads.count` threads. Runs inline when the work is small, when
/// one thread is configured, or when already inside a parallel region (so
/// pools never nest: a chunk that calls parallelFor or BLAS stays on its thread).
public func parallelFor(_ n: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
    guard n > 0 else { return }
    let chunks = min(Threads.count, max(1, n / max(grain, 1)))
    if chunks <= 1 || Threads.insideParallelRegion {
        body(0..<n)
        return
    }
    Threads.pool.run(chunks) { c in
        let lo = n * c / chunks, hi = n * (c + 1) / chunks
        if lo < hi { body(lo..<hi) }
    }
}

/// Thread-local slot for `Threads.insideParallelRegion`.
private let regionKey: pthread_key_t = {
    var key = pthread_key_t()
    if pthread_key_create(&key, nil) != 0 { fatalError("cannot create the parallel-region thread key") }
    return key
}()

