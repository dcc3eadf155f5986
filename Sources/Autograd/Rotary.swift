import Foundation
import Core

/// Rotary position embedding, rotate-half convention:
/// out[:d/2] = x1·cos − x2·sin, out[d/2:] = x2·cos + x1·sin,
/// with angle = position · θ^(−2i/d).
///
/// x [B, T, H, Dh]; positions holds B·T entries (row-major over [B, T]).
public func rotaryEmbedding(_ x: Tensor, positions: [Int32], theta: Float) -> Tensor {
    require(x.rank == 4, "rotaryEmbedding expects [B, T, H, Dh], got \(x.shape)")
    let (b, t, h, dh) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    require(positions.count == b * t, "\(positions.count) positions for [\(b), \(t)]")
    require(dh % 2 == 0, "rotary head dim must be even")
    let half = dh / 2
    let tables = RotaryTables.lookup(positions: positions, theta: theta, dh: dh)
    let (cosT, sinT) = (tables.cos, tables.sin)
    let out = rotate(x, cosT, sinT, half: half, heads: h, sign: 1)
    return out.recorded([x]) { g in [rotate(g, cosT, sinT, half: half, heads: h, sign: -1)] }
}

/// Applies the rotation (sign 1) or its inverse (sign −1, the backward).
private func rotate(_ x: Tensor, _ cosT: [Float], _ sinT: [Float], half: Int, heads: Int, sign: Float) -> Tensor {
    let out = Tensor.empty(x.shape)
    let tokens = x.count / (heads * half * 2), dh = 2 * half
    let xp = x.pointer, op = out.pointer
    cosT.withUnsafeBufferPointer { cp in
        sinT.withUnsafeBufferPointer { sp in
            let cp = cp.baseAddress!, sp = sp.baseAddress!
            parallelFor(tokens, grain: Swift.max(1, elementwiseGrain / (heads * dh))) { r in
                for n in r {
                    let c = cp + n * half, s = sp + n * half
                    for hh in 0..<heads {
                        let src = xp + (n * heads + hh) * dh, dst = op + (n * heads + hh) * dh
                        for i in 0..<half {
                            let x1 = src[i], x2 = src[i + half], si = sign * s[i]
                            dst[i] = x1 * c[i] - x2 * si
                            dst[i + half] = x2 * c[i] + x1 * si
                        }
                    }
                }
            }
        }
    }
    return out
}

/// cos/sin of position·ω_i for every token, computed in Double for accuracy at
/// long positions (ω_i = θ^(−2i/d) rounded to Float32, as the reference models
/// keep it).
///
/// A model rotates q and k of every layer with the same positions, so the most
/// recent tables are kept and reused (compared by value: O(T), against
/// T·Dh/2 cos and sin evaluations).
final class RotaryTables: @unchecked Sendable {
    let positions: [Int32]
    let theta: Float
    let dh: Int
    let cos: [Float], sin: [Float]                        // [tokens, Dh/2]

    private init(positions: [Int32], theta: Float, dh: Int) {
        self.positions = positions; self.theta = theta; self.dh = dh
        let half = dh / 2
        var c = [Float](repeating: 0, count: positions.count * half), s = c
        var invFreq = [Double](repeating: 0, count: half)
        for i in 0..<half { invFreq[i] = Double(Float(1 / Foundation.pow(Double(theta), Double(2 * i) / Double(dh)))) }
        for (n, p) in positions.enumerated() {
            for i in 0..<half {
                let a = Double(p) * invFreq[i]
                c[n * half + i] = Float(Foundation.cos(a)); s[n * half + i] = Float(Foundation.sin(a))
            }
        }
        cos = c; sin = s
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var recent: [RotaryTables] = []
    private static let capacity = 4

    static func lookup(positions: [Int32], theta: Float, dh: Int) -> RotaryTables {
        lock.lock()
        if let hit = recent.first(where: { $0.theta == theta && $0.dh == dh && $0.positions == positions }) {
            lock.unlock()
            return hit
        }
        lock.unlock()
        let made = RotaryTables(positions: positions, theta: theta, dh: dh)
        lock.lock()
        recent.insert(made, at: 0)
        if recent.count > capacity { recent.removeLast() }
        lock.unlock()
        return made
    }
}
