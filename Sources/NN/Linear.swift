import Autograd
import Core

/// y = x Wᵀ + b. weight [out, in], bias [out].
public final class Linear: Module {
    public let weight: Parameter
    public let bias: Parameter?
    public let inFeatures: Int
    public let outFeatures: Int
    /// Called with every input before the product (nil: nothing is called).
    /// Post-training quantization collects the layer's inputs through it.
    public var inputObserver: ((Tensor) -> Void)?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true,
                weightInit: Initializer = .normal(std: 0.02), biasInit: Initializer = .zeros) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Parameter(shape: [outFeatures, inFeatures], initializer: weightInit)
        self.bias = bias ? Parameter(shape: [outFeatures], initializer: biasInit) : nil
    }

    /// x [..., in] → [..., out]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        inputObserver?(x)
        return linear(x, weight.value, bias?.value)
    }
}

/// A lookup table: weight [V, D]; ids → rows.
public final class Embedding: Module {
    public let weight: Parameter
    public let count: Int
    public let dim: Int

    public init(_ count: Int, _ dim: Int, initializer: Initializer = .normal(std: 0.02)) {
        self.count = count
        self.dim = dim
        weight = Parameter(shape: [count, dim], initializer: initializer)
    }

    /// ids [n] → [n, D]
    public func callAsFunction(_ ids: [Int32]) -> Tensor {
        weight.value.indexSelect(ids)
    }
}
