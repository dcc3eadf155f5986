import Foundation

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
    // cos/sin tables per token, computed in Double for accuracy at long positions.
    var cosT = [Float](repeating: 0, count: b * t * half), sinT = cosT
    var invFreq = [Double](repeating: 0, count: half)
    for i in 0..<half { invFreq[i] = 1 / Foundation.pow(Double(theta), Double(2 * i) / Double(dh)) }
    for (n, p) in positions.enumerated() {
        for i in 0..<half {
            let a = Double(p) * Double(Float(invFreq[i]))
            cosT[n * half + i] = Float(Foundation.cos(a)); sinT[n * half + i] = Float(Foundation.sin(a))
        }
    }
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
