import Core
/// Layout ops: reshape shares storage; everything else copies into a fresh
/// contiguous buffer (simple kernels are fast kernels).

extension Tensor {
    /// The same values under a new shape; one axis may be -1 (inferred).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var s = newShape
        if let i = s.firstIndex(of: -1) {
            let known = s.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            require(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            s[i] = count / known
        }
        require(s.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        if s == shape { return self }
        let inShape = shape
        return Tensor(storage: storage, shape: s).recorded([self]) { g in [g.reshaped(inShape)] }
    }

    /// Reorders axes: result axis i is input axis `order[i]`.
    public func permuted(_ order: [Int]) -> Tensor {
        require(order.sorted() == Array(0..<rank), "bad permutation \(order) for \(shape)")
        if order == Array(0..<rank) { return self }
        let out = permuteCopy(self, order)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, o) in order.enumerated() { inverse[o] = i }
        return out.recorded([self]) { g in [permuteCopy(g, inverse)] }
    }

    /// Swaps two axes.
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        var order = Array(0..<rank)
        order.swapAt(normalize(a), normalize(b))
        return permuted(order)
    }

    /// Elements [start, end) along `axis`.
    public func slice(axis: Int, _ start: Int, _ end: Int) -> Tensor {
        let a = normalize(axis)
        require(0 <= start && start <= end && end <= shape[a], "slice \(start)..<\(end) out of range for axis \(a) of \(shape)")
        let outer = shape[..<a].reduce(1, *), n = shape[a], inner = shape[(a + 1)...].reduce(1, *)
        var s = shape; s[a] = end - start
        let out = Tensor.empty(s)
        let len = (end - start) * inner
        for p in 0..<outer {
            (out.pointer + p * len).update(from: pointer + (p * n + start) * inner, count: len)
        }
        let inShape = shape
        return out.recorded([self]) { g in
            let gi = Tensor.zeros(inShape)
            for p in 0..<outer {
                (gi.pointer + (p * n + start) * inner).update(from: g.pointer + p * len, count: len)
            }
            return [gi]
        }
    }

    /// Splits `axis` into consecutive pieces of the given sizes.
    public func split(_ sizes: [Int], axis: Int) -> [Tensor] {
        require(sizes.reduce(0, +) == dim(axis), "split sizes \(sizes) do not add up to \(dim(axis))")
        var start = 0
        return sizes.map { n in
            defer { start += n }
            return slice(axis: axis, start, start + n)
        }
    }
}

/// Joins tensors along `axis`; all other axes must agree.
public func concat(_ parts: [Tensor], axis: Int) -> Tensor {
    require(!parts.isEmpty, "concat of nothing")
    let a = parts[0].normalize(axis)
    let base = parts[0].shape
    for p in parts {
        require(p.rank == base.count && (0..<p.rank).allSatisfy { $0 == a || p.shape[$0] == base[$0] },
                     "concat shapes differ: \(parts.map(\.shape))")
    }
    let outer = base[..<a].reduce(1, *), inner = base[(a + 1)...].reduce(1, *)
    let sizes = parts.map { $0.shape[a] }
    let total = sizes.reduce(0, +)
    var s = base; s[a] = total
    let out = Tensor.empty(s)
    var offset = 0
    for (p, n) in zip(parts, sizes) {
        let len = n * inner
        for o in 0..<outer {
            (out.pointer + (o * total + offset) * inner).update(from: p.pointer + o * len, count: len)
        }
        offset += n
    }
    let needs = parts.map(\.requiresGrad)     // the parts themselves are not kept
    return out.recorded(parts) { g in
        var grads: [Tensor?] = []
        var off = 0
        for (need, n) in zip(needs, sizes) {
            defer { off += n }
            guard need else { grads.append(nil); continue }
            var shape = s; shape[a] = n
            let gi = Tensor.empty(shape)
            let len = n * inner
            for o in 0..<outer {
                (gi.pointer + o * len).update(from: g.pointer + (o * total + off) * inner, count: len)
            }
            grads.append(gi)
        }
        return grads
    }
}

/// Copies `x` with its axes reordered (no tape).
func permuteCopy(_ x: Tensor, _ order: [Int]) -> Tensor {
    let r = x.rank
    let outShape = order.map { x.shape[$0] }
    var inStrides = [Int](repeating: 1, count: r)
    for i in stride(from: r - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * x.shape[i + 1] }
    let srcStrides = order.map { inStrides[$0] }       // stride in x of each output axis
    let out = Tensor.empty(outShape)
    let inner = outShape.last ?? 1, innerStride = srcStrides.last ?? 1
    let o = out.pointer, p = x.pointer
    let rows = outShape.dropLast().reduce(1, *)
    parallelFor(rows, grain: Swift.max(1, elementwiseGrain / Swift.max(inner, 1))) { range in
        // Offset of the first row of this chunk.
        var idx = [Int](repeating: 0, count: Swift.max(r - 1, 0))
        var rem = range.lowerBound, off = 0
        for ax in stride(from: r - 2, through: 0, by: -1) {
            idx[ax] = rem % outShape[ax]; rem /= outShape[ax]
            off += idx[ax] * srcStrides[ax]
        }
        for row in range {
            let dst = o + row * inner, src = p + off
            if innerStride == 1 { dst.update(from: src, count: inner) } else {
                for j in 0..<inner { dst[j] = src[j * innerStride] }
            }
            var ax = r - 2
            while ax >= 0 {
                idx[ax] += 1; off += srcStrides[ax]
                if idx[ax] < outShape[ax] { break }
                off -= srcStrides[ax] * idx[ax]; idx[ax] = 0
                ax -= 1
            }
        }
    }
    return out
}
