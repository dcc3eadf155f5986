import XCTest
import Autograd
import Core

/// Dense attention from plain ops: S = scale·Q Kᵀ over every (query, key) pair,
/// a materialised boolean mask filled with −∞, softmax, then P V. GQA by
/// repeating each key/value head for its group of query heads.
private func denseAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, scale: Float? = nil,
                            allowed: (_ b: Int, _ i: Int, _ j: Int) -> Bool) -> Tensor {
    let (batch, tq, heads, dh) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let (tk, kvHeads) = (k.shape[1], k.shape[2])
    let group = heads / kvHeads
    func repeated(_ t: Tensor) -> Tensor {                             // [B, Tk, H, Dh] → [B, H, Tk, Dh]
        concat((0..<heads).map { h in t.slice(axis: 2, h / group, h / group + 1) }, axis: 2).permuted([0, 2, 1, 3])
    }
    let scores = matmul(q.permuted([0, 2, 1, 3]), repeated(k), transposeB: true) * (scale ?? 1 / Float(dh).squareRoot())
    var masked = [Bool](repeating: false, count: batch * heads * tq * tk)  // [B, H, Tq, Tk]
    for b in 0..<batch { for h in 0..<heads { for i in 0..<tq { for j in 0..<tk {
        masked[((b * heads + h) * tq + i) * tk + j] = !allowed(b, i, j)
    } } } }
    let p = scores.maskedFill(masked, -.infinity).softmax()
    return matmul(p, repeated(v)).permuted([0, 2, 1, 3])              // [B, Tq, H, Dh]
}

/// Index of the run of equal ids that each position belongs to.
private func runIndex(_ ids: [Int32], batch: Int, t: Int) -> [Int] {
    var runs = [Int](repeating: 0, count: ids.count)
    for b in 0..<batch {
        for i in 1..<max(t, 1) {
            runs[b * t + i] = runs[b * t + i - 1] + (ids[b * t + i] != ids[b * t + i - 1] ? 1 : 0)
        }
    }
    return runs
}

/// The predicate a mask describes, written directly from its definition.
private func allowedPairs(_ mask: AttentionMask, batch: Int, tq: Int, tk: Int) -> (Int, Int, Int) -> Bool {
    let runs = mask.segmentIds.map { runIndex($0, batch: batch, t: tq) }
    return { b, i, j in
        if mask.causal && j > i + (tk - tq) { return false }
        if let runs, runs[b * tq + i] != runs[b * tk + j] { return false }
        if let lengths = mask.keyLengths, j >= lengths[b] { return false }
        return true
    }
}

final class AttentionTests: XCTestCase {
    /// Forward values and the gradients of q, k and v against the dense reference.
    private func check(batch: Int, tq: Int, tk: Int, heads: Int, kvHeads: Int, dh: Int,
                       mask: AttentionMask, scale: Float? = nil, seed: UInt64 = 1,
                       file: StaticString = #filePath, line: UInt = #line) {
        let q = randomTensor([batch, tq, heads, dh], seed: seed)
        let k = randomTensor([batch, tk, kvHeads, dh], seed: seed + 1)
        let v = randomTensor([batch, tk, kvHeads, dh], seed: seed + 2)
        let g = randomTensor([batch, tq, heads, dh], seed: seed + 3)
        let allowed = allowedPairs(mask, batch: batch, tq: tq, tk: tk)

        let (q1, k1, v1) = (q.requiringGrad(), k.requiringGrad(), v.requiringGrad())
        let out = scaledDotProductAttention(q1, k1, v1, mask: mask, scale: scale)
        out.backward(g)
        let (q2, k2, v2) = (q.requiringGrad(), k.requiringGrad(), v.requiringGrad())
        let ref = denseAttention(q2, k2, v2, scale: scale, allowed: allowed)
        ref.backward(g)

        XCTAssertEqual(out.shape, [batch, tq, heads, dh], file: file, line: line)
        let name = "B\(batch) Tq\(tq) Tk\(tk) H\(heads)/\(kvHeads) \(mask)"
        assertClose(out, doubles(ref), rtol: 1e-5, atol: 1e-5, "\(name): output", file: file, line: line)
        assertClose(q1.grad!, doubles(q2.grad!), rtol: 1e-4, atol: 1e-5, "\(name): dq", file: file, line: line)
        assertClose(k1.grad!, doubles(k2.grad!), rtol: 1e-4, atol: 1e-5, "\(name): dk", file: file, line: line)
        assertClose(v1.grad!, doubles(v2.grad!), rtol: 1e-4, atol: 1e-5, "\(name): dv", file: file, line: line)
    }

    func testNoMask() {
        check(batch: 2, tq: 5, tk: 5, heads: 2, kvHeads: 2, dh: 3, mask: AttentionMask())
        check(batch: 1, tq: 3, tk: 7, heads: 2, kvHeads: 2, dh: 4, mask: AttentionMask())
    }

    func testCausal() {
        check(batch: 2, tq: 6, tk: 6, heads: 2, kvHeads: 2, dh: 3, mask: AttentionMask(causal: true))
    }

    /// Tq < Tk: the queries are the last Tq positions (as with a cache of earlier keys).
    func testCausalShortQueriesAlignAtTheEnd() {
        check(batch: 2, tq: 3, tk: 7, heads: 2, kvHeads: 1, dh: 3, mask: AttentionMask(causal: true))
        check(batch: 1, tq: 1, tk: 5, heads: 2, kvHeads: 2, dh: 2, mask: AttentionMask(causal: true))
        // Tq > Tk: the first queries see no key at all and give zeros.
        check(batch: 1, tq: 6, tk: 4, heads: 1, kvHeads: 1, dh: 3, mask: AttentionMask(causal: true))
    }

    func testSegmentIds() {
        let seg: [Int32] = [0, 0, 0, 1, 1, 2, 5, 5, 5, 5, 5, 5]
        check(batch: 2, tq: 6, tk: 6, heads: 2, kvHeads: 2, dh: 3, mask: AttentionMask(segmentIds: seg))
        check(batch: 2, tq: 6, tk: 6, heads: 2, kvHeads: 2, dh: 3, mask: AttentionMask(causal: true, segmentIds: seg))
    }

    /// Segments are runs: an id that comes back later starts a new block.
    func testSegmentIdsAreRuns() {
        let seg: [Int32] = [4, 4, 7, 7, 7, 4, 4]
        check(batch: 1, tq: 7, tk: 7, heads: 1, kvHeads: 1, dh: 3, mask: AttentionMask(segmentIds: seg))
    }

    func testKeyLengths() {
        check(batch: 3, tq: 5, tk: 5, heads: 2, kvHeads: 2, dh: 3, mask: AttentionMask(keyLengths: [3, 0, 9]))
        check(batch: 2, tq: 4, tk: 7, heads: 2, kvHeads: 2, dh: 3, mask: AttentionMask(keyLengths: [7, 2]))
    }

    /// Causal and key lengths together: the causal diagonal stays aligned to Tk.
    func testCausalWithKeyLengths() {
        check(batch: 2, tq: 5, tk: 5, heads: 2, kvHeads: 2, dh: 3, mask: AttentionMask(causal: true, keyLengths: [3, 5]))
        check(batch: 2, tq: 3, tk: 6, heads: 2, kvHeads: 1, dh: 3, mask: AttentionMask(causal: true, keyLengths: [4, 1]))
    }

    func testSegmentsWithKeyLengths() {
        let seg: [Int32] = [0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3]
        check(batch: 2, tq: 6, tk: 6, heads: 2, kvHeads: 2, dh: 3,
              mask: AttentionMask(causal: true, segmentIds: seg, keyLengths: [4, 5]))
    }

    func testGroupedQueryHeads() {
        check(batch: 2, tq: 5, tk: 5, heads: 4, kvHeads: 2, dh: 3, mask: AttentionMask())
        check(batch: 1, tq: 6, tk: 6, heads: 3, kvHeads: 1, dh: 4,
              mask: AttentionMask(causal: true, segmentIds: [1, 1, 1, 1, 2, 2]))
        check(batch: 2, tq: 4, tk: 4, heads: 6, kvHeads: 3, dh: 2, mask: AttentionMask(keyLengths: [2, 4]))
    }

    func testExplicitScale() {
        check(batch: 1, tq: 4, tk: 4, heads: 2, kvHeads: 2, dh: 3, mask: AttentionMask(causal: true), scale: 0.37)
    }

    /// Longer sequences: several row tiles per block and multi-threaded jobs.
    func testLongSequences() {
        check(batch: 1, tq: 133, tk: 133, heads: 2, kvHeads: 1, dh: 8, mask: AttentionMask(causal: true))
        var seg = [Int32](repeating: 0, count: 150)
        for i in 70..<150 { seg[i] = 1 }
        check(batch: 1, tq: 150, tk: 150, heads: 2, kvHeads: 2, dh: 4, mask: AttentionMask(causal: true, segmentIds: seg))
        check(batch: 2, tq: 70, tk: 150, heads: 2, kvHeads: 2, dh: 4, mask: AttentionMask(causal: true, keyLengths: [150, 120]))
    }

    /// Causal attention keeps only the visible tiles' probabilities for backward:
    /// a little over half of what full attention keeps.
    func testCausalSavesAboutHalfTheProbabilities() {
        let (t, h, dh) = (512, 2, 8)
        let q = randomTensor([1, t, h, dh], seed: 21).requiringGrad()
        func savedBytes(_ mask: AttentionMask) -> Int {
            let before = StorageStats.liveBytes
            let out = scaledDotProductAttention(q, q, q, mask: mask)
            return StorageStats.liveBytes - before - out.count * 4
        }
        let full = savedBytes(AttentionMask()), causal = savedBytes(AttentionMask(causal: true))
        XCTAssertGreaterThanOrEqual(full, t * t * h * 4)
        XCTAssertLessThan(Double(causal), 0.6 * Double(full), "causal \(causal) bytes vs full \(full)")
    }

    /// Finite differences on the fused op itself (not only against the reference).
    func testGradCheck() {
        let q = randomTensor([2, 5, 4, 3], seed: 11), k = randomTensor([2, 5, 2, 3], seed: 12), v = randomTensor([2, 5, 2, 3], seed: 13)
        let mask = AttentionMask(causal: true, segmentIds: [0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
        gradCheck([q, k, v], tolerance: 1e-2) { scaledDotProductAttention($0[0], $0[1], $0[2], mask: mask) }
        let kl = AttentionMask(keyLengths: [3, 5])
        gradCheck([q, k, v], tolerance: 1e-2) { scaledDotProductAttention($0[0], $0[1], $0[2], mask: kl) }
    }
}
