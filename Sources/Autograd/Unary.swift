import Foundation
import Core

/// Unary elementwise ops through a per-element closure, forward and backward
/// side by side: the ones that are not hot (log, pow, clamp, exact GELU).
/// The hot ones have vector kernels in Activations.swift.

/// Which value a unary op's backward needs: its input x or its output y.
enum SavedValue { case input, output }

extension Tensor {
    /// `f` applied elementwise, with no tape (the caller records).
    @inline(__always)
    func mapNoSave(_ f: (Float) -> Float) -> Tensor {
        let out = Tensor.empty(shape)
        let o = out.pointer, x = pointer
        parallelFor(count, grain: elementwiseGrain) { r in for i in r { o[i] = f(x[i]) } }
        return out
    }

    /// Applies `f` elementwise and records `grad(g, v)`, which gives dL/dx from
    /// dL/dy and the saved value v (x or y, per `saving`), elementwise. Only the
    /// saved value is kept alive until backward.
    @inline(__always)
    func map(_ f: (Float) -> Float, saving: SavedValue,
             grad: @escaping (_ g: Float, _ v: Float) -> Float) -> Tensor {
        let out = mapNoSave(f)
        guard GradMode.isEnabled && requiresGrad else { return out }
        let saved = saving == .input ? detached() : out
        return out.recorded([self]) { g in
            let gi = Tensor.empty(saved.shape)
            let d = gi.pointer, gp = g.pointer, vp = saved.pointer
            parallelFor(gi.count, grain: elementwiseGrain) { r in
                for i in r { d[i] = grad(gp[i], vp[i]) }
            }
            return [gi]
        }
    }

    public func log() -> Tensor { map({ Foundation.log($0) }, saving: .input) { g, x in g / x } }
    public func pow(_ p: Float) -> Tensor {
        map({ Foundation.pow($0, p) }, saving: .input) { g, x in g * p * Foundation.pow(x, p - 1) }
    }
    /// Values limited to [lo, hi]; the gradient passes where lo ≤ x ≤ hi.
    public func clamp(min lo: Float = -.infinity, max hi: Float = .infinity) -> Tensor {
        map({ Swift.min(Swift.max($0, lo), hi) }, saving: .input) { g, x in (x >= lo && x <= hi) ? g : 0 }
    }
    /// Exact GELU, x·Φ(x).
    public func geluErf() -> Tensor {
        map({ x in 0.5 * x * (1 + Foundation.erf(x * Float(0.5.squareRoot()))) }, saving: .input) { g, x in
            let cdf = 0.5 * (1 + Foundation.erf(x * Float(0.5.squareRoot())))
            let pdf = Foundation.exp(-0.5 * x * x) * Float(1 / (2 * Double.pi).squareRoot())
            return g * (cdf + x * pdf)
        }
    }
}

let geluK0: Float = 0.797_884_560_802_865_4     // √(2/π), a literal so it needs no lazy initialisation
let geluK1: Float = 0.044715
