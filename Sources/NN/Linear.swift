import Autograd
import Core

/// y = x Wᵀ + b. weight [out, in], bias [out].
///
/// With a low-rank adapter attached (LoRA.swift), y = x Wᵀ + b + (α/r)·B(A(dropout(x))):
/// `lora_A` [r, in] and `lora_B` [out, r] sit beside the weight, under the names PEFT gives them.
public final class Linear: Module {
    public let weight: Parameter
    public let bias: Parameter?
    public let inFeatures: Int
    public let outFeatures: Int
    @Key("lora_A") public internal(set) var loraA: Linear? = nil
    @Key("lora_B") public internal(set) var loraB: Linear? = nil
    /// α / r of the adapter.
    public internal(set) var loraScaling: Float = 0
    /// Dropout on the adapter's input while a training step draws masks (`LoRADropout`).
    var loraDropout: (p: Float, masks: LoRADropout, layer: String)? = nil
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
        let y = weight.bf16.map { linear(x, $0, bias?.value) } ?? linear(x, weight.value, bias?.value)
        guard let loraA, let loraB else { return y }
        var input = x
        if let (p, masks, layer) = loraDropout, var rng = masks.mask(layer: layer, input: x) {
            input = dropout(x, p: p, rng: &rng)
        }
        return y + loraB(loraA(input) * loraScaling)
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
        guard let table = weight.bf16 else { return weight.value.indexSelect(ids) }
        let out = Tensor.zeros([ids.count, dim])                // a frozen bf16 table: its rows, widened
        for (i, id) in ids.enumerated() {
            precondition(id >= 0 && Int(id) < count, "token id \(id) outside the table of \(count)")
            table.widen(rows: Int(id)..<(Int(id) + 1), into: out.pointer + i * dim)
        }
        return out
    }
}
