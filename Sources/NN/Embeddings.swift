import Foundation
import Autograd
import Core

/// Rotary position embedding (rotate-half), inv_freq_i = θ^(−2i/Dh).
public struct RotaryEmbedding {
    public let theta: Float

    public init(theta: Float) { self.theta = theta }

    /// x [B, T, H, Dh], positions B·T → [B, T, H, Dh]
    public func callAsFunction(_ x: Tensor, positions: [Int32]) -> Tensor {
        rotaryEmbedding(x, positions: positions, theta: theta)
    }
}

/// Fixed sine-cosine position embeddings (MAE / MiniCPM-V resampler convention).
public enum SinCosEmbedding {
    /// 1-D: for each position p, [sin(p·ω_0…), cos(p·ω_0…)] with
    /// ω_k = 10000^(−k/(dim/2)), k < dim/2. Result [positions, dim], computed in
    /// Double and rounded once.
    public static func table1D(dim: Int, positions: Int) -> [Float] {
        precondition(dim % 2 == 0, "sin-cos dimension must be even")
        return (0..<positions).flatMap { vector1D(dim: dim, position: Double($0)) }
    }

    /// The 1-D embedding of one (possibly fractional) position: [dim].
    public static func vector1D(dim: Int, position: Double) -> [Float] {
        let half = dim / 2
        var out = [Float](repeating: 0, count: dim)
        for k in 0..<half {
            let a = position / Foundation.pow(10000, Double(k) / Double(half))
            out[k] = Float(Foundation.sin(a))
            out[half + k] = Float(Foundation.cos(a))
        }
        return out
    }

    /// The 2-D embedding of one point of the patch grid (fractional rows and
    /// columns lie between patches): [dim], laid out as `grid2D`'s rows.
    public static func vector2D(dim: Int, row: Double, column: Double) -> [Float] {
        precondition(dim % 4 == 0, "2-D sin-cos dimension must be a multiple of 4")
        return vector1D(dim: dim / 2, position: column) + vector1D(dim: dim / 2, position: row)
    }

    /// 2-D for an h×w grid in row-major order (k = r·w + c): the first half of
    /// each vector encodes the column c, the second half the row r, each a 1-D
    /// table of dim/2. Result [h·w, dim].
    public static func grid2D(dim: Int, height h: Int, width w: Int) -> Tensor {
        precondition(dim % 4 == 0, "2-D sin-cos dimension must be a multiple of 4")
        let half = dim / 2
        let table = table1D(dim: half, positions: max(h, w))
        let out = Tensor.empty(shape: [h * w, dim])
        table.withUnsafeBufferPointer { t in
            let t = t.baseAddress!
            for r in 0..<h {
                for c in 0..<w {
                    let dst = out.pointer + (r * w + c) * dim
                    dst.update(from: t + c * half, count: half)
                    (dst + half).update(from: t + r * half, count: half)
                }
            }
        }
        return out
    }
}

extension Tensor {
    /// An uninitialised tensor (every element must be written).
    static func empty(shape: [Int]) -> Tensor {
        Tensor(storage: Storage(count: shape.reduce(1, *)), shape: shape)
    }
}
