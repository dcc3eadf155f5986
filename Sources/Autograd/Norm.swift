/// Fused layer norm and RMS norm over the last axis; backward beside forward.

/// LayerNorm: (x − mean) / sqrt(var + eps) · weight + bias. x [..., D], weight/bias [D].
public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
    let d = x.shape.last!, rows = x.count / d
    let out = Tensor.empty(x.shape)
    var mean = [Float](repeating: 0, count: rows), rstd = [Float](repeating: 0, count: rows)
    let xp = x.pointer, yp = out.pointer
    let w = weight?.pointer, b = bias?.pointer
    mean.withUnsafeMutableBufferPointer { mp in
        rstd.withUnsafeMutableBufferPointer { rp in
            let mp = mp.baseAddress!, rp = rp.baseAddress!
            parallelFor(rows, grain: Swift.max(1, elementwiseGrain / d)) { r in
                for row in r {
                    let xr = xp + row * d, yr = yp + row * d
                    var s: Float = 0
                    for j in 0..<d { s += xr[j] }
                    let mu = s / Float(d)
                    var v: Float = 0
                    for j in 0..<d { let c = xr[j] - mu; v += c * c }
                    let rs = 1 / (v / Float(d) + eps).squareRoot()
                    mp[row] = mu; rp[row] = rs
                    for j in 0..<d {
                        var y = (xr[j] - mu) * rs
                        if let w { y *= w[j] }
                        if let b { y += b[j] }
                        yr[j] = y
                    }
                }
            }
        }
    }
    var inputs = [x]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    let needX = x.requiresGrad, needW = weight?.requiresGrad ?? false, needB = bias?.requiresGrad ?? false
    let hasW = weight != nil, hasB = bias != nil
    let x = x.detached(), weight = weight?.detached()
    return out.recorded(inputs) { g in
        let gp = g.pointer
        let gx = Tensor.empty(x.shape)
        let gw = Tensor.zeros([d]), gb = Tensor.zeros([d])
        let gxp = gx.pointer
        // dx̂ = g·w;  dx = rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ ⊙ x̂))
        parallelFor(rows, grain: Swift.max(1, elementwiseGrain / d)) { r in
            for row in r {
                let xr = xp + row * d, gr = gp + row * d, dr = gxp + row * d
                let mu = mean[row], rs = rstd[row]
                var s1: Float = 0, s2: Float = 0
                for j in 0..<d {
                    let xh = (xr[j] - mu) * rs
                    let dxh = gr[j] * (w?[j] ?? 1)
                    s1 += dxh; s2 += dxh * xh
                }
                s1 /= Float(d); s2 /= Float(d)
                for j in 0..<d {
                    let xh = (xr[j] - mu) * rs
                    let dxh = gr[j] * (w?[j] ?? 1)
                    dr[j] = rs * (dxh - s1 - xh * s2)
                }
            }
        }
        if needW || needB {
            let gwp = gw.pointer, gbp = gb.pointer
            for row in 0..<rows {
                let xr = xp + row * d, gr = gp + row * d
                let mu = mean[row], rs = rstd[row]
                for j in 0..<d { gwp[j] += gr[j] * (xr[j] - mu) * rs; gbp[j] += gr[j] }
            }
        }
        _ = weight                          // keeps `w` alive until backward has run
        var grads: [Tensor?] = [needX ? gx : nil]
        if hasW { grads.append(needW ? gw : nil) }
        if hasB { grads.append(needB ? gb : nil) }
        return grads
    }
}

/// RMSNorm: x / sqrt(mean(x²) + eps) · weight. x [..., D], weight [D].
public func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float) -> Tensor {
    let d = x.shape.last!, rows = x.count / d
    let out = Tensor.empty(x.shape)
    var rstd = [Float](repeating: 0, count: rows)
    let xp = x.pointer, yp = out.pointer, w = weight.pointer
    rstd.withUnsafeMutableBufferPointer { rp in
        let rp = rp.baseAddress!
        parallelFor(rows, grain: Swift.max(1, elementwiseGrain / d)) { r in
            for row in r {
                let xr = xp + row * d, yr = yp + row * d
                var ss: Float = 0
                for j in 0..<d { ss += xr[j] * xr[j] }
                let rs = 1 / (ss / Float(d) + eps).squareRoot()
                rp[row] = rs
                for j in 0..<d { yr[j] = xr[j] * rs * w[j] }
            }
        }
    }
    let needX = x.requiresGrad, needW = weight.requiresGrad
    let saved = (x: x.detached(), weight: weight.detached())
    return out.recorded([x, weight]) { g in
        _ = saved                           // keeps `xp` and `w` alive until backward has run
        let gp = g.pointer
        let gx = Tensor.empty(x.shape), gw = Tensor.zeros([d])
        let gxp = gx.pointer, gwp = gw.pointer
        // dx̂ = g·w;  dx = rstd · (dx̂ − x̂ · mean(dx̂ ⊙ x̂))
        parallelFor(rows, grain: Swift.max(1, elementwiseGrain / d)) { r in
            for row in r {
                let xr = xp + row * d, gr = gp + row * d, dr = gxp + row * d
                let rs = rstd[row]
                var s: Float = 0
                for j in 0..<d { s += gr[j] * w[j] * xr[j] * rs }
                s /= Float(d)
                for j in 0..<d { dr[j] = rs * (gr[j] * w[j] - xr[j] * rs * s) }
            }
        }
        if needW {
            for row in 0..<rows {
                let xr = xp + row * d, gr = gp + row * d, rs = rstd[row]
                for j in 0..<d { gwp[j] += gr[j] * xr[j] * rs }
            }
        }
        return [needX ? gx : nil, needW ? gw : nil]
    }
}
