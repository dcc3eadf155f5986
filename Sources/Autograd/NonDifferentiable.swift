/// Ops without gradients: argmax, top-k, comparisons, integer casts.

extension Tensor {
    /// Index of the largest value along the last axis, per row (first wins ties).
    public func argmax() -> [Int] {
        let d = shape.last ?? 1, rows = count / Swift.max(d, 1)
        return (0..<rows).map { r in
            let row = pointer + r * d
            var best = 0
            for j in 1..<Swift.max(d, 1) where row[j] > row[best] { best = j }
            return best
        }
    }

    /// The k largest values of each row of the last axis, in descending order.
    public func topK(_ k: Int) -> (values: [[Float]], indices: [[Int]]) {
        let d = shape.last ?? 1, rows = count / Swift.max(d, 1)
        var vals: [[Float]] = [], idxs: [[Int]] = []
        for r in 0..<rows {
            let row = pointer + r * d
            let order = (0..<d).sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(k)
            idxs.append(Array(order)); vals.append(order.map { row[$0] })
        }
        return (vals, idxs)
    }

    /// 1 where self > other (broadcast), else 0.
    public func greater(_ other: Tensor) -> Tensor { compare(other) { $0 > $1 } }
    public func less(_ other: Tensor) -> Tensor { compare(other) { $0 < $1 } }
    public func equal(_ other: Tensor) -> Tensor { compare(other) { $0 == $1 } }

    private func compare(_ other: Tensor, _ f: (Float, Float) -> Bool) -> Tensor {
        noGrad {
            let shape = broadcastShape(self.shape, other.shape)
            let a = detached().expanded(to: shape), b = other.detached().expanded(to: shape)
            let out = Tensor.empty(shape)
            for i in 0..<out.count { out.pointer[i] = f(a.pointer[i], b.pointer[i]) ? 1 : 0 }
            return out
        }
    }

    /// Values rounded toward zero, as integers.
    public func int32s() -> [Int32] { (0..<count).map { Int32(pointer[$0]) } }

    /// A tensor from integers.
    public init(ints: [Int32], shape: [Int]) { self.init(ints.map(Float.init), shape: shape) }

    /// True when every value is finite.
    public var isFinite: Bool {
        for i in 0..<count where !pointer[i].isFinite { return false }
        return true
    }
}
