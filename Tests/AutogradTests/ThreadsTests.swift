import XCTest
import Foundation
import Autograd
import Core

final class ThreadsTests: XCTestCase {
    /// A parallelFor inside another runs inline: one call, the whole range, on
    /// the calling worker (pools never nest).
    func testNestedParallelForRunsInline() {
        let saved = Threads.count
        defer { Threads.set(saved) }
        Threads.set(2)
        let lock = NSLock()
        var innerCalls: [(outer: pthread_t, inner: pthread_t, range: Range<Int>)] = []
        var covered = [Int](repeating: 0, count: 100)
        parallelFor(100, grain: 10) { outer in
            let me = pthread_self()
            parallelFor(50, grain: 1) { inner in
                lock.lock(); innerCalls.append((me, pthread_self(), inner)); lock.unlock()
            }
            lock.lock(); for i in outer { covered[i] += 1 }; lock.unlock()
        }
        XCTAssertEqual(covered, [Int](repeating: 1, count: 100), "every index exactly once")
        XCTAssertEqual(innerCalls.count, 2, "one inner call per outer chunk")
        for c in innerCalls {
            XCTAssertEqual(c.range, 0..<50)
            XCTAssertNotEqual(pthread_equal(c.outer, c.inner), 0, "inner work stays on the outer worker")
        }
    }

    /// Thousands of back-to-back loops of every size, at several budgets: each
    /// index is covered exactly once per loop, the work is shared between
    /// threads, and changing the budget replaces the workers.
    func testManyShortLoopsCoverEveryIndexOnce() {
        let saved = Threads.count
        defer { Threads.set(saved) }
        for threads in [2, 3, 1, 2] {
            Threads.set(threads)
            let lock = NSLock()
            var threadsSeen = Set<UInt>()
            for round in 0..<3000 {
                let n = 1 + round % 37
                var covered = [Int](repeating: 0, count: n)
                covered.withUnsafeMutableBufferPointer { cov in
                    let cov = cov
                    parallelFor(n, grain: 1) { range in
                        for i in range { cov[i] += 1 }           // chunks own disjoint ranges
                        if round % 100 == 0 {                       // a chunk long enough to be shared
                            usleep(200)
                            lock.lock(); threadsSeen.insert(UInt(pthread_self())); lock.unlock()
                        }
                    }
                }
                if covered != [Int](repeating: 1, count: n) {
                    XCTFail("loop \(round) of \(n) at \(threads) threads covered \(covered)"); return
                }
            }
            if threads == 1 { XCTAssertEqual(threadsSeen.count, 1) }
            else { XCTAssertGreaterThan(threadsSeen.count, 1, "the work is shared at \(threads) threads") }
        }
    }

    /// Loops issued at the same moment from two threads (not nested) both
    /// complete correctly: the second runs on its caller.
    func testLoopsFromTwoThreadsAtOnce() {
        let saved = Threads.count
        defer { Threads.set(saved) }
        Threads.set(2)
        parallelFor(2, grain: 1) { _ in }                        // make the workers first
        final class Totals: @unchecked Sendable {
            let lock = NSLock()
            var sums = [0, 0]
        }
        let totals = Totals()
        let group = DispatchGroup()
        for t in 0..<2 {
            group.enter()
            Thread {
                var total = 0
                let lock = NSLock()
                for _ in 0..<500 {
                    parallelFor(64, grain: 1) { range in
                        let s = range.reduce(0, +)
                        lock.lock(); total += s; lock.unlock()
                    }
                }
                totals.lock.lock(); totals.sums[t] = total; totals.lock.unlock()
                group.leave()
            }.start()
        }
        group.wait()
        XCTAssertEqual(totals.sums, [500 * 2016, 500 * 2016])
    }

    /// OpenBLAS never runs its own threads (the engine splits GEMMs itself),
    /// inside a parallel region or not.
    func testBLASStaysSingleThreaded() {
        let saved = Threads.count
        defer { Threads.set(saved) }
        Threads.set(2)
        XCTAssertEqual(Threads.blasThreads, 1)
        var seen: [Int] = []
        let lock = NSLock()
        parallelFor(2, grain: 1) { _ in lock.lock(); seen.append(Threads.blasThreads); lock.unlock() }
        XCTAssertEqual(seen, [1, 1])
    }

    /// GEMMs split into row panels (tall) or not at all give the same values as
    /// on one thread, for every transpose; column panels (short and wide) agree
    /// to rounding (OpenBLAS's Haswell and Zen kernels sum the columns of a
    /// narrower product in another order).
    func testSplitGEMMsMatchOneThread() {
        let saved = Threads.count
        defer { Threads.set(saved) }
        let shapes = [(m: 1000, n: 300, k: 200), (m: 40, n: 3000, k: 300), (m: 7, n: 9, k: 5)]
        for (m, n, k) in shapes {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = randomTensor(ta ? [k, m] : [m, k], seed: 3), b = randomTensor(tb ? [n, k] : [k, n], seed: 4)
                Threads.set(1)
                let one = matmul(a, b, transposeA: ta, transposeB: tb).scalars
                Threads.set(2)
                let two = matmul(a, b, transposeA: ta, transposeB: tb)
                XCTAssertEqual(two.shape, [m, n])
                if m >= 2 * 2 * 48 || m * n * k < 1 << 20 {
                    XCTAssertEqual(two.scalars, one, "\(m)×\(n)×\(k) transposes \(ta) \(tb)")
                } else {
                    let worst = zip(two.scalars, one).map { abs($0 - $1) / max(abs($1), 1) }.max()!
                    XCTAssertLessThan(worst, 1e-4, "\(m)×\(n)×\(k) transposes \(ta) \(tb)")
                    XCTAssertGreaterThan(zip(two.scalars, one).filter { $0 == $1 }.count, one.count / 2)
                }
            }
        }
    }

    func testSetConfiguresEngineAndBLAS() {
        let saved = Threads.count
        defer { Threads.set(saved) }
        Threads.set(1)
        XCTAssertEqual(Threads.count, 1)
        XCTAssertEqual(Threads.blasThreads, 1)
        var calls = 0
        parallelFor(1000, grain: 1) { _ in calls += 1 }
        XCTAssertEqual(calls, 1, "one thread: one chunk")
        Threads.set(0)
        XCTAssertEqual(Threads.count, 1, "at least one thread")
        Threads.set(2)
        XCTAssertEqual(Threads.count, 2)
        XCTAssertEqual(Threads.blasThreads, 1, "OpenBLAS stays at one thread")
    }

    /// Results do not depend on the thread count.
    func testResultsIndependentOfThreadCount() {
        let saved = Threads.count
        defer { Threads.set(saved) }
        let x = randomTensor([300, 257], seed: 1), w = randomTensor([257], seed: 2)
        func run() -> [Float] { ((x * w).tanh().softmax() + x.sum(axis: 0)).scalars }
        Threads.set(1)
        let one = run()
        Threads.set(2)
        XCTAssertEqual(run(), one)
    }

    func testEnvironmentVariable() {
        let old = ProcessInfo.processInfo.environment["TRAINER_THREADS"]
        defer { if let old { setenv("TRAINER_THREADS", old, 1) } else { unsetenv("TRAINER_THREADS") } }
        setenv("TRAINER_THREADS", "3", 1)
        XCTAssertEqual(Threads.fromEnvironment, 3)
        setenv("TRAINER_THREADS", "zero", 1)
        XCTAssertNil(Threads.fromEnvironment)
        setenv("TRAINER_THREADS", "0", 1)
        XCTAssertNil(Threads.fromEnvironment)
    }
}
