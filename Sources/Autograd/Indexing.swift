/// Row gathers and scatters (embedding lookup, vision tokens into text
/// embeddings) and masked fill.

extension Tensor {
    /// Rows of a [V, D] table at `indices` → [n, D] (embedding lookup).
    public func indexSelect(_ indices: [Int32]) -> Tensor {
        precondition(rank == 2, "indexSelect needs a [V, D] table, got \(shape)")
        let v = shape[0], d = shape[1]
        let out = Tensor.empty([indices.count, d])
        for (i, ix) in indices.enumerated() {
            precondition(ix >= 0 && Int(ix) < v, "index \(ix) outside a table of \(v) rows")
            (out.pointer + i * d).update(from: pointer + Int(ix) * d, count: d)
        }
        let table = shape
        return out.recorded([self]) { g in
            let gt = Tensor.zeros(table)
            for (i, ix) in indices.enumerated() {
                let dst = gt.pointer + Int(ix) * d, src = g.pointer + i * d
                for j in 0..<d { dst[j] += src[j] }
            }
            return [gt]
        }
    }

    /// `self` [N, D] with rows `positions[i]` replaced by `values` row i ([M, D]).
    public func scatteringRows(at positions: [Int], from values: Tensor) -> Tensor {
        precondition(rank == 2 && values.rank == 2 && values.shape[1] == shape[1]
                     && values.shape[0] == positions.count,
                     "scatteringRows: \(positions.count) positions, values \(values.shape), base \(shape)")
        let d = shape[1]
        let out = copy()
        for (i, p) in positions.enumerated() {
            precondition(p >= 0 && p < shape[0], "row \(p) outside \(shape[0]) rows")
            (out.pointer + p * d).update(from: values.pointer + i * d, count: d)
        }
        let base = self
        return out.recorded([self, values]) { g in
            var gb: Tensor? = nil, gv: Tensor? = nil
            if base.requiresGrad {
                let t = g.copy()
                for p in positions { (t.pointer + p * d).update(repeating: 0, count: d) }
                gb = t
            }
            if values.requiresGrad {
                let t = Tensor.empty(values.shape)
                for (i, p) in positions.enumerated() { (t.pointer + i * d).update(from: g.pointer + p * d, count: d) }
                gv = t
            }
            return [gb, gv]
        }
    }

    /// Replaces the values where `mask` is true by `value`. `mask` has one
    /// entry per element, or one per row of the last axis.
    public func maskedFill(_ mask: [Bool], _ value: Float) -> Tensor {
        let d = shape.last ?? 1
        precondition(mask.count == count || mask.count * d == count, "mask of \(mask.count) for \(shape)")
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
