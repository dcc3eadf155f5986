import Foundation
import Core

/// Records every `cblas_sgemm` call the engine makes while it is on: the
/// shape, the transposes, whether C is accumulated into, and the time.
///
/// `trainer bench --preset P --gemm-profile` turns it on for one extra step and
/// prints `GEMMProfile.Report`, which tells how much of a step is BLAS time and
/// at which shapes it goes. Off (the default) it costs one branch per call.
public enum GEMMProfile {
    /// One distinct call shape and what it cost over the recording.
    public struct Row: Equatable {
        public var transA: Bool, transB: Bool
        public var m: Int, n: Int, k: Int
        /// beta ≠ 0: the product is added to C instead of overwriting it.
        public var accumulates: Bool
        public var calls: Int
        public var seconds: Double
        public var flops: Double { 2 * Double(m) * Double(n) * Double(k) * Double(calls) }
        public var gflops: Double { seconds > 0 ? flops / seconds / 1e9 : 0 }
        /// "NT 1024×688×256": op(A) is m × k, op(B) is k × n.
        public var label: String { "\(transA ? "T" : "N")\(transB ? "T" : "N") \(m)×\(n)×\(k)\(accumulates ? " +C" : "")" }
    }

    /// All calls of a recording, slowest shapes first.
    public struct Report {
        public var rows: [Row]
        public var calls: Int { rows.reduce(0) { $0 + $1.calls } }
        public var flops: Double { rows.reduce(0) { $0 + $1.flops } }
        /// Time inside sgemm, summed over the threads that ran the calls.
        public var seconds: Double { rows.reduce(0) { $0 + $1.seconds } }

        /// A text table of the `top` slowest shapes (all by default), then the
        /// totals against `stepSeconds`, the wall time of what was recorded.
        public func table(top: Int = .max, stepSeconds: Double) -> [String] {
            func pad(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
            var lines = ["sgemm calls by shape (op(A) m×k, op(B) k×n; +C: accumulated into C)",
                         "  " + "op  m×n×k".padding(toLength: 26, withPad: " ", startingAt: 0)
                            + pad("calls", 7) + pad("ms", 10) + pad("GFLOP/s", 10)]
            for r in rows.prefix(top) {
                lines.append("  " + r.label.padding(toLength: 26, withPad: " ", startingAt: 0) + pad("\(r.calls)", 7)
                             + pad(String(format: "%.2f", r.seconds * 1e3), 10) + pad(String(format: "%.1f", r.gflops), 10))
            }
            if rows.count > top { lines.append("  … and \(rows.count - top) more") }
            lines.append(String(format: "sgemm: %d calls, %.2f GFLOP, %.1f ms (%.0f GFLOP/s), %.0f %% of the %.1f ms step%@",
                                calls, flops / 1e9, seconds * 1e3, seconds > 0 ? flops / seconds / 1e9 : 0,
                                100 * seconds / stepSeconds, stepSeconds * 1e3,
                                Threads.count > 1 ? " (times summed over \(Threads.count) threads)" : ""))
            return lines
        }
    }

    private struct Key: Hashable {
        var transA: Bool, transB: Bool, m: Int, n: Int, k: Int, accumulates: Bool
    }

    nonisolated(unsafe) private static var recording = false
    nonisolated(unsafe) private static var table: [Key: (calls: Int, nanoseconds: UInt64)] = [:]
    private static let lock = NSLock()

    /// Whether calls are being recorded.
    @inline(__always)
    static var isRecording: Bool { recording }

    /// Clears the table and starts recording. Start and stop between steps, not
    /// while products run on the workers (the flag itself is not synchronised).
    public static func start() {
        lock.lock(); table = [:]; recording = true; lock.unlock()
    }

    /// Stops recording and returns what was recorded.
    public static func stop() -> Report {
        lock.lock(); defer { lock.unlock() }
        recording = false
        let rows = table.map { key, value in
            Row(transA: key.transA, transB: key.transB, m: key.m, n: key.n, k: key.k, accumulates: key.accumulates,
                calls: value.calls, seconds: Double(value.nanoseconds) * 1e-9)
        }
        return Report(rows: rows.sorted { ($0.seconds, $0.label) > ($1.seconds, $1.label) })
    }

    /// Runs `call` and records it under its shape (several threads may record at once).
    static func timed(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, beta: Float, _ call: () -> Void) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        call()
        let elapsed = DispatchTime.now().uptimeNanoseconds - t0
        let key = Key(transA: transA, transB: transB, m: m, n: n, k: k, accumulates: beta != 0)
        lock.lock()
        let old = table[key] ?? (0, 0)
        table[key] = (old.calls + 1, old.nanoseconds + elapsed)
        lock.unlock()
    }
}
