import Foundation

/// Softmax and log-softmax over the last axis.

extension Tensor {
    public func softmax() -> Tensor {
        let d = shape.last ?? 1, rows = count / Swift.max(d, 1)
        let out = Tensor.empty(shape)
        let x = pointer, y = out.pointer
        parallelFor(rows, grain: Swift.max(1, elementwiseGrain / Swift.max(d, 1))) { r in
            for row in r { softmaxRow(x + row * d, y + row * d, d) }
        }
        return out.recorded([self]) { g in
            // dx = y ⊙ (g − Σ g⊙y)
            let gi = Tensor.empty(out.shape)
            let gp = g.pointer, dp = gi.pointer
            parallelFor(rows, grain: Swift.max(1, elementwiseGrain / Swift.max(d, 1))) { r in
                for row in r {
                    let o = row * d
                    var dot: Float = 0
                    for j in 0..<d { dot += gp[o + j] * y[o + j] }
                    for j in 0..<d { dp[o + j] = y[o + j] * (gp[o + j] - dot) }
                }
            }
            return [gi]
        }
    }

    public func logSoftmax() -> Tensor {
        let d = shape.last ?? 1, rows = count / Swift.max(d, 1)
        let out = Tensor.empty(shape)
        let x = pointer, y = out.pointer
        parallelFor(rows, grain: Swift.max(1, elementwiseGrain / Swift.max(d, 1))) { r in
            for row in r {
                let o = row * d
                let lse = logSumExp(x + o, d)
                for j in 0..<d { y[o + j] = x[o + j] - lse }
            }
        }
        return out.recorded([self]) { g in
            // dx = g − softmax ⊙ Σ g
            let gi = Tensor.empty(out.shape)
            let gp = g.pointer, dp = gi.pointer
            parallelFor(rows, grain: Swift.max(1, elementwiseGrain / Swift.max(d, 1))) { r in
                for row in r {
                    let o = row * d
                    var s: Float = 0
                    for j in 0..<d { s += gp[o + j] }
                    for j in 0..<d { dp[o + j] = gp[o + j] - Foundation.exp(y[o + j]) * s }
                }
            }
            return [gi]
        }
    }
}

/// y = softmax(x) for one row of `n` values (max-subtracted; a row of -inf gives zeros).
@inline(__always)
func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    var m = -Float.infinity
    for j in 0..<n { m = Swift.max(m, x[j]) }
    if m == -.infinity { y.update(repeating: 0, count: n); return }
    var s: Float = 0
    for j in 0..<n { let e = Foundation.exp(x[j] - m); y[j] = e; s += e }
    let inv = 1 / s
    for j in 0..<n { y[j] *= inv }
}

/// log Σ exp(x) for one row, computed stably.
@inline(__always)
func logSumExp(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var m = -Float.infinity
    for j in 0..<n { m = Swift.max(m, x[j]) }
    if m == -.infinity { return m }
    var s: Float = 0
    for j in 0..<n { s += Foundation.exp(x[j] - m) }
    return m + Foundation.log(s)
}
