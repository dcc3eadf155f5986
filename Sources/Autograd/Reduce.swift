import Core
/// Reductions over axes: sum, mean, max.

extension Tensor {
    /// Sum of all values, as a scalar tensor.
    public func sum() -> Tensor { reshaped([count]).sum(axes: [0]) }

    /// Mean of all values, as a scalar tensor.
    public func mean() -> Tensor { sum() * (1 / Float(Swift.max(count, 1))) }

    /// Sum over `axes`; the reduced axes are dropped unless `keepDims`.
    public func sum(axes: [Int], keepDims: Bool = false) -> Tensor {
        let axes = Set(axes.map(normalize)).sorted()
        var kept = shape
        for a in axes { kept[a] = 1 }
        var x = self.detached()
        for a in axes.reversed() { x = reduceAxis(x, a) }
        let outShape = keepDims ? kept : shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
        let out = x.reshaped(outShape).detached()
        let inShape = shape
        return out.recorded([self]) { g in
            [g.reshaped(kept).expanded(to: inShape)]
        }
    }

    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }

    public func mean(axes: [Int], keepDims: Bool = false) -> Tensor {
        let n = axes.map { dim($0) }.reduce(1, *)
        return sum(axes: axes, keepDims: keepDims) * (1 / Float(Swift.max(n, 1)))
    }

    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }

    /// Maximum over one axis; the gradient flows to the first maximal element.
    public func max(axis: Int, keepDims: Bool = false) -> Tensor {
        let a = normalize(axis)
        let outer = shape[..<a].reduce(1, *), n = shape[a], inner = shape[(a + 1)...].reduce(1, *)
        var kept = shape; kept[a] = 1
        let out = Tensor.empty(kept)
        var arg = [Int32](repeating: 0, count: outer * inner)
        let x = pointer, o = out.pointer
        for p in 0..<outer {
            for q in 0..<inner {
                var best = -Float.infinity, bi = 0
                for i in 0..<n {
                    let v = x[(p * n + i) * inner + q]
                    if i == 0 || v > best { best = v; bi = i }
                }
                o[p * inner + q] = best; arg[p * inner + q] = Int32(bi)
            }
        }
        let result = keepDims ? out : out.reshaped(shape.enumerated().filter { $0.offset != a }.map(\.element))
        let inShape = shape
        return result.detached().recorded([self]) { g in
            let gi = Tensor.zeros(inShape)
            let d = gi.pointer, gp = g.pointer
            for p in 0..<outer {
                for q in 0..<inner {
                    d[(p * n + Int(arg[p * inner + q])) * inner + q] = gp[p * inner + q]
                }
            }
            return [gi]
        }
    }

    /// Repeats values along axes of size 1 to reach `target` (no tape; used by backward rules).
    func expanded(to target: [Int]) -> Tensor {
        if shape == target { return self }
        return binaryBroadcastCopy(self, target)
    }
}

/// Sums one axis away, keeping it as size 1: [outer, n, inner] → [outer, 1, inner].
///
/// Work is split over `outer` when there is enough of it; otherwise (the
/// column sums of a [rows, D] matrix: bias gradients) over ranges of the
/// `inner` columns. Either way each output keeps one fixed summation order,
/// so results do not depend on the thread count.
private func reduceAxis(_ x: Tensor, _ axis: Int) -> Tensor {
    let s = x.shape
    let outer = s[..<axis].reduce(1, *), n = s[axis], inner = s[(axis + 1)...].reduce(1, *)
    var kept = s; kept[axis] = 1
    let out = Tensor.zeros(kept)
    let src = x.pointer, dst = out.pointer
    let work = Swift.max(n * inner, 1)
    if inner == 1 {                                   // contiguous rows: one vector sum each
        parallelFor(outer, grain: Swift.max(1, elementwiseGrain / work)) { r in
            for p in r { dst[p] = sumVec(src + p * n, n) }
        }
    } else if outer >= 4 * Threads.count {
        parallelFor(outer, grain: Swift.max(1, elementwiseGrain / work)) { r in
            for p in r { sumRows(src + p * n * inner, dst + p * inner, rows: n, stride: inner, cols: 0..<inner) }
        }
    } else {
        // Column ranges of at least 64 values (a cache line multiple) and enough rows of work.
        let grain = Swift.max(64, elementwiseGrain / Swift.max(n * outer, 1))
        parallelFor(inner, grain: grain) { cols in
            for p in 0..<outer {
                sumRows(src + p * n * inner, dst + p * inner, rows: n, stride: inner, cols: cols)
            }
        }
    }
    return out
}

/// dst[q] += Σ_i src[i·stride + q] for q in `cols`, rows in order.
@inline(__always)
private func sumRows(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                     rows: Int, stride: Int, cols: Range<Int>) {
    let lo = cols.lowerBound, count = cols.count
    for i in 0..<rows {
        let row = src + i * stride + lo
        mapVec2(dst + lo, row, dst + lo, count) { $0 + $1 }
    }
}

/// Broadcast copy of `x` into `target` (x's shape broadcasts to target).
private func binaryBroadcastCopy(_ x: Tensor, _ target: [Int]) -> Tensor {
    let out = Tensor.empty(target)
    let sx = broadcastStrides(x.shape, to: target)
    let inner = target.last ?? 1, ix = sx.last ?? 0
    let o = out.pointer, p = x.pointer
    forEachRow(target, sx, sx) { row, off, _ in
        let dst = o + row * inner, src = p + off
        if ix == 0 { dst.update(repeating: src[0], count: inner) } else { for j in 0..<inner { dst[j] = src[j] } }
    }
    return out
}
