import Foundation

/// A counter-based random stream (SplitMix64 over a counter): value i of a
/// stream is a pure function of (key, i), so the state is two integers that
/// checkpoints save and restore exactly.
public struct RNG: Codable, Equatable {
    public private(set) var key: UInt64
    public private(set) var counter: UInt64

    public init(seed: UInt64) {
        key = RNG.mix(seed ^ 0x6A09E667F3BCC909)
        counter = 0
    }

    public init(key: UInt64, counter: UInt64) {
        self.key = key; self.counter = counter
    }

    /// An independent stream for one purpose ("init", "dropout", "shuffle", …).
    public func derived(_ purpose: String) -> RNG {
        RNG(key: RNG.mix(key ^ FNV1a.hash(purpose)), counter: 0)
    }

    @inlinable @inline(__always)
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E3779B97F4A7C15
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        counter &+= 1
        return RNG.mix(key &+ counter &* 0xD1B54A32D192ED03)
    }

    /// Uniform in [0, 1) with 24 random bits.
    @inline(__always)
    public mutating func uniform() -> Float { Float(next() >> 40) * (1 / 16_777_216) }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func uniformDouble() -> Double { Double(next() >> 11) * (1 / 9_007_199_254_740_992) }

    /// Standard normal (Box–Muller; one draw pair per value).
    public mutating func normal() -> Float {
        let u1 = max(uniformDouble(), 1e-300), u2 = uniformDouble()
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }

    /// Normal(0, std) truncated to [a, b] (absolute bounds, as PyTorch's trunc_normal_).
    public mutating func truncatedNormal(std: Float, a: Float = -2, b: Float = 2) -> Float {
        require(a < b && std > 0, "truncated normal needs a < b and std > 0")
        while true {
            let x = normal() * std
            if x >= a && x <= b { return x }
        }
    }

    /// Integer in 0..<n.
    public mutating func below(_ n: Int) -> Int {
        require(n > 0, "below(\(n)): n must be positive")
        return Int(next() % UInt64(n))
    }

    /// A uniformly random permutation of 0..<n (Fisher–Yates).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, below(i + 1)) }
        return p
    }
}

// MARK: - Filling tensors

extension RNG {
    /// The value the `i`-th next call of `next()` will return (i ≥ 1), without
    /// advancing: what lets buffers be filled in parallel with exactly the
    /// values of the serial stream.
    @inlinable @inline(__always)
    public func draw(_ i: UInt64) -> UInt64 { RNG.mix(key &+ (counter &+ i) &* 0xD1B54A32D192ED03) }

    /// Moves past `n` draws.
    @usableFromInline mutating func skip(_ n: Int) { counter &+= UInt64(n) }

    /// p[i] = f(draw i·perValue + 1, …) for i in 0..<n, split across threads, then
    /// skips the n·perValue draws used: the same values as n serial calls.
    @inlinable
    public mutating func fill(_ p: UnsafeMutablePointer<Float>, _ n: Int, drawsPerValue: Int,
                       _ f: (RNG, UInt64) -> Float) {
        let rng = self
        parallelFor(n, grain: 1 << 14) { r in
            for i in r { p[i] = f(rng, UInt64(i * drawsPerValue)) }
        }
        skip(n * drawsPerValue)
    }
}

/// Uniform in [0, 1) with 24 bits, from one draw (as `uniform()`).
@inlinable @inline(__always)
public func uniform24(_ x: UInt64) -> Float { Float(x >> 40) * (1 / 16_777_216) }

/// Uniform in [0, 1) with 53 bits, from one draw (as `uniformDouble()`).
@inlinable @inline(__always)
public func uniform53(_ x: UInt64) -> Double { Double(x >> 11) * (1 / 9_007_199_254_740_992) }
