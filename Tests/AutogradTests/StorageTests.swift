import XCTest
import Autograd
import Core

final class StorageTests: XCTestCase {
    /// Large buffers come back from the pool; live bytes count only buffers in use.
    func testPoolRecyclesLargeBuffers() {
        let savedLimit = StoragePool.limitBytes
        defer { StoragePool.limitBytes = savedLimit }
        StoragePool.limitBytes = 64 << 20
        StoragePool.trim()
        XCTAssertEqual(StoragePool.cachedBytes, 0)
        let live = StorageStats.liveBytes
        do {
            let t = Tensor.full([3 << 18], 7)                   // 3 MiB
            XCTAssertEqual(StorageStats.liveBytes - live, 3 << 20)
            XCTAssertEqual(t.scalars[12345], 7)
        }
        XCTAssertEqual(StorageStats.liveBytes, live, "a pooled buffer is not live")
        XCTAssertEqual(StoragePool.cachedBytes, 3 << 20)
        // The same size class (a slightly shorter length) reuses it, and zeros() still zeroes.
        let z = Tensor.zeros([(3 << 18) - 100])
        XCTAssertEqual(StoragePool.cachedBytes, 0)
        XCTAssertTrue(z.scalars.allSatisfy { $0 == 0 })
    }

    func testSmallBuffersAreNotPooled() {
        StoragePool.trim()
        do { _ = Tensor.zeros([1000]) }
        XCTAssertEqual(StoragePool.cachedBytes, 0)
    }

    func testLimitBoundsTheSpareBytes() {
        let savedLimit = StoragePool.limitBytes
        defer { StoragePool.limitBytes = savedLimit }
        StoragePool.trim()
        StoragePool.limitBytes = 5 << 20
        do {
            let a = Tensor.zeros([1 << 20]), b = Tensor.zeros([1 << 19])     // 4 MiB, 2 MiB
            XCTAssertEqual(a.count + b.count, 3 << 19)
        }
        XCTAssertLessThanOrEqual(StoragePool.cachedBytes, 5 << 20)
        XCTAssertGreaterThan(StoragePool.cachedBytes, 0)
        StoragePool.limitBytes = 0
        XCTAssertEqual(StoragePool.cachedBytes, 0)
        do { _ = Tensor.zeros([1 << 20]) }
        XCTAssertEqual(StoragePool.cachedBytes, 0, "limit 0 turns pooling off")
    }
}
