import Foundation

/// Binary elementwise ops with broadcasting; forward and backward side by side.

enum BinaryOp { case add, sub, mul, div }

@inline(__always)
private func apply(_ op: BinaryOp, _ x: Float, _ y: Float) -> Float {
    switch op {
    case .add: return x + y
    case .sub: return x - y
    case .mul: return x * y
    case .div: return x / y
    }
}

/// The forward kernel: fast paths for equal shapes and scalars, otherwise rows
/// with per-operand strides on the last axis.
private func binaryKernel(_ a: Tensor, _ b: Tensor, _ op: BinaryOp) -> Tensor {
    let shape = a.shape == b.shape ? a.shape : broadcastShape(a.shape, b.shape)
    let out = Tensor.empty(shape)
    let o = out.pointer, pa = a.pointer, pb = b.pointer
    let n = out.count
    if a.count == n && b.count == n {
        parallelFor(n, grain: elementwiseGrain) { r in
            switch op {
            case .add: for i in r { o[i] = pa[i] + pb[i] }
            case .sub: for i in r { o[i] = pa[i] - pb[i] }
            case .mul: for i in r { o[i] = pa[i] * pb[i] }
            case .div: for i in r { o[i] = pa[i] / pb[i] }
            }
        }
    } else if b.count == 1 && a.count == n {
        let y = pb[0]
        parallelFor(n, grain: elementwiseGrain) { r in for i in r { o[i] = apply(op, pa[i], y) } }
    } else if a.count == 1 && b.count == n {
        let x = pa[0]
        parallelFor(n, grain: elementwiseGrain) { r in for i in r { o[i] = apply(op, x, pb[i]) } }
    } else {
        let sa = broadcastStrides(a.shape, to: shape), sb = broadcastStrides(b.shape, to: shape)
        let inner = shape.last ?? 1
        let ia = sa.last ?? 0, ib = sb.last ?? 0
        forEachRow(shape, sa, sb) { row, offA, offB in
            let dst = o + row * inner, x = pa + offA, y = pb + offB
            if ia == 1 && ib == 1 {
                for j in 0..<inner { dst[j] = apply(op, x[j], y[j]) }
            } else if ia == 1 {
                for j in 0..<inner { dst[j] = apply(op, x[j], y[j * ib]) }
            } else {
                for j in 0..<inner { dst[j] = apply(op, x[j * ia], y[j * ib]) }
            }
        }
    }
    return out
}

// Backward closures capture only what they use (shapes, and an operand only
// when the other operand's gradient needs it), so a frozen operand never keeps
// its partner's activations alive.

public func + (a: Tensor, b: Tensor) -> Tensor {
    let (sa, sb, na, nb) = (a.shape, b.shape, a.requiresGrad, b.requiresGrad)
    return binaryKernel(a, b, .add).recorded([a, b]) { g in
        [na ? reduceToShape(g, sa) : nil, nb ? reduceToShape(g, sb) : nil]
    }
}

public func - (a: Tensor, b: Tensor) -> Tensor {
    let (sa, sb, na, nb) = (a.shape, b.shape, a.requiresGrad, b.requiresGrad)
    return binaryKernel(a, b, .sub).recorded([a, b]) { g in
        [na ? reduceToShape(g, sa) : nil, nb ? reduceToShape(-g, sb) : nil]
    }
}

public func * (a: Tensor, b: Tensor) -> Tensor {
    let (sa, sb) = (a.shape, b.shape)
    let savedA = b.requiresGrad ? a.detached() : nil, savedB = a.requiresGrad ? b.detached() : nil
    return binaryKernel(a, b, .mul).recorded([a, b]) { g in
        [savedB.map { reduceToShape(g * $0, sa) }, savedA.map { reduceToShape(g * $0, sb) }]
    }
}

public func / (a: Tensor, b: Tensor) -> Tensor {
    let (sa, sb) = (a.shape, b.shape)
    let savedA = b.requiresGrad ? a.detached() : nil, savedB = b.detached()
    let na = a.requiresGrad
    return binaryKernel(a, b, .div).recorded([a, b]) { g in
        let gb = g / savedB                                        // dL/da = g / b
        return [na ? reduceToShape(gb, sa) : nil,
                savedA.map { reduceToShape(-(gb * $0 / savedB), sb) }]   // dL/db = −g·a / b²
    }
}

/// dst += src elementwise (same count; no tape). Only for buffers the caller owns.
func addInPlace(_ dst: Tensor, _ src: Tensor) {
    require(dst.count == src.count, "addInPlace of \(src.count) values into \(dst.count)")
    let d = dst.pointer, s = src.pointer
    parallelFor(dst.count, grain: elementwiseGrain) { r in
        let o = r.lowerBound
        mapVec2(d + o, s + o, d + o, r.count) { $0 + $1 }
    }
}

// MARK: - Scalar operands

public func + (a: Tensor, s: Float) -> Tensor {
    a.mapNoSave({ $0 + s }).recorded([a]) { g in [g] }
}
public func + (s: Float, a: Tensor) -> Tensor { a + s }
public func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
public func - (s: Float, a: Tensor) -> Tensor {
    a.mapNoSave({ s - $0 }).recorded([a]) { g in [-g] }
}
public func * (a: Tensor, s: Float) -> Tensor {
    a.mapNoSave({ $0 * s }).recorded([a]) { g in [g * s] }
}
public func * (s: Float, a: Tensor) -> Tensor { a * s }
public func / (a: Tensor, s: Float) -> Tensor { a * (1 / s) }
public func / (s: Float, a: Tensor) -> Tensor {
    a.map({ s / $0 }, saving: .input) { g, x in -g * s / (x * x) }
}
public prefix func - (a: Tensor) -> Tensor {
    a.mapNoSave({ -$0 }).recorded([a]) { g in [-g] }
}
