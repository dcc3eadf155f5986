import Core
/// The fused AdamW update: one pass over weights, gradients and both moments,
/// eight lanes at a time, every tensor of the step in one parallel loop.
///
/// The optimizer (Optimizers/AdamW.swift) owns the moments and the schedule;
/// this is only the arithmetic, kept in the engine for its vector helpers.

/// One tensor's buffers and its per-tensor factors for `adamWUpdate`.
public struct AdamWSegment {
    public let weight: UnsafeMutablePointer<Float>
    public let grad: UnsafePointer<Float>
    public let m: UnsafeMutablePointer<Float>
    public let v: UnsafeMutablePointer<Float>
    public let count: Int
    /// lr / (1 − β1ᵗ): the step on the bias-corrected first moment.
    public let stepSize: Float
    /// 1 − lr·λ with decoupled weight decay, else 1.
    public let decay: Float

    public init(weight: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
                v: UnsafeMutablePointer<Float>, count: Int, stepSize: Float, decay: Float) {
        self.weight = weight; self.grad = grad; self.m = m; self.v = v; self.count = count
        self.stepSize = stepSize; self.decay = decay
    }
}

/// For every value of every segment, with g = gradScale · grad:
///   m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;
///   w ← w·decay − stepSize · m / (√(v / (1 − β2ᵗ)) + eps).
///
/// The segments' values are cut into equal ranges across threads (not one
/// parallel loop per tensor: a model has hundreds of small bias and norm
/// vectors). Segments must not overlap.
public func adamWUpdate(_ segments: [AdamWSegment], beta1: Float, beta2: Float, eps: Float,
                        biasCorrection2: Float, gradScale: Float) {
    var starts = [Int](), total = 0                   // first value of each segment in the joint range
    starts.reserveCapacity(segments.count)
    for s in segments { starts.append(total); total += s.count }
    let k = AdamWConstants(beta1: beta1, beta2: beta2, eps: eps, rbc2: 1 / biasCorrection2, gradScale: gradScale)
    parallelFor(total, grain: 1 << 16) { range in
        // The last segment starting at or before the range, then forward.
        var lo = 0, hi = segments.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= range.lowerBound { lo = mid } else { hi = mid - 1 }
        }
        var i = lo
        while i < segments.count && starts[i] < range.upperBound {
            let a = Swift.max(range.lowerBound, starts[i]) - starts[i]
            let b = Swift.min(range.upperBound, starts[i] + segments[i].count) - starts[i]
            if a < b { adamWRun(segments[i], a, b - a, k) }
            i += 1
        }
    }
}

struct AdamWConstants {
    let beta1, beta2, eps, rbc2, gradScale: Float
}

/// The update of `n` values of one segment from offset `o`.
@inline(__always)
private func adamWRun(_ s: AdamWSegment, _ o: Int, _ n: Int, _ k: AdamWConstants) {
    let w = s.weight + o, g = s.grad + o, m = s.m + o, v = s.v + o
    let b1 = Vec(repeating: k.beta1), c1 = Vec(repeating: 1 - k.beta1)
    let b2 = Vec(repeating: k.beta2), c2 = Vec(repeating: 1 - k.beta2)
    let eps = Vec(repeating: k.eps), rbc2 = Vec(repeating: k.rbc2), scale = Vec(repeating: k.gradScale)
    let step = Vec(repeating: s.stepSize), decay = Vec(repeating: s.decay)
    @inline(__always) func lanes(_ gi: Vec, _ mi: Vec, _ vi: Vec, _ wi: Vec) -> (Vec, Vec, Vec) {
        let gs = gi * scale
        let m1 = b1 * mi + c1 * gs
        let v1 = b2 * vi + c2 * gs * gs
        let w1 = wi * decay - step * m1 / (vsqrt(v1 * rbc2) + eps)
        return (m1, v1, w1)
    }
    var i = 0
    while i &+ 8 <= n {
        let (m1, v1, w1) = lanes(loadVec(g + i), loadVec(m + i), loadVec(v + i), loadVec(w + i))
        storeVec(m1, m + i); storeVec(v1, v + i); storeVec(w1, w + i)
        i &+= 8
    }
    if i < n {
        let r = n &- i
        let (m1, v1, w1) = lanes(loadPartial(g + i, r), loadPartial(m + i, r), loadPartial(v + i, r),
                                 loadPartial(w + i, r))
        storePartial(m1, m + i, r); storePartial(v1, v + i, r); storePartial(w1, w + i, r)
    }
}

extension Tensor {
    /// Σ x² over all values, in Float32 with eight running sums (gradient norms).
    public var sumOfSquares: Float { dotVec(pointer, pointer, count) }
}
