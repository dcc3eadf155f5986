import Foundation

/// Scaled dot-product attention with described (never materialised) masks.
///
/// Masks become rectangular blocks of (query rows × key columns) that may
/// attend to each other; everything outside the blocks is skipped, not computed
/// and thrown away. With packing that is most of the T × T area.
public struct AttentionMask {
    /// Query i may attend key j only if j ≤ i (aligned at the end when Tq < Tk).
    public var causal: Bool
    /// B·T ids (self-attention): tokens attend only within their run of equal ids.
    public var segmentIds: [Int32]?
    /// B lengths: keys at index ≥ length are masked (padding).
    public var keyLengths: [Int]?

    public init(causal: Bool = false, segmentIds: [Int32]? = nil, keyLengths: [Int]? = nil) {
        self.causal = causal; self.segmentIds = segmentIds; self.keyLengths = keyLengths
    }
}

/// Query rows [q0, q1) attend key columns [k0, k1). When causal, row r of the
/// block (counted from q0) sees the first `visible(r)` columns: key j is visible
/// to query i iff j ≤ i + (Tk − Tq), i.e. the two sequences are aligned at their
/// ends, and `shift` is that offset expressed relative to the block's corners.
struct AttentionBlock {
    let q0, q1, k0, k1: Int
    let shift: Int
    var rows: Int { q1 - q0 }
    var cols: Int { k1 - k0 }

    /// How many leading columns row `r` of the block attends to.
    @inline(__always)
    func visible(_ r: Int, causal: Bool) -> Int {
        causal ? Swift.max(0, Swift.min(cols, r + shift + 1)) : cols
    }
}

/// The blocks of every batch element. Segment ids cut the sequence into runs of
/// equal ids (each run attends only to itself); key lengths then cut every
/// block's columns at the length.
func attentionBlocks(_ mask: AttentionMask, batch: Int, tq: Int, tk: Int) -> [[AttentionBlock]] {
    if let seg = mask.segmentIds {
        require(tq == tk, "segment ids need self-attention (Tq == Tk), got Tq \(tq), Tk \(tk)")
        require(seg.count == batch * tq, "\(seg.count) segment ids for [\(batch), \(tq)]")
    }
    if let lengths = mask.keyLengths {
        require(lengths.count == batch, "\(lengths.count) key lengths for a batch of \(batch)")
    }
    return (0..<batch).map { b in
        let len = mask.keyLengths.map { Swift.max(0, Swift.min($0[b], tk)) } ?? tk
        var blocks: [AttentionBlock] = []
        if let seg = mask.segmentIds {
            var start = 0
            for t in 1...Swift.max(tq, 1) where tq > 0 && (t == tq || seg[b * tq + t] != seg[b * tq + start]) {
                let k1 = Swift.min(t, len)
                if k1 > start { blocks.append(AttentionBlock(q0: start, q1: t, k0: start, k1: k1, shift: 0)) }
                start = t
            }
        } else if len > 0 && tq > 0 {
            blocks.append(AttentionBlock(q0: 0, q1: tq, k0: 0, k1: len, shift: tk - tq))
        }
        return blocks
    }
}

/// softmax(scale · Q Kᵀ + mask) V with grouped-query heads.
///
/// q [B, Tq, H, Dh]; k, v [B, Tk, Hkv, Dh] with H a multiple of Hkv (query
/// head h reads key/value head h / (H / Hkv)); result [B, Tq, H, Dh]. Rows
/// with no visible key give zeros.
public func scaledDotProductAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor,
                                      mask: AttentionMask = AttentionMask(), scale: Float? = nil) -> Tensor {
    require(q.rank == 4 && k.rank == 4 && v.shape == k.shape, "attention shapes \(q.shape) \(k.shape) \(v.shape)")
    let (batch, tq, heads, dh) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let (tk, kvHeads) = (k.shape[1], k.shape[2])
    require(k.shape[0] == batch && k.shape[3] == dh && heads % kvHeads == 0,
                 "attention shapes \(q.shape) vs \(k.shape)")
    let group = heads / kvHeads
    let scale = scale ?? 1 / Float(dh).squareRoot()
    let blocks = attentionBlocks(mask, batch: batch, tq: tq, tk: tk)
    let causal = mask.causal

    // Probabilities of every (batch, block, head), kept for the backward pass.
    var offsets: [[Int]] = [], total = 0
    for bb in blocks {
        offsets.append(bb.map { blk in defer { total += blk.rows * blk.cols * heads }; return total })
    }
    let probs = Storage(count: total)
    let out = Tensor.zeros(q.shape)
    let ldq = heads * dh, ldk = kvHeads * dh
    let qp = q.pointer, kp = k.pointer, vp = v.pointer, op = out.pointer, pp = probs.pointer

    parallelFor(batch * heads) { jobs in
        for job in jobs {
            let b = job / heads, h = job % heads, kh = h / group
            for (i, blk) in blocks[b].enumerated() {
                let (n, m) = (blk.rows, blk.cols)
                let p = pp + offsets[b][i] + h * n * m
                let qb = qp + ((b * tq + blk.q0) * heads + h) * dh
                let kb = kp + ((b * tk + blk.k0) * kvHeads + kh) * dh
                let vb = vp + ((b * tk + blk.k0) * kvHeads + kh) * dh
                BLAS.sgemm(false, true, n, m, dh, scale, qb, ldq, kb, ldk, 0, p, m)   // S [n, m]
                for r in 0..<n {
                    let visible = blk.visible(r, causal: causal)
                    let row = p + r * m
                    softmaxRow(row, row, visible)
                    if visible < m { (row + visible).update(repeating: 0, count: m - visible) }
                }
                BLAS.sgemm(false, false, n, dh, m, 1, p, m, vb, ldk, 0,
                           op + ((b * tq + blk.q0) * heads + h) * dh, ldq)               // O [n, Dh]
            }
        }
    }

    return out.recorded([q, k, v]) { g in
        let dq = Tensor.zeros(q.shape), dk = Tensor.zeros(k.shape), dv = Tensor.zeros(v.shape)
        let gp = g.pointer, dqp = dq.pointer, dkp = dk.pointer, dvp = dv.pointer
        let largest = blocks.flatMap { $0 }.map { $0.rows * $0.cols }.max() ?? 0
        // One job per (batch, kv head): the heads of a group write the same dK, dV rows.
        parallelFor(batch * kvHeads) { jobs in
            let ds = Storage(count: largest)
            for job in jobs {
                let b = job / kvHeads, kh = job % kvHeads
                for h in (kh * group)..<((kh + 1) * group) {
                    for (i, blk) in blocks[b].enumerated() {
                        let (n, m) = (blk.rows, blk.cols)
                        let p = pp + offsets[b][i] + h * n * m, d = ds.pointer
                        let qRow = ((b * tq + blk.q0) * heads + h) * dh
                        let kRow = ((b * tk + blk.k0) * kvHeads + kh) * dh
                        BLAS.sgemm(false, true, n, m, dh, 1, gp + qRow, ldq, vp + kRow, ldk, 0, d, m)  // dP = dO Vᵀ
                        for r in 0..<n {                       // dS = P ⊙ (dP − Σ P⊙dP) · scale
                            let pr = p + r * m, dr = d + r * m
                            var dot: Float = 0
                            for j in 0..<m { dot += pr[j] * dr[j] }
                            for j in 0..<m { dr[j] = pr[j] * (dr[j] - dot) * scale }
                        }
                        BLAS.sgemm(false, false, n, dh, m, 1, d, m, kp + kRow, ldk, 0, dqp + qRow, ldq)  // dQ = dS K
                        BLAS.sgemm(true, false, m, dh, n, 1, d, m, qp + qRow, ldq, 1, dkp + kRow, ldk)   // dK += dSᵀ Q
                        BLAS.sgemm(true, false, m, dh, n, 1, p, m, gp + qRow, ldq, 1, dvp + kRow, ldk)   // dV += Pᵀ dO
                    }
                }
            }
        }
        _ = probs   // keeps the probabilities alive until backward has run
        return [q.requiresGrad ? dq : nil, k.requiresGrad ? dk : nil, v.requiresGrad ? dv : nil]
    }
}
