import Foundation
import Core

extension Tensor {
    /// Normal(0, std²) values: the same as `rng.normal() * std` value by value,
    /// generated in parallel.
    public static func randn(_ shape: [Int], std: Float = 1, rng: inout RNG) -> Tensor {
        let t = Tensor.empty(shape)
        rng.fill(t.pointer, t.count, drawsPerValue: 2) { r, base in
            let u1 = Swift.max(uniform53(r.draw(base + 1)), 1e-300), u2 = uniform53(r.draw(base + 2))
            return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)) * std
        }
        return t
    }

    /// Uniform values in [low, high): the same as `low + (high − low) · rng.uniform()`.
    public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1, rng: inout RNG) -> Tensor {
        let t = Tensor.empty(shape)
        rng.fill(t.pointer, t.count, drawsPerValue: 1) { r, base in low + (high - low) * uniform24(r.draw(base + 1)) }
        return t
    }

    /// Truncated normal values (rejection sampling: draws per value vary, so serial).
    public static func truncatedNormal(_ shape: [Int], std: Float, a: Float = -2, b: Float = 2,
                                       rng: inout RNG) -> Tensor {
        let t = Tensor.empty(shape)
        for i in 0..<t.count { t.pointer[i] = rng.truncatedNormal(std: std, a: a, b: b) }
        return t
    }
}

/// Inverted dropout: zeroes each value with probability `p`, scales the rest by 1/(1-p).
/// Value i is dropped when the stream's i-th uniform is below p.
public func dropout(_ x: Tensor, p: Float, rng: inout RNG) -> Tensor {
    guard p > 0 else { return x }
    require(p < 1, "dropout probability must be < 1")
    let mask = Tensor.empty(x.shape)
    let scale = 1 / (1 - p)
    rng.fill(mask.pointer, mask.count, drawsPerValue: 1) { r, base in uniform24(r.draw(base + 1)) < p ? 0 : scale }
    return x * mask
}
