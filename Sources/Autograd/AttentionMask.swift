import Foundation
import Core

/// Attention masks, described and never materialised, and the tiles they become.
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

/// A row tile of one block: rows [r0, r1) of the block against its first
/// `cols` key columns, the union of what those rows may see. Causal blocks are
/// cut into tiles of `attentionTileRows` rows, so the GEMMs skip (almost all
/// of) the masked upper triangle; other blocks are one tile.
struct AttentionTile {
    let batch: Int
    let block: AttentionBlock
    let r0, r1, cols: Int
    /// Start of this tile's probabilities (head 0) in the saved buffer; head h
    /// follows at offset + h·rows·cols.
    let offset: Int
    var rows: Int { r1 - r0 }
}

/// Rows per causal tile: small enough to skip most of the triangle
/// (64-row tiles of a 1024-row block compute 53 % of the square instead of
/// 100 %; the exact triangle is 50 %), large enough for efficient GEMMs.
let attentionTileRows = 64

/// The tiles of every block of every batch element, and the total number of
/// probabilities they hold (over all heads). Tiles that see no key are left
/// out: their rows give zeros.
func attentionTiles(_ blocks: [[AttentionBlock]], causal: Bool, heads: Int) -> (tiles: [AttentionTile], total: Int) {
    var tiles: [AttentionTile] = [], total = 0
    for (b, bb) in blocks.enumerated() {
        for blk in bb {
            let step = causal ? attentionTileRows : Swift.max(blk.rows, 1)
            for r0 in stride(from: 0, to: blk.rows, by: step) {
                let r1 = Swift.min(blk.rows, r0 + step)
                let cols = blk.visible(r1 - 1, causal: causal)     // the tile's last row sees the most
                guard cols > 0 else { continue }
                tiles.append(AttentionTile(batch: b, block: blk, r0: r0, r1: r1, cols: cols, offset: total))
                total += (r1 - r0) * cols * heads
            }
        }
    }
    return (tiles, total)
}
