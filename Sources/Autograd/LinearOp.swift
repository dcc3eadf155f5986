import Core
/// The affine map of a Linear layer, with the bias fused into the GEMM.

/// y = x · Wᵀ + b over the last axis: x [..., in], weight [out, in], bias [out].
///
/// With a bias, every output row starts as a copy of b and the GEMM adds
/// x·Wᵀ onto it (beta = 1). OpenBLAS clears C before a beta = 0 product anyway,
/// so the bias costs that one pass instead of a separate add over the result.
public func linear(_ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil) -> Tensor {
    guard let bias else { return matmul(x, weight, transposeB: true) }
    require(weight.rank == 2 && x.rank >= 1 && x.shape.last == weight.shape[1],
            "linear: input \(x.shape) for weight \(weight.shape)")
    let (n, k) = (weight.shape[0], weight.shape[1])
    require(bias.count == n, "linear: bias \(bias.shape) for \(n) outputs")
    let rows = x.count / Swift.max(k, 1)
    let out = Tensor.empty(Array(x.shape.dropLast()) + [n])            // [..., out]
    let bp = bias.pointer, op = out.pointer
    for r in 0..<rows { (op + r * n).update(from: bp, count: n) }
    BLAS.sgemm(false, true, rows, n, k, 1, x.pointer, k, weight.pointer, k, 1, op, n)

    let needs = (x: x.requiresGrad, w: weight.requiresGrad, b: bias.requiresGrad)
    let savedX = needs.w ? x.detached() : nil, savedW = needs.x ? weight.detached() : nil
    let xShape = x.shape
    return out.recorded([x, weight, bias]) { g in                     // g [..., out]
        var gx: Tensor? = nil, gw: Tensor? = nil
        if let w = savedW {                                            // dx = g · W
            let t = Tensor.empty(xShape)
            BLAS.sgemm(false, false, rows, k, n, 1, g.pointer, n, w.pointer, k, 0, t.pointer, k)
            gx = t
        }
        if let x = savedX {                                            // dW = gᵀ · x
            let t = Tensor.empty([n, k])
            BLAS.sgemm(true, false, n, k, rows, 1, g.pointer, n, x.pointer, k, 0, t.pointer, k)
            gw = t
        }
        return [gx, gw, needs.b ? g.reshaped([rows, n]).sum(axis: 0) : nil]     // db: column sums
    }
}
