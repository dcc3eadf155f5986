import Core
/// SwiGLU's gate, silu(a) ⊙ b, fused: one pass forward, one pass backward
/// producing both input gradients (instead of a silu, a product and their
/// three backward passes, with the silu output as an extra saved tensor).

/// silu(a) ⊙ b = a·σ(a)·b elementwise; a and b of the same shape.
public func swiGLU(_ a: Tensor, _ b: Tensor) -> Tensor {
    require(a.shape == b.shape, "swiGLU of \(a.shape) and \(b.shape)")
    let out = Tensor.empty(a.shape)
    let ap = a.pointer, bp = b.pointer, op = out.pointer
    parallelFor(a.count, grain: elementwiseGrain) { r in
        let o = r.lowerBound
        @inline(__always) func lane(_ a: Vec, _ b: Vec) -> Vec { a * vsigmoid(a) * b }   // inlined, unlike a closure literal
        mapVec2(ap + o, bp + o, op + o, r.count, lane)
    }
    let needs = (a: a.requiresGrad, b: b.requiresGrad)
    let saved = (a: a.detached(), b: b.detached())
    return out.recorded([a, b]) { g in
        // da = g·b·σ(a)·(1 + a(1 − σ(a))),  db = g·a·σ(a)
        let da = needs.a ? Tensor.empty(saved.a.shape) : nil, db = needs.b ? Tensor.empty(saved.b.shape) : nil
        let gp = g.pointer, ap = saved.a.pointer, bp = saved.b.pointer
        let dap = da?.pointer, dbp = db?.pointer
        parallelFor(saved.a.count, grain: elementwiseGrain) { r in
            swiGLUBackward(gp + r.lowerBound, ap + r.lowerBound, bp + r.lowerBound,
                           dap.map { $0 + r.lowerBound }, dbp.map { $0 + r.lowerBound }, r.count)
        }
        return [da, db]
    }
}

/// Both gradients of silu(a)·b for n values (either output may be skipped).
private func swiGLUBackward(_ g: UnsafePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                            _ da: UnsafeMutablePointer<Float>?, _ db: UnsafeMutablePointer<Float>?, _ n: Int) {
    @inline(__always) func lanes(_ g: Vec, _ a: Vec, _ b: Vec) -> (Vec, Vec) {
        let s = vsigmoid(a), gs = g * s
        return (gs * b * (1 + a * (1 - s)), gs * a)
    }
    var i = 0
    while i &+ 8 <= n {
        let (x, y) = lanes(loadVec(g + i), loadVec(a + i), loadVec(b + i))
        if let da { storeVec(x, da + i) }
        if let db { storeVec(y, db + i) }
        i &+= 8
    }
    if i < n {
        let m = n &- i
        let (x, y) = lanes(loadPartial(g + i, m), loadPartial(a + i, m), loadPartial(b + i, m))
        if let da { storePartial(x, da + i, m) }
        if let db { storePartial(y, db + i, m) }
    }
}
