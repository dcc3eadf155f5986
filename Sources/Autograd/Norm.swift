import Core
/// Fused layer norm and RMS norm over the last axis; backward beside forward.
///
/// Rows run in parallel with vector kernels. The weight and bias gradients are
/// sums over rows: they are split over column ranges, each summed in row
/// order, so results do not depend on the thread count.

/// LayerNorm: (x − mean) / sqrt(var + eps) · weight + bias. x [..., D], weight/bias [D].
public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
    let d = x.shape.last!, rows = x.count / d
    let out = Tensor.empty(x.shape)
    let stats = Storage(count: 2 * rows)                  // mean [rows], then rstd [rows]
    let w = (weight ?? Tensor.ones([d])).detached(), b = (bias ?? Tensor.zeros([d])).detached()
    require(w.count == d && b.count == d, "layerNorm weight \(w.shape) / bias \(b.shape) for rows of \(d)")
    let xp = x.pointer, yp = out.pointer, wp = w.pointer, bp = b.pointer
    let mp = stats.pointer, rp = stats.pointer + rows
    parallelFor(rows, grain: Swift.max(1, elementwiseGrain / d)) { r in
        for row in r {
            let xr = xp + row * d
            let mu = sumVec(xr, d) / Float(d)
            let m = Vec(repeating: mu)
            let variance = sumMapVec(xr, d) { ($0 - m) * ($0 - m) } / Float(d)
            let rs = 1 / (variance + eps).squareRoot()
            mp[row] = mu; rp[row] = rs
            let s = Vec(repeating: rs)
            @inline(__always) func lane(_ x: Vec, _ w: Vec, _ b: Vec) -> Vec { b + (x - m) * s * w }   // x̂·w + b
            mapVec3(xr, wp, bp, yp + row * d, d, lane)
        }
    }
    var inputs = [x]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    let needX = x.requiresGrad, needW = weight?.requiresGrad ?? false, needB = bias?.requiresGrad ?? false
    let hasW = weight != nil, hasB = bias != nil
    let xs = x.detached()
    return out.recorded(inputs) { g in                    // g [..., D]
        let gp = g.pointer, xp = xs.pointer
        var grads: [Tensor?] = [nil]
        if needX {
            // dx̂ = g·w;  dx = rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ ⊙ x̂))
            let gx = Tensor.empty(xs.shape)
            let dp = gx.pointer
            parallelFor(rows, grain: Swift.max(1, elementwiseGrain / d)) { r in
                for row in r {
                    let xr = xp + row * d, gr = gp + row * d
                    let m = Vec(repeating: mp[row]), s = Vec(repeating: rp[row])
                    // Lane functions, not closure literals: those stay outlined here (see Activations.swift).
                    @inline(__always) func gw(_ g: Vec, _ w: Vec, _ x: Vec) -> Vec { g * w }
                    @inline(__always) func gwx(_ g: Vec, _ w: Vec, _ x: Vec) -> Vec { g * w * ((x - m) * s) }
                    let s1 = Vec(repeating: sumMapVec3(gr, wp, xr, d, gw) / Float(d))
                    let s2 = Vec(repeating: sumMapVec3(gr, wp, xr, d, gwx) / Float(d))
                    @inline(__always) func dx(_ g: Vec, _ w: Vec, _ x: Vec) -> Vec { s * (g * w - s1 - (x - m) * s * s2) }
                    mapVec3(gr, wp, xr, dp + row * d, d, dx)
                }
            }
            grads[0] = gx
        }
        if needW || needB {
            // dw = Σ_rows g ⊙ x̂,  db = Σ_rows g
            let gw = Tensor.zeros([d]), gb = Tensor.zeros([d])
            let gwp = gw.pointer, gbp = gb.pointer
            parallelFor(d, grain: Swift.max(64, elementwiseGrain / rows)) { cols in
                let lo = cols.lowerBound, n = cols.count
                for row in 0..<rows {
                    let xr = xp + row * d + lo, gr = gp + row * d + lo
                    let m = Vec(repeating: mp[row]), s = Vec(repeating: rp[row])
                    @inline(__always) func dw(_ acc: Vec, _ g: Vec, _ x: Vec) -> Vec { acc + g * ((x - m) * s) }
                    @inline(__always) func db(_ acc: Vec, _ g: Vec) -> Vec { acc + g }
                    mapVec3(gwp + lo, gr, xr, gwp + lo, n, dw)
                    mapVec2(gbp + lo, gr, gbp + lo, n, db)
                }
            }
            if hasW { grads.append(needW ? gw : nil) }
            if hasB { grads.append(needB ? gb : nil) }
        } else {
            if hasW { grads.append(nil) }
            if hasB { grads.append(nil) }
        }
        _ = (w, b, stats)                                 // keep wp, bp, mp, rp alive until here
        return grads
    }
}

/// RMSNorm: x / sqrt(mean(x²) + eps) · weight. x [..., D], weight [D].
public func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float) -> Tensor {
    let d = x.shape.last!, rows = x.count / d
    require(weight.count == d, "rmsNorm weight \(weight.shape) for rows of \(d)")
    let out = Tensor.empty(x.shape)
    let stats = Storage(count: rows)                      // rstd [rows]
    let xp = x.pointer, yp = out.pointer, wp = weight.pointer, rp = stats.pointer
    parallelFor(rows, grain: Swift.max(1, elementwiseGrain / d)) { r in
        for row in r {
            let xr = xp + row * d
            let rs = 1 / (dotVec(xr, xr, d) / Float(d) + eps).squareRoot()
            rp[row] = rs
            let s = Vec(repeating: rs)
            @inline(__always) func lane(_ x: Vec, _ w: Vec) -> Vec { x * s * w }
            mapVec2(xr, wp, yp + row * d, d, lane)
        }
    }
    let needX = x.requiresGrad, needW = weight.requiresGrad
    let saved = (x: x.detached(), weight: weight.detached())
    return out.recorded([x, weight]) { g in               // g [..., D]
        let gp = g.pointer, xp = saved.x.pointer, wp = saved.weight.pointer
        var gx: Tensor? = nil, gw: Tensor? = nil
        if needX {
            // dx̂ = g·w;  dx = rstd · (dx̂ − x̂ · mean(dx̂ ⊙ x̂))
            let t = Tensor.empty(saved.x.shape)
            let dp = t.pointer
            parallelFor(rows, grain: Swift.max(1, elementwiseGrain / d)) { r in
                for row in r {
                    let xr = xp + row * d, gr = gp + row * d
                    let s = Vec(repeating: rp[row])
                    @inline(__always) func gwx(_ g: Vec, _ w: Vec, _ x: Vec) -> Vec { g * w * x }
                    let m = Vec(repeating: sumMapVec3(gr, wp, xr, d, gwx) * rp[row] / Float(d))
                    @inline(__always) func dx(_ g: Vec, _ w: Vec, _ x: Vec) -> Vec { s * (g * w - x * s * m) }
                    mapVec3(gr, wp, xr, dp + row * d, d, dx)
                }
            }
            gx = t
        }
        if needW {
            // dw = Σ_rows g ⊙ x̂
            let t = Tensor.zeros([d])
            let gwp = t.pointer
            parallelFor(d, grain: Swift.max(64, elementwiseGrain / rows)) { cols in
                let lo = cols.lowerBound, n = cols.count
                for row in 0..<rows {
                    let s = Vec(repeating: rp[row])
                    @inline(__always) func dw(_ acc: Vec, _ g: Vec, _ x: Vec) -> Vec { acc + g * (x * s) }
                    mapVec3(gwp + lo, gp + row * d + lo, xp + row * d + lo, gwp + lo, n, dw)
                }
            }
            gw = t
        }
        _ = stats                                         // keeps rp alive until here
        return [gx, gw]
    }
}
