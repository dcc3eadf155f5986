import Dispatch
import Foundation
import COpenBLAS

/// The engine's thread budget. BLAS gets all of it for large GEMMs; the engine's
/// own kernels split their work into at most this many chunks. Pools are never
/// nested: inside `parallelFor` everything runs serially and BLAS on one thread.
public enum Threads {
    nonisolated(unsafe) public private(set) static var count: Int = {
        if let s = ProcessInfo.processInfo.environment["TRAINER_THREADS"], let n = Int(s), n > 0 { return n }
        return ProcessInfo.processInfo.activeProcessorCount
    }()
    nonisolated(unsafe) static var insideParallelRegion = false

    /// Sets the thread budget for the engine and for OpenBLAS.
    public static func set(_ n: Int) {
        count = max(1, n)
        openblas_set_num_threads(Int32(count))
    }
}

/// Splits `0..<n` into contiguous chunks of at least `grain` items and runs them
/// on up to `Threads.count` threads. Runs inline when the work is small, when
/// one thread is configured, or when already inside a parallel region.
public func parallelFor(_ n: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
    guard n > 0 else { return }
    let chunks = min(Threads.count, max(1, n / max(grain, 1)))
    if chunks <= 1 || Threads.insideParallelRegion {
        body(0..<n)
        return
    }
    Threads.insideParallelRegion = true
    openblas_set_num_threads(1)
    defer {
        openblas_set_num_threads(Int32(Threads.count))
        Threads.insideParallelRegion = false
    }
    DispatchQueue.concurrentPerform(iterations: chunks) { c in
        let lo = n * c / chunks, hi = n * (c + 1) / chunks
        if lo < hi { body(lo..<hi) }
    }
}

/// Elementwise work below this many values runs on one thread.
let elementwiseGrain = 1 << 15
