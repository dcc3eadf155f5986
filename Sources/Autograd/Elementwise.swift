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

public func + (a: Tensor, b: Tensor) -> Tensor {
    binaryKernel(a, b, .add).recorded([a, b]) { g in
        [a.requiresGrad ? reduceToShape(g, a.shape) : nil,
         b.requiresGrad ? reduceToShape(g, b.shape) : nil]
    }
}

public func - (a: Tensor, b: Tensor) -> Tensor {
    binaryKernel(a, b, .sub).recorded([a, b]) { g in
        [a.requiresGrad ? reduceToShape(g, a.shape) : nil,
         b.requiresGrad ? reduceToShape(-g, b.shape) : nil]
    }
}

public func * (a: Tensor, b: Tensor) -> Tensor {
    binaryKernel(a, b, .mul).recorded([a, b]) { g in
        [a.requiresGrad ? reduceToShape(g * b, a.shape) : nil,
         b.requiresGrad ? reduceToShape(g * a, b.shape) : nil]
    }
}

public func / (a: Tensor, b: Tensor) -> Tensor {
    binaryKernel(a, b, .div).recorded([a, b]) { g in
        let gb = g / b
        return [a.requiresGrad ? reduceToShape(gb, a.shape) : nil,
                b.requiresGrad ? reduceToShape(-(gb * a / b), b.shape) : nil]
    }
}

// MARK: - Scalar operands

public func + (a: Tensor, s: Float) -> Tensor { a.map({ $0 + s }, grad: { g, _, _ in g }) }
public func + (s: Float, a: Tensor) -> Tensor { a + s }
public func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
public func - (s: Float, a: Tensor) -> Tensor { a.map({ s - $0 }, grad: { g, _, _ in -g }) }
public func * (a: Tensor, s: Float) -> Tensor { a.map({ $0 * s }, grad: { g, _, _ in g * s }) }
public func * (s: Float, a: Tensor) -> Tensor { a * s }
public func / (a: Tensor, s: Float) -> Tensor { a * (1 / s) }
public func / (s: Float, a: Tensor) -> Tensor {
    a.map({ s / $0 }, grad: { g, x, _ in -g * s / (x * x) })
}
public prefix func - (a: Tensor) -> Tensor { a.map({ -$0 }, grad: { g, _, _ in -g }) }

// MARK: - Unary maps

extension Tensor {
    /// Applies `f` elementwise; `grad(g, x, y)` gives dL/dx from dL/dy, the input
    /// and the output, all elementwise.
    @inline(__always)
    func map(_ f: (Float) -> Float, grad: @escaping (Float, Float, Float) -> Float) -> Tensor {
        let out = Tensor.empty(shape)
        let o = out.pointer, x = pointer
        parallelFor(count, grain: elementwiseGrain) { r in for i in r { o[i] = f(x[i]) } }
        let input = self
        return out.recorded([self]) { g in
            let gi = Tensor.empty(input.shape)
            let d = gi.pointer, gp = g.pointer, xp = input.pointer, yp = out.pointer
            parallelFor(gi.count, grain: elementwiseGrain) { r in
                for i in r { d[i] = grad(gp[i], xp[i], yp[i]) }
            }
            return [gi]
        }
    }

    public func exp() -> Tensor { map({ Foundation.exp($0) }, grad: { g, _, y in g * y }) }
    public func log() -> Tensor { map({ Foundation.log($0) }, grad: { g, x, _ in g / x }) }
    public func sqrt() -> Tensor { map({ $0.squareRoot() }, grad: { g, _, y in g * 0.5 / y }) }
    public func rsqrt() -> Tensor { map({ 1 / $0.squareRoot() }, grad: { g, _, y in -0.5 * g * y * y * y }) }
    public func abs() -> Tensor { map({ Swift.abs($0) }, grad: { g, x, _ in x > 0 ? g : (x < 0 ? -g : 0) }) }
    public func square() -> Tensor { map({ $0 * $0 }, grad: { g, x, _ in 2 * g * x }) }
    public func pow(_ p: Float) -> Tensor {
        map({ Foundation.pow($0, p) }, grad: { g, x, _ in g * p * Foundation.pow(x, p - 1) })
    }
    public func clamp(min lo: Float = -.infinity, max hi: Float = .infinity) -> Tensor {
        map({ Swift.min(Swift.max($0, lo), hi) }, grad: { g, x, _ in (x >= lo && x <= hi) ? g : 0 })
    }
    public func tanh() -> Tensor { map({ Foundation.tanh($0) }, grad: { g, _, y in g * (1 - y * y) }) }
    public func sigmoid() -> Tensor { map(sigmoidf, grad: { g, _, y in g * y * (1 - y) }) }
    public func relu() -> Tensor { map({ Swift.max($0, 0) }, grad: { g, x, _ in x > 0 ? g : 0 }) }
    public func silu() -> Tensor {
        map({ $0 * sigmoidf($0) }, grad: { g, x, _ in
            let s = sigmoidf(x)
            return g * s * (1 + x * (1 - s))
        })
    }

    /// GELU with the tanh approximation (`gelu_pytorch_tanh`).
    public func geluTanh() -> Tensor {
        map({ x in
            let u = geluK0 * (x + geluK1 * x * x * x)
            return 0.5 * x * (1 + Foundation.tanh(u))
        }, grad: { g, x, _ in
            let u = geluK0 * (x + geluK1 * x * x * x)
            let t = Foundation.tanh(u)
            let du = geluK0 * (1 + 3 * geluK1 * x * x)
            return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
        })
    }

    /// Exact GELU, x·Φ(x).
    public func geluErf() -> Tensor {
        map({ x in 0.5 * x * (1 + Foundation.erf(x * Float(0.5.squareRoot()))) }, grad: { g, x, _ in
            let cdf = 0.5 * (1 + Foundation.erf(x * Float(0.5.squareRoot())))
            let pdf = Foundation.exp(-0.5 * x * x) * Float(1 / (2 * Double.pi).squareRoot())
            return g * (cdf + x * pdf)
        })
    }
}

private let geluK0 = Float((2 / Double.pi).squareRoot())
private let geluK1: Float = 0.044715

@inline(__always)
func sigmoidf(_ x: Float) -> Float {
    x >= 0 ? 1 / (1 + Foundation.exp(-x)) : { let e = Foundation.exp(x); return e / (1 + e) }()
}
