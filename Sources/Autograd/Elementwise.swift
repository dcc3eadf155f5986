import Foundation
import Core

/// Binary elementwise ops with broadcasting; forward and backward side by side.

enum BinaryOp { case add, sub, mul, div }

/// dst[j] = x[j·sx] ∘ y[j·sy] for j in 0..<n, where each stride is 1 (a run of
/// values) or 0 (one value repeated): every case of a broadcast row.
private func binaryRun(_ op: BinaryOp, _ x: UnsafePointer<Float>, _ sx: Int, _ y: UnsafePointer<Float>, _ sy: Int,
                       _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    switch op {
    case .add: binaryRun(x, sx, y, sy, dst, n) { $0 + $1 }
    case .sub: binaryRun(x, sx, y, sy, dst, n) { $0 - $1 }
    case .mul: binaryRun(x, sx, y, sy, dst, n) { $0 * $1 }
    case .div: binaryRun(x, sx, y, sy, dst, n) { $0 / $1 }
    }
}

@inline(__always)
private func binaryRun(_ x: UnsafePointer<Float>, _ sx: Int, _ y: UnsafePointer<Float>, _ sy: Int,
                       _ dst: UnsafeMutablePointer<Float>, _ n: Int, _ f: (Vec, Vec) -> Vec) {
    switch (sx, sy) {
    case (1, 1): mapVec2(x, y, dst, n, f)
    case (1, _): let v = Vec(repeating: y[0]); mapVec(x, dst, n) { f($0, v) }
    case (_, 1): let v = Vec(repeating: x[0]); mapVec(y, dst, n) { f(v, $0) }
    default: dst.update(repeating: f(Vec(repeating: x[0]), Vec(repeating: y[0]))[0], count: n)
    }
}

/// The forward kernel: equal shapes and scalar operands are one run; other
/// broadcasts go row by row (rows split across threads).
private func binaryKernel(_ a: Tensor, _ b: Tensor, _ op: BinaryOp) -> Tensor {
    let shape = a.shape == b.shape ? a.shape : broadcastShape(a.shape, b.shape)
    let out = Tensor.empty(shape)
    let o = out.pointer, pa = a.pointer, pb = b.pointer
    let n = out.count
    if (a.count == n || a.count == 1) && (b.count == n || b.count == 1) {
        let sx = a.count == n ? 1 : 0, sy = b.count == n ? 1 : 0
        parallelFor(n, grain: elementwiseGrain) { r in
            let lo = r.lowerBound
            binaryRun(op, pa + lo * sx, sx, pb + lo * sy, sy, o + lo, r.count)
        }
    } else {
        let sa = broadcastStrides(a.shape, to: shape), sb = broadcastStrides(b.shape, to: shape)
        let inner = shape.last ?? 1
        let ia = sa.last ?? 0, ib = sb.last ?? 0         // 1, or 0 where that operand repeats along the row
        parallelFor(n / Swift.max(inner, 1), grain: Swift.max(1, elementwiseGrain / Swift.max(inner, 1))) { rows in
            var cursor = BroadcastCursor(shape, sa, sb, row: rows.lowerBound)
            for row in rows {
                binaryRun(op, pa + cursor.offA, ia, pb + cursor.offB, ib, o + row * inner, inner)
                cursor.advance()
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

/// a ∘ s for every value of a (s ∘ a when `scalarFirst`), no tape.
private func scalarKernel(_ a: Tensor, _ s: Float, _ op: BinaryOp, scalarFirst: Bool = false) -> Tensor {
    let out = Tensor.empty(a.shape)
    let o = out.pointer, x = a.pointer
    withUnsafePointer(to: s) { sp in
        parallelFor(a.count, grain: elementwiseGrain) { r in
            let lo = r.lowerBound
            if scalarFirst {
                binaryRun(op, sp, 0, x + lo, 1, o + lo, r.count)
            } else {
                binaryRun(op, x + lo, 1, sp, 0, o + lo, r.count)
            }
        }
    }
    return out
}

public func + (a: Tensor, s: Float) -> Tensor {
    scalarKernel(a, s, .add).recorded([a]) { g in [g] }
}
public func + (s: Float, a: Tensor) -> Tensor { a + s }
public func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
public func - (s: Float, a: Tensor) -> Tensor {
    scalarKernel(a, s, .sub, scalarFirst: true).recorded([a]) { g in [-g] }
}
public func * (a: Tensor, s: Float) -> Tensor {
    scalarKernel(a, s, .mul).recorded([a]) { g in [g * s] }
}
public func * (s: Float, a: Tensor) -> Tensor { a * s }
public func / (a: Tensor, s: Float) -> Tensor { a * (1 / s) }
public func / (s: Float, a: Tensor) -> Tensor {
    a.map({ s / $0 }, saving: .input) { g, x in -g * s / (x * x) }
}
public prefix func - (a: Tensor) -> Tensor {
    scalarKernel(a, -1, .mul).recorded([a]) { g in [-g] }
}
