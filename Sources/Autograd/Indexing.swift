import Core
/// Row gathers and scatters (embedding lookup, vision tokens into text
/// embeddings) and masked fill.

extension Tensor {
    /// Rows of a [V, D] table at `indices` → [n, D] (embedding lookup).
    public func indexSelect(_ indices: [Int32]) -> Tensor {
        require(rank == 2, "indexSelect needs a [V, D] table, got \(shape)")
        let v = shape[0], d = shape[1]
        let out = Tensor.empty([indices.count, d])
        for (i, ix) in indices.enumerated() {
            require(ix >= 0 && Int(ix) < v, "index \(ix) outside a table of \(v) rows")
            (out.pointer + i * d).update(from: pointer + Int(ix) * d, count: d)
        }
        let table = shape
        return out.recorded([self]) { g in                           // g [n, D] → [V, D]
            let gt = Tensor.zeros(table)
            for (i, ix) in indices.enumerated() {
                let dst = gt.pointer + Int(ix) * d, src = g.pointer + i * d
                for j in 0..<d { dst[j] += src[j] }
            }
            return [gt]
        }
    }

    /// `self` [N, D] with rows `positions[i]` replaced by `values` row i ([M, D]).
    /// When a position repeats, the last value written wins (and alone gets the gradient).
    public func scatteringRows(at positions: [Int], from values: Tensor) -> Tensor {
        require(rank == 2 && values.rank == 2 && values.shape[1] == shape[1]
                     && values.shape[0] == positions.count,
                     "scatteringRows: \(positions.count) positions, values \(values.shape), base \(shape)")
        let d = shape[1]
        let out = copy()
        for (i, p) in positions.enumerated() {
            require(p >= 0 && p < shape[0], "row \(p) outside \(shape[0]) rows")
            (out.pointer + p * d).update(from: values.pointer + i * d, count: d)
        }
        // The winning value row of each written position (the last write).
        var winner = [Int: Int]()
        for (i, p) in positions.enumerated() { winner[p] = i }
        let needBase = requiresGrad, needValues = values.requiresGrad, valueShape = values.shape
        return out.recorded([self, values]) { g in                   // g [N, D]
            var gb: Tensor? = nil, gv: Tensor? = nil
            if needBase {                                             // overwritten rows get nothing
                let t = g.copy()
                for p in positions { (t.pointer + p * d).update(repeating: 0, count: d) }
                gb = t
            }
            if needValues {                                           // [M, D]
                let t = Tensor.empty(valueShape)
                for (i, p) in positions.enumerated() {
                    if winner[p] == i {
                        (t.pointer + i * d).update(from: g.pointer + p * d, count: d)
                    } else {
                        (t.pointer + i * d).update(repeating: 0, count: d)
                    }
                }
                gv = t
            }
            return [gb, gv]
        }
    }

    /// Replaces the values where `mask` is true by `value`. `mask` has one
    /// entry per element, or one per row of the last axis.
    public func maskedFill(_ mask: [Bool], _ value: Float) -> Tensor {
        let d = shape.last ?? 1
        require(mask.count == count || mask.count * d == count, "mask of \(mask.count) for \(shape)")
        let perRow = mask.count != count
        let out = copy()
        for i in 0..<count where mask[perRow ? i / d : i] { out.pointer[i] = value }
        return out.recorded([self]) { g in
            let t = g.copy()
            for i in 0..<t.count where mask[perRow ? i / d : i] { t.pointer[i] = 0 }
            return [t]
        }
    }
}
