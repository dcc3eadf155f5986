import Foundation
import Core

/// softmax(scale · Q Kᵀ + mask) V with grouped-query heads.
///
/// q [B, Tq, H, Dh]; k, v [B, Tk, Hkv, Dh] with H a multiple of Hkv (query
/// head h reads key/value head h / (H / Hkv)); result [B, Tq, H, Dh]. Rows
/// with no visible key give zeros.
///
/// The mask becomes tiles (AttentionMask.swift); each (tile, head) is two
/// single-threaded GEMMs around a row softmax, and tiles run in parallel. The
/// probabilities of every tile are kept for the backward pass (only the tiles'
/// areas: a little over half the square when causal).
public func scaledDotProductAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor,
                                      mask: AttentionMask = AttentionMask(), scale: Float? = nil) -> Tensor {
    require(q.rank == 4 && k.rank == 4 && v.shape == k.shape, "attention shapes \(q.shape) \(k.shape) \(v.shape)")
    let (batch, tq, heads, dh) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let (tk, kvHeads) = (k.shape[1], k.shape[2])
    require(k.shape[0] == batch && k.shape[3] == dh && heads % kvHeads == 0,
            "attention shapes \(q.shape) vs \(k.shape)")
    let geo = AttentionGeometry(tq: tq, tk: tk, heads: heads, kvHeads: kvHeads, dh: dh,
                                scale: scale ?? 1 / Float(dh).squareRoot(), causal: mask.causal)
    let (tiles, total) = attentionTiles(attentionBlocks(mask, batch: batch, tq: tq, tk: tk),
                                        causal: mask.causal, heads: heads)
    let probs = Storage(count: total)                                 // P of every (tile, head)
    let out = Tensor.zeros(q.shape)                                   // [B, Tq, H, Dh]
    attentionForward(geo, tiles, q.pointer, k.pointer, v.pointer, probs.pointer, out.pointer)

    let needs = (q: q.requiresGrad, k: k.requiresGrad, v: v.requiresGrad)
    let saved = (q: q.detached(), k: k.detached(), v: v.detached())
    return out.recorded([q, k, v]) { g in                             // g [B, Tq, H, Dh]
        let dq = Tensor.zeros(saved.q.shape), dk = Tensor.zeros(saved.k.shape), dv = Tensor.zeros(saved.v.shape)
        attentionBackward(geo, tiles, saved.q.pointer, saved.k.pointer, saved.v.pointer, probs.pointer,
                          g.pointer, dq.pointer, dk.pointer, dv.pointer, batch: batch)
        return [needs.q ? dq : nil, needs.k ? dk : nil, needs.v ? dv : nil]
    }
}

/// Sizes and strides shared by the forward and backward kernels.
struct AttentionGeometry {
    let tq, tk, heads, kvHeads, dh: Int
    let scale: Float
    let causal: Bool
    var group: Int { heads / kvHeads }
    var ldq: Int { heads * dh }          // row stride of q, out, dq, g
    var ldk: Int { kvHeads * dh }        // row stride of k, v, dk, dv

    /// Offset of (batch b, query row t, head h) in q-shaped buffers.
    @inline(__always) func qOffset(_ b: Int, _ t: Int, _ h: Int) -> Int { ((b * tq + t) * heads + h) * dh }
    /// Offset of (batch b, key row t, kv head h) in k-shaped buffers.
    @inline(__always) func kOffset(_ b: Int, _ t: Int, _ h: Int) -> Int { ((b * tk + t) * kvHeads + h) * dh }
}

/// Forward: per (tile, head) S = scale·Q Kᵀ, P = softmax over each row's
/// visible keys (zeros after them), O = P V. Every (tile, head) writes its own
/// output rows and probabilities, so all of them run in parallel.
func attentionForward(_ geo: AttentionGeometry, _ tiles: [AttentionTile],
                      _ qp: UnsafePointer<Float>, _ kp: UnsafePointer<Float>, _ vp: UnsafePointer<Float>,
                      _ pp: UnsafeMutablePointer<Float>, _ op: UnsafeMutablePointer<Float>) {
    let heads = geo.heads
    parallelFor(tiles.count * heads) { jobs in
        for job in jobs {
            let tile = tiles[job / heads], h = job % heads, kh = h / geo.group
            let blk = tile.block, b = tile.batch
            let (n, c) = (tile.rows, tile.cols)
            let p = pp + tile.offset + h * n * c                                   // P [n, c]
            let qRow = blk.q0 + tile.r0
            let kb = kp + geo.kOffset(b, blk.k0, kh), vb = vp + geo.kOffset(b, blk.k0, kh)
            BLAS.sgemm(false, true, n, c, geo.dh, geo.scale, qp + geo.qOffset(b, qRow, h), geo.ldq,
                       kb, geo.ldk, 0, p, c)                                       // S [n, c]
            for r in 0..<n {
                let visible = blk.visible(tile.r0 + r, causal: geo.causal), row = p + r * c
                softmaxRow(row, row, visible)
                if visible < c { (row + visible).update(repeating: 0, count: c - visible) }
            }
            BLAS.sgemm(false, false, n, geo.dh, c, 1, p, c, vb, geo.ldk, 0,
                       op + geo.qOffset(b, qRow, h), geo.ldq)                      // O [n, Dh]
        }
    }
}

/// Backward, one job per (batch, kv head): the query heads of a group write
/// the same dK, dV rows, so they stay in one job. Per (tile, head):
///   dP = dO Vᵀ;  dS = P ⊙ (dP − rowsum(P ⊙ dP)) · scale;
///   dQ = dS K;  dK += dSᵀ Q;  dV += Pᵀ dO.
func attentionBackward(_ geo: AttentionGeometry, _ tiles: [AttentionTile],
                       _ qp: UnsafePointer<Float>, _ kp: UnsafePointer<Float>, _ vp: UnsafePointer<Float>,
                       _ pp: UnsafePointer<Float>, _ gp: UnsafePointer<Float>,
                       _ dqp: UnsafeMutablePointer<Float>, _ dkp: UnsafeMutablePointer<Float>,
                       _ dvp: UnsafeMutablePointer<Float>, batch: Int) {
    var byBatch = [[AttentionTile]](repeating: [], count: batch)
    for t in tiles { byBatch[t.batch].append(t) }
    let largest = tiles.map { $0.rows * $0.cols }.max() ?? 0
    let scale = Vec(repeating: geo.scale)
    parallelFor(batch * geo.kvHeads) { jobs in
        let scratch = Storage(count: largest)
        let d = scratch.pointer                                                    // dP, then dS [n, c]
        for job in jobs {
            let b = job / geo.kvHeads, kh = job % geo.kvHeads
            for h in (kh * geo.group)..<((kh + 1) * geo.group) {
                for tile in byBatch[b] {
                    let blk = tile.block
                    let (n, c) = (tile.rows, tile.cols)
                    let p = pp + tile.offset + h * n * c
                    let qo = geo.qOffset(b, blk.q0 + tile.r0, h), ko = geo.kOffset(b, blk.k0, kh)
                    BLAS.sgemm(false, true, n, c, geo.dh, 1, gp + qo, geo.ldq, vp + ko, geo.ldk, 0, d, c)
                    for r in 0..<n {
                        let pr = p + r * c, dr = d + r * c
                        let dot = Vec(repeating: dotVec(pr, dr, c))
                        @inline(__always) func ds(_ p: Vec, _ dp: Vec) -> Vec { p * (dp - dot) * scale }
                        mapVec2(pr, dr, dr, c, ds)
                    }
                    BLAS.sgemm(false, false, n, geo.dh, c, 1, d, c, kp + ko, geo.ldk, 0, dqp + qo, geo.ldq)
                    BLAS.sgemm(true, false, c, geo.dh, n, 1, d, c, qp + qo, geo.ldq, 1, dkp + ko, geo.ldk)
                    BLAS.sgemm(true, false, c, geo.dh, n, 1, p, c, gp + qo, geo.ldq, 1, dvp + ko, geo.ldk)
                }
            }
        }
    }
}
