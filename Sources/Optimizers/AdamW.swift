import Autograd
import Core
import Foundation

/// One tensor the optimizer updates: its values (updated in place), the
/// gradient of this step, and its per-tensor settings.
public struct OptimizerTensor {
    public let path: String
    public let value: Tensor
    public let grad: Tensor?
    /// Decoupled weight decay applies to this tensor.
    public let decays: Bool
    /// Multiplier of the scheduled learning rate (per module, muP).
    public let lrScale: Float

    public init(path: String, value: Tensor, grad: Tensor?, decays: Bool, lrScale: Float = 1) {
        self.path = path; self.value = value; self.grad = grad; self.decays = decays; self.lrScale = lrScale
    }
}

/// AdamW (Loshchilov & Hutter): Adam moments with bias correction and weight
/// decay applied to the weights directly, not through the gradient.
///
/// The moments of each tensor live in one flat buffer pair, updated in a single
/// vectorised pass with the weights (`adamWUpdate`), all tensors in one
/// parallel loop.
public final class AdamW {
    public var beta1: Float
    public var beta2: Float
    public var eps: Float
    public var weightDecay: Float
    public private(set) var step: Int = 0
    /// First and second moments by parameter path.
    public private(set) var moments: [String: (m: Tensor, v: Tensor)] = [:]

    public init(beta1: Float = 0.9, beta2: Float = 0.95, eps: Float = 1e-8, weightDecay: Float = 0.1) {
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
    }

    /// One update with learning rate `lr` (already scheduled); every gradient is
    /// multiplied by `gradScale` first (clipping, loss normalisation). Tensors
    /// without a gradient this step are left alone (their moments too).
    public func update(_ tensors: [OptimizerTensor], lr: Float, gradScale: Float = 1) {
        step += 1
        let bc1 = 1 - Foundation.pow(beta1, Float(step))
        let bc2 = 1 - Foundation.pow(beta2, Float(step))
        var segments: [AdamWSegment] = []
        var held: [Tensor] = []                       // keeps every buffer behind `segments` alive
        segments.reserveCapacity(tensors.count)
        for t in tensors {
            guard let g = t.grad else { continue }
            precondition(g.count == t.value.count, "gradient of \(t.path) has \(g.count) values, expected \(t.value.count)")
            let state = moments[t.path] ?? (Tensor.zeros(t.value.shape), Tensor.zeros(t.value.shape))
            moments[t.path] = state
            let a = lr * t.lrScale
            segments.append(AdamWSegment(weight: t.value.pointer, grad: g.pointer, m: state.m.pointer,
                                         v: state.v.pointer, count: t.value.count, stepSize: a / bc1,
                                         decay: t.decays ? 1 - a * weightDecay : 1))
            held.append(contentsOf: [t.value, g, state.m, state.v])
        }
        withExtendedLifetime(held) {
            adamWUpdate(segments, beta1: beta1, beta2: beta2, eps: eps, biasCorrection2: bc2, gradScale: gradScale)
        }
    }

    /// Restores the step count and moments (from a checkpoint).
    public func restore(step: Int, moments: [String: (m: Tensor, v: Tensor)]) {
        self.step = step
        self.moments = moments
    }
}

/// The global L2 norm of `grads` (each multiplied by `scale`), and the factor
/// that brings it down to `maxNorm` (1 when it is already below, or no limit).
///
/// Gradients are not modified: tensors may share gradient buffers (an add
/// passes the same gradient to both inputs), so the factor is handed to the
/// optimizer instead.
public func clipFactor(_ grads: [Tensor], scale: Float = 1, maxNorm: Float?) -> (norm: Float, factor: Float) {
    var total: Double = 0
    for g in grads { total += Double(g.sumOfSquares) }
    let norm = Float(total.squareRoot()) * Swift.abs(scale)
    guard let maxNorm, norm.isFinite, norm > maxNorm else { return (norm, 1) }
    return (norm, maxNorm / (norm + 1e-6))
}
