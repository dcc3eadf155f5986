import Autograd
import Foundation
import Core

/// Times the engine's `matmul` against raw `cblas_sgemm` at the same shapes.
///
/// The engine side is the public op as models call it (output allocation,
/// shape checks and the tape's "does anything need a gradient?" test
/// included, no gradient recorded); the raw side is one sgemm into a
/// preallocated buffer. Each shape runs the two alternately, and the best time
/// of each is kept, which is the least disturbed by other processes.
public enum MatmulBenchmark {
    /// One GEMM shape: C [m, n] = A [m, k] · op(B), with B stored [n, k] when
    /// `transposeB` (the Linear layout).
    public struct Shape: Sendable {
        public let label: String
        public let m, n, k: Int
        public let transposeB: Bool
        public init(_ label: String, m: Int, n: Int, k: Int, transposeB: Bool = false) {
            self.label = label; self.m = m; self.n = n; self.k = k; self.transposeB = transposeB
        }
        public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
    }

    public struct Row: Sendable {
        public let shape: Shape
        public let engineSeconds: Double
        public let rawSeconds: Double
        public var engineGFLOPS: Double { shape.flops / engineSeconds / 1e9 }
        public var rawGFLOPS: Double { shape.flops / rawSeconds / 1e9 }
        /// Engine throughput as a fraction of raw sgemm (1 = no overhead).
        public var ratio: Double { rawSeconds / engineSeconds }
    }

    public static let defaultShapes: [Shape] = [
        Shape("square", m: 1024, n: 1024, k: 1024),
        Shape("square", m: 512, n: 512, k: 512),
        Shape("wide", m: 2048, n: 2048, k: 512),
        Shape("linear x·Wᵀ", m: 4096, n: 1024, k: 1024, transposeB: true),
        Shape("mlp up x·Wᵀ", m: 2048, n: 2816, k: 1024, transposeB: true),
        Shape("small head", m: 256, n: 256, k: 64),
    ]

    /// Runs every shape for about `secondsPerShape` (at least `minRepeats` rounds).
    public static func run(shapes: [Shape] = defaultShapes, secondsPerShape: Double = 1,
                           minRepeats: Int = 3) -> [Row] {
        shapes.map { measure($0, seconds: secondsPerShape, minRepeats: minRepeats) }
    }

    static func measure(_ s: Shape, seconds: Double, minRepeats: Int) -> Row {
        var rng = RNG(seed: 1)
        let a = Tensor.uniform([s.m, s.k], low: -1, high: 1, rng: &rng)
        let b = Tensor.uniform(s.transposeB ? [s.n, s.k] : [s.k, s.n], low: -1, high: 1, rng: &rng)
        let c = Tensor.zeros([s.m, s.n])
        func engine() { _ = matmul(a, b, transposeB: s.transposeB) }
        func raw() {
            BLAS.sgemm(false, s.transposeB, s.m, s.n, s.k, 1, a.pointer, s.k, b.pointer,
                       s.transposeB ? s.k : s.n, 0, c.pointer, s.n)
        }
        engine(); raw()                               // warm caches, allocator and BLAS threads
        var bestEngine = Double.infinity, bestRaw = Double.infinity
        let start = monotonicSeconds()
        var rounds = 0
        while rounds < minRepeats || monotonicSeconds() - start < seconds {
            bestEngine = min(bestEngine, time(engine))
            bestRaw = min(bestRaw, time(raw))
            rounds += 1
        }
        return Row(shape: s, engineSeconds: bestEngine, rawSeconds: bestRaw)
    }
}

/// Seconds on a monotonic clock.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Wall time of one call of `body`, in seconds.
@inline(never)
func time(_ body: () -> Void) -> Double {
    let t0 = monotonicSeconds()
    body()
    return monotonicSeconds() - t0
}
