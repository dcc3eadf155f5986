import Foundation
import Synchronization

/// The engine's worker threads: `Threads.count − 1` of them, and the calling
/// thread, share the chunks of one parallel loop at a time.
///
/// A training step runs a few thousand parallel loops, many of them under
/// 100 µs, so the hand-off has to cost about a microsecond, not the tens of
/// microseconds of waking a sleeping thread. Between loops a worker therefore
/// spins on the loop counter for about a millisecond before it sleeps on a
/// condition variable; the caller wakes sleepers only when there are any.
///
/// Chunks are claimed from a shared counter, so a worker that arrives late
/// finds the work already done and costs nothing. One loop runs at a time:
/// loops issued from inside a chunk run inline (`parallelFor`).
final class WorkerPool: @unchecked Sendable {
    let workers: Int
    /// The current loop in one word, so a claim can never mix two loops:
    /// loop id (bits 40–63), chunk count (bits 20–39), next chunk (bits 0–19).
    private let loop = Atomic<UInt64>(0)
    private let finishedChunks = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let busy = Atomic<Bool>(false)
    private let wake = NSCondition()
    /// The loop body; written only while no chunk can be claimed.
    private var body: ((Int) -> Void)?

    /// Spins (atomic loads) before a waiting worker sleeps: about a millisecond.
    private static let spinLimit = 200_000
    /// Most chunks of one loop (the chunk field's width).
    static let maxChunks = 1 << 20

    init(workers: Int) {
        self.workers = workers
        for i in 0..<workers {
            let t = Thread { self.workerLoop() }          // the thread holds the pool until stop()
            t.name = "trainer-worker-\(i + 1)"
            t.start()
        }
    }

    /// Runs `body(0) … body(chunks − 1)` on the workers and the calling thread;
    /// returns when every chunk has finished. A loop issued while another is
    /// running (from a second thread) runs inline on its caller.
    func run(_ chunks: Int, _ body: (Int) -> Void) {
        precondition(chunks > 0 && chunks < WorkerPool.maxChunks, "\(chunks) chunks")
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for c in 0..<chunks { body(c) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { body in
            self.body = body
            finishedChunks.store(0, ordering: .relaxed)
            let id = nextLoopID()
            loop.store(id << 40 | UInt64(chunks) << 20, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                wake.lock(); wake.broadcast(); wake.unlock()
            }
            work(loopID: id)
            while finishedChunks.load(ordering: .acquiring) < chunks {}
            self.body = nil
        }
    }

    /// Ends the workers (they finish the loop in progress first).
    func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        loop.store(nextLoopID() << 40, ordering: .sequentiallyConsistent)
        wake.lock(); wake.broadcast(); wake.unlock()
    }

    @inline(__always) private static func loopID(_ word: UInt64) -> UInt64 { word >> 40 }
    @inline(__always) private static func chunkCount(_ word: UInt64) -> UInt64 { (word >> 20) & 0xF_FFFF }
    @inline(__always) private static func nextChunk(_ word: UInt64) -> UInt64 { word & 0xF_FFFF }

    /// The id after the current loop's (24 bits, wrapping).
    private func nextLoopID() -> UInt64 { (WorkerPool.loopID(loop.load(ordering: .relaxed)) + 1) & 0xFF_FFFF }

    /// Claims and runs chunks of loop `loopID` until none is left.
    private func work(loopID: UInt64) {
        var word = loop.load(ordering: .acquiring)
        while WorkerPool.loopID(word) == loopID, WorkerPool.nextChunk(word) < WorkerPool.chunkCount(word) {
            let (claimed, current) = loop.compareExchange(expected: word, desired: word + 1,
                                                          ordering: .acquiringAndReleasing)
            if !claimed { word = current; continue }
            Threads.insideParallelRegion = true
            body!(Int(WorkerPool.nextChunk(word)))
            Threads.insideParallelRegion = false
            finishedChunks.add(1, ordering: .releasing)
            word = loop.load(ordering: .acquiring)
        }
    }

    private func workerLoop() {
        var seen = WorkerPool.loopID(loop.load(ordering: .acquiring))
        while true {
            var spins = 0
            while WorkerPool.loopID(loop.load(ordering: .acquiring)) == seen {
                spins += 1
                if spins < WorkerPool.spinLimit { continue }
                sleepers.add(1, ordering: .sequentiallyConsistent)
                wake.lock()
                while WorkerPool.loopID(loop.load(ordering: .sequentiallyConsistent)) == seen { wake.wait() }
                wake.unlock()
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
            }
            if stopping.load(ordering: .acquiring) { return }
            seen = WorkerPool.loopID(loop.load(ordering: .acquiring))
            work(loopID: seen)
        }
    }
}
