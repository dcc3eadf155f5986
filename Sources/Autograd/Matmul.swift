import Core
/// Matrix products through `cblas_sgemm`, with transposes passed as flags
/// (no transposed copies).

/// Batched matrix product over the last two axes.
///
/// - `a`: [..., M, K], or [..., K, M] when `transposeA`.
/// - `b`: [K, N] (shared by every batch) or [..., K, N] with `a`'s batch axes;
///   [N, K] / [..., N, K] when `transposeB`.
/// - result: [..., M, N].
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
    require(a.rank >= 2 && b.rank >= 2, "matmul needs matrices, got \(a.shape) and \(b.shape)")
    let batchShape = Array(a.shape.dropLast(2))
    let bShared = b.rank == 2
    require(bShared || Array(b.shape.dropLast(2)) == batchShape,
                 "matmul batch axes differ: \(a.shape) vs \(b.shape)")
    let (am, ak) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
    let (bk, bn) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
    let m = transposeA ? ak : am, k = transposeA ? am : ak
    let n = transposeB ? bk : bn, kb = transposeB ? bn : bk
    require(k == kb, "matmul inner sizes differ: \(a.shape)\(transposeA ? "ᵀ" : "") · \(b.shape)\(transposeB ? "ᵀ" : "")")
    var batch = batchShape.reduce(1, *)
    var rows = m
    // A shared right operand with an untransposed left one is one tall GEMM.
    if bShared && !transposeA { rows = batch * m; batch = 1 }

    let out = Tensor.empty(batchShape + [m, n])
    gemmBatched(a.pointer, transposeA, true, b.pointer, transposeB, !bShared,
                out.pointer, true, batch: batch, m: rows, n: n, k: k)

    // dA needs B and dB needs A: keep an operand only when the other one trains
    // (a frozen weight then never keeps the activations that flow through it).
    let (aShape, bShape) = (a.shape, b.shape)
    let savedA = b.requiresGrad ? a.detached() : nil, savedB = a.requiresGrad ? b.detached() : nil
    return out.recorded([a, b]) { g in           // g: [..., M, N]
        var ga: Tensor? = nil, gb: Tensor? = nil
        if let b = savedB {
            let r = Tensor.empty(aShape)
            // dA = dC · op(B)ᵀ, stored in A's layout.
            if !transposeA {
                gemmBatched(g.pointer, false, true, b.pointer, !transposeB, !bShared, r.pointer, true,
                            batch: batch, m: rows, n: k, k: n)
            } else {
                gemmBatched(b.pointer, transposeB, !bShared, g.pointer, true, true, r.pointer, true,
                            batch: batch, m: k, n: m, k: n)
            }
            ga = r
        }
        if let a = savedA {
            let r = batch == 0 ? Tensor.zeros(bShape) : Tensor.empty(bShape)
            // dB = op(A)ᵀ · dC, stored in B's layout; summed over batches when shared.
            if !transposeB {
                gemmBatched(a.pointer, !transposeA, true, g.pointer, false, true, r.pointer, !bShared,
                            batch: batch, m: k, n: n, k: rows)
            } else {
                gemmBatched(g.pointer, true, true, a.pointer, transposeA, true, r.pointer, !bShared,
                            batch: batch, m: n, n: k, k: rows)
            }
            gb = r
        }
        return [ga, gb]
    }
}

/// C_i = op(X_i) · op(Y_i) for i in 0..<batch. An operand that is not batched is
/// shared; an output that is not batched accumulates the sum over batches.
/// Leading dimensions follow from the stored (untransposed) layouts.
func gemmBatched(_ x: UnsafePointer<Float>, _ tx: Bool, _ xBatched: Bool,
                 _ y: UnsafePointer<Float>, _ ty: Bool, _ yBatched: Bool,
                 _ c: UnsafeMutablePointer<Float>, _ cBatched: Bool,
                 batch: Int, m: Int, n: Int, k: Int) {
    let ldx = tx ? m : k, ldy = ty ? k : n
    @inline(__always) func product(_ i: Int, beta: Float) {
        BLAS.sgemm(tx, ty, m, n, k, 1,
                   x + (xBatched ? i * m * k : 0), ldx,
                   y + (yBatched ? i * k * n : 0), ldy,
                   beta, c + (cBatched ? i * m * n : 0), n)
    }
    // Small products (per-head attention-sized) split poorly into panels
    // (`BLAS.sgemm`): run whole products in parallel instead, each on one
    // thread. Outputs summed over the batch must stay in order, so they run serially.
    if cBatched && batch > 1 && m * n * k <= smallGEMMVolume {
        parallelFor(batch) { r in for i in r { product(i, beta: 0) } }
    } else {
        for i in 0..<batch { product(i, beta: (!cBatched && i > 0) ? 1 : 0) }
    }
}

/// m·n·k up to which one GEMM runs on a single thread when there are several.
let smallGEMMVolume = 256 * 256 * 256
