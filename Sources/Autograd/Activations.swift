import Core
/// Unary ops with vector kernels for forward and backward, side by side: the
/// activations (exp, tanh, sigmoid, SiLU, GELU-tanh) and the cheap algebraic
/// ones (square, sqrt, rsqrt, abs, relu).
///
/// Each kernel is a `switch` outside the loop and a loop over 8-lane vectors
/// inside, so the lane function is inlined (a closure called per element
/// would cost an indirect call per value and no vectorisation).

enum Activation {
    case exp, tanh, sigmoid, silu, geluTanh, square, sqrt, rsqrt, abs, relu

    /// Which value the backward rule reads.
    var saved: SavedValue {
        switch self {
        case .exp, .tanh, .sigmoid, .sqrt, .rsqrt, .relu: return .output
        case .silu, .geluTanh, .square, .abs: return .input
        }
    }
}

private let signBit: UInt32 = 0x8000_0000

/// u = √(2/π)·(x + 0.044715·x³), the GELU-tanh argument.
@inline(__always)
private func geluArgument(_ x: Vec) -> Vec {
    Vec(repeating: geluK0) * mulAdd(Vec(repeating: geluK1) * x * x, x, x)
}

/// y = f(x) for n values.
func activationForward(_ f: Activation, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    switch f {
    case .exp: mapVec(x, y, n) { vexp($0) }
    case .tanh: mapVec(x, y, n) { vtanh($0) }
    case .sigmoid: mapVec(x, y, n) { vsigmoid($0) }
    case .silu: siluForward(x, y, n)
    case .geluTanh: geluTanhForward(x, y, n)
    case .square: mapVec(x, y, n) { $0 * $0 }
    case .sqrt: mapVec(x, y, n) { vsqrt($0) }
    case .rsqrt: mapVec(x, y, n) { 1 / vsqrt($0) }
    case .abs: mapVec(x, y, n) { unsafeBitCast(unsafeBitCast($0, to: UVec.self) & ~signBit, to: Vec.self) }
    case .relu: mapVec(x, y, n) { $0.replacing(with: 0, where: $0 .< 0) }
    }
}

/// dx = g · f′ for n values, from the saved value v (y or x, per `saved`).
func activationBackward(_ f: Activation, _ g: UnsafePointer<Float>, _ v: UnsafePointer<Float>,
                        _ dx: UnsafeMutablePointer<Float>, _ n: Int) {
    switch f {
    case .exp: mapVec2(g, v, dx, n) { g, y in g * y }
    case .tanh: mapVec2(g, v, dx, n) { g, y in g * (1 - y * y) }
    case .sigmoid: mapVec2(g, v, dx, n) { g, y in g * y * (1 - y) }
    case .silu: siluBackward(g, v, dx, n)
    case .geluTanh: geluTanhBackward(g, v, dx, n)
    case .square: mapVec2(g, v, dx, n) { g, x in 2 * g * x }
    case .sqrt: mapVec2(g, v, dx, n) { g, y in g * 0.5 / y }
    case .rsqrt: mapVec2(g, v, dx, n) { g, y in -0.5 * g * y * y * y }
    case .abs:                                    // g·sign(x), 0 at x = 0
        mapVec2(g, v, dx, n) { g, x in
            let flipped = unsafeBitCast(unsafeBitCast(g, to: UVec.self) ^ (unsafeBitCast(x, to: UVec.self) & signBit),
                                        to: Vec.self)
            return flipped.replacing(with: 0, where: x .== 0)
        }
    case .relu: mapVec2(g, v, dx, n) { g, y in g.replacing(with: 0, where: y .<= 0) }
    }
}

// The hot activations get functions of their own, with always-inlined lane
// functions: inside the big switches above (or as large closure literals) the
// inliner leaves the lane code outlined, and an outlined lane takes its
// vectors in halves and loses FMAs to scalar code.

@inline(never)
private func siluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    mapVec(x, y, n) { $0 * vsigmoid($0) }
}

/// ½x(1 + tanh u) = x·σ(2u): no cancellation in 1 + tanh u for negative x.
@inline(never)
private func geluTanhForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    @inline(__always) func lane(_ x: Vec) -> Vec { x * vsigmoid(2 * geluArgument(x)) }
    mapVec(x, y, n, lane)
}

/// d/dx x·σ(x) = σ·(1 + x(1 − σ))
@inline(never)
private func siluBackward(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                          _ n: Int) {
    @inline(__always) func lane(_ g: Vec, _ x: Vec) -> Vec {
        let s = vsigmoid(x)
        return g * s * (1 + x * (1 - s))
    }
    mapVec2(g, x, dx, n, lane)
}

/// d/dx x·σ(2u) = σ + 2x·σ(1 − σ)·u′
@inline(never)
private func geluTanhBackward(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                              _ n: Int) {
    @inline(__always) func lane(_ g: Vec, _ x: Vec) -> Vec {
        let s = vsigmoid(2 * geluArgument(x))
        let du = Vec(repeating: geluK0) * (1 + Vec(repeating: 3 * geluK1) * x * x)
        return g * (s + 2 * x * s * (1 - s) * du)
    }
    mapVec2(g, x, dx, n, lane)
}

extension Tensor {
    /// Runs `f` over all values (split across threads) and records its backward.
    func activation(_ f: Activation) -> Tensor {
        let out = Tensor.empty(shape)
        let x = pointer, y = out.pointer
        parallelFor(count, grain: elementwiseGrain) { r in
            activationForward(f, x + r.lowerBound, y + r.lowerBound, r.count)
        }
        guard GradMode.isEnabled && requiresGrad else { return out }
        let saved = f.saved == .input ? detached() : out
        return out.recorded([self]) { g in
            let dx = Tensor.empty(saved.shape)
            let gp = g.pointer, vp = saved.pointer, dp = dx.pointer
            parallelFor(dx.count, grain: elementwiseGrain) { r in
                activationBackward(f, gp + r.lowerBound, vp + r.lowerBound, dp + r.lowerBound, r.count)
            }
            return [dx]
        }
    }

    public func exp() -> Tensor { activation(.exp) }
    public func tanh() -> Tensor { activation(.tanh) }
    public func sigmoid() -> Tensor { activation(.sigmoid) }
    /// SiLU (swish), x·σ(x).
    public func silu() -> Tensor { activation(.silu) }
    /// GELU with the tanh approximation (`gelu_pytorch_tanh`).
    public func geluTanh() -> Tensor { activation(.geluTanh) }
    public func square() -> Tensor { activation(.square) }
    public func sqrt() -> Tensor { activation(.sqrt) }
    public func rsqrt() -> Tensor { activation(.rsqrt) }
    public func abs() -> Tensor { activation(.abs) }
    public func relu() -> Tensor { activation(.relu) }
}
