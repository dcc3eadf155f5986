import Dispatch
import Foundation
import COpenBLAS
#if canImport(Glibc)
import Glibc
#endif

/// The engine's thread budget. BLAS gets all of it for large GEMMs; the engine's
/// own kernels split their work into at most this many chunks. Pools are never
/// nested: inside `parallelFor` everything runs serially and BLAS on one thread.
///
/// The budget starts from `TRAINER_THREADS` when set (else the number of active
/// cores) and is handed to OpenBLAS before the engine's first GEMM.
public enum Threads {
    nonisolated(unsafe) public private(set) static var count: Int = {
        let n = Threads.fromEnvironment ?? ProcessInfo.processInfo.activeProcessorCount
        openblas_set_num_threads(Int32(n))
        return n
    }()
    /// Whether the current thread is running a parallelFor chunk (per thread:
    /// worker threads are marked while they run one).
    static var insideParallelRegion: Bool {
        get { pthread_getspecific(regionKey) != nil }
        set { pthread_setspecific(regionKey, newValue ? UnsafeRawPointer(bitPattern: 1) : nil) }
    }

    /// parallelFor regions running now, on any thread. BLAS is held at one
    /// thread while any is active (OpenBLAS's thread count is process-wide).
    private static let regionLock = NSLock()
    nonisolated(unsafe) private static var activeRegions = 0

    static func enterRegion() {
        regionLock.lock()
        if activeRegions == 0 { openblas_set_num_threads(1) }
        activeRegions += 1
        regionLock.unlock()
    }

    static func leaveRegion() {
        regionLock.lock()
        activeRegions -= 1
        if activeRegions == 0 { openblas_set_num_threads(Int32(count)) }
        regionLock.unlock()
    }

    /// `TRAINER_THREADS` as a positive integer, or nil when unset or invalid.
    public static var fromEnvironment: Int? {
        guard let s = ProcessInfo.processInfo.environment["TRAINER_THREADS"], let n = Int(s), n > 0 else { return nil }
        return n
    }

    /// Sets the thread budget for the engine and for OpenBLAS.
    public static func set(_ n: Int) {
        count = max(1, n)
        regionLock.lock()
        if activeRegions == 0 { openblas_set_num_threads(Int32(count)) }
        regionLock.unlock()
    }

    /// The number of threads OpenBLAS will use for the next call.
    public static var blasThreads: Int { Int(openblas_get_num_threads()) }

    /// Forces the lazy initialisation above (so OpenBLAS follows `TRAINER_THREADS`).
    @inline(__always)
    static func ensureConfigured() { _ = count }
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
    Threads.enterRegion()                     // BLAS calls in `body` run on the calling worker only
    defer { Threads.leaveRegion() }
    DispatchQueue.concurrentPerform(iterations: chunks) { c in
        let lo = n * c / chunks, hi = n * (c + 1) / chunks
        guard lo < hi else { return }
        Threads.insideParallelRegion = true
        defer { Threads.insideParallelRegion = false }
        body(lo..<hi)
    }
}

/// Thread-local slot for `Threads.insideParallelRegion`.
private let regionKey: pthread_key_t = {
    var key = pthread_key_t()
    if pthread_key_create(&key, nil) != 0 { fatalError("cannot create the parallel-region thread key") }
    return key
}()

/// Elementwise work below this many values runs on one thread.
let elementwiseGrain = 1 << 15
