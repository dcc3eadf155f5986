import XCTest
import Foundation
import Autograd

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

    /// Two threads in parallel regions at once: BLAS stays at one thread until
    /// the last region ends (its thread count is process-wide).
    func testConcurrentRegionsKeepBLASSingleThreaded() {
        let saved = Threads.count
        defer { Threads.set(saved) }
        Threads.set(2)
        let started = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        let background = Thread {
            parallelFor(2, grain: 1) { r in
                if r.lowerBound == 0 { started.signal(); release.wait() }
            }
            done.signal()
        }
        background.start()
        started.wait()
        XCTAssertEqual(Threads.blasThreads, 1, "inside another thread's region")
        var seen: [Int] = []
        let lock = NSLock()
        parallelFor(2, grain: 1) { _ in lock.lock(); seen.append(Threads.blasThreads); lock.unlock() }
        XCTAssertEqual(seen, [1, 1])
        XCTAssertEqual(Threads.blasThreads, 1, "the other region is still running")
        release.signal()
        done.wait()
        XCTAssertEqual(Threads.blasThreads, 2, "restored when the last region ends")
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
        XCTAssertEqual(Threads.blasThreads, 2)
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
