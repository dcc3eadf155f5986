import Autograd
import Core

/// LayerNorm over the last axis: weight [D] (init 1), bias [D] (init 0).
public final class LayerNorm: Module {
    public let weight: Parameter
    public let bias: Parameter
    public let eps: Float

    public init(_ dim: Int, eps: Float = 1e-6) {
        weight = Parameter(shape: [dim], initializer: .ones)
        bias = Parameter(shape: [dim], initializer: .zeros)
        self.eps = eps
    }

    /// x [..., D] → [..., D]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        layerNorm(x, weight: weight.value, bias: bias.value, eps: eps)
    }
}

/// RMSNorm over the last axis: w · x / sqrt(mean(x²) + eps), weight [D] (init 1).
public final class RMSNorm: Module {
    public let weight: Parameter
    public let eps: Float

    public init(_ dim: Int, eps: Float = 1e-6) {
        weight = Parameter(shape: [dim], initializer: .ones)
        self.eps = eps
    }

    /// x [..., D] → [..., D]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        rmsNorm(x, weight: weight.value, eps: eps)
    }
}
