import Foundation
import Core

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
                    let dot = Vec(repeating: dotVec(gp + o, y + o, d))
                    mapVec2(gp + o, y + o, dp + o, d) { g, y in y * (g - dot) }
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
                let lse = Vec(repeating: logSumExp(x + o, d))
                mapVec(x + o, y + o, d) { $0 - lse }
            }
        }
        return out.recorded([self]) { g in
            // dx = g − softmax ⊙ Σ g
            let gi = Tensor.empty(out.shape)
            let gp = g.pointer, dp = gi.pointer
            parallelFor(rows, grain: Swift.max(1, elementwiseGrain / Swift.max(d, 1))) { r in
                for row in r {
                    let o = row * d
                    let s = Vec(repeating: sumVec(gp + o, d))
                    mapVec2(gp + o, y + o, dp + o, d) { g, y in g - vexp(y) * s }
                }
            }
            return [gi]
        }
    }
}

/// y = softmax(x) for one row of `n` values (max-subtracted; a row of −inf gives zeros).
@inline(__always)
func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    let m = maxVec(x, n)
    if m == -.infinity { y.update(repeating: 0, count: n); return }
    let inv = Vec(repeating: 1 / sumExpVec(x, m, n, store: y))
    mapVec(y, y, n) { $0 * inv }
}

/// log Σ exp(x) for one row, computed stably.
@inline(__always)
func logSumExp(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    let m = maxVec(x, n)
    if m == -.infinity { return m }
    return m + Foundation.log(sumExpVec(x, m, n, store: nil))
}
