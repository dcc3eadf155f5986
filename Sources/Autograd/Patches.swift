import Core
/// Patch extraction for the patch-embedding convolution (kernel = stride = P),
/// which then is a matmul.
///
/// The input is the strip layout of the official preprocessing: pixels
/// [B, C, P, L·P] where patch k occupies columns [kP, kP + P). The output is
/// [B, L, C·P·P] with features ordered (c, i, j), matching a Conv2d weight
/// [D, C, P, P] flattened to [D, C·P·P].
public func patchify(_ pixels: Tensor, patchSize p: Int) -> Tensor {
    require(pixels.rank == 4 && pixels.shape[2] == p && pixels.shape[3] % p == 0,
                 "patchify expects [B, C, \(p), L·\(p)], got \(pixels.shape)")
    let (b, c, width) = (pixels.shape[0], pixels.shape[1], pixels.shape[3])
    let l = width / p, f = c * p * p
    let out = Tensor.empty([b, l, f])
    unfold(pixels.pointer, out.pointer, b: b, c: c, p: p, l: l, forward: true)
    let shape = pixels.shape
    return out.recorded([pixels]) { g in
        let gi = Tensor.empty(shape)
        unfold(gi.pointer, g.pointer, b: b, c: c, p: p, l: l, forward: false)
        return [gi]
    }
}

/// forward: patches ← strip; backward: strip ← patches (a permutation, so no sums).
private func unfold(_ strip: UnsafeMutablePointer<Float>, _ patches: UnsafeMutablePointer<Float>,
                    b: Int, c: Int, p: Int, l: Int, forward: Bool) {
    let width = l * p, f = c * p * p
    for bi in 0..<b {
        for k in 0..<l {
            let dst = patches + (bi * l + k) * f
            for ci in 0..<c {
                for i in 0..<p {
                    let s = strip + ((bi * c + ci) * p + i) * width + k * p
                    let d = dst + (ci * p + i) * p
                    if forward { d.update(from: s, count: p) } else { s.update(from: d, count: p) }
                }
            }
        }
    }
}

/// Conv2d(C → D, kernel = stride = P) over the strip layout, as unfold + matmul.
///
/// pixels [B, C, P, L·P], weight [D, C, P, P] (PyTorch's Conv2d layout), bias [D]
/// → [B, L, D].
public func patchEmbedding(_ pixels: Tensor, weight: Tensor, bias: Tensor?, patchSize p: Int) -> Tensor {
    require(weight.rank == 4 && weight.shape[1] == pixels.shape[1] && weight.shape[2] == p && weight.shape[3] == p,
                 "patchEmbedding weight \(weight.shape) does not fit pixels \(pixels.shape) with patch \(p)")
    let patches = patchify(pixels, patchSize: p)                           // [B, L, C·P·P]
    return linear(patches, weight.reshaped([weight.shape[0], -1]), bias)   // [B, L, D]
}
