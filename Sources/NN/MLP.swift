import Autograd
import Core

/// Activation functions named as in Hugging Face configs (`hidden_act`).
public enum Activation: String, Codable {
    case geluTanh = "gelu_pytorch_tanh"
    case gelu = "gelu"
    case silu = "silu"
    case relu = "relu"

    /// Decodes the config spellings, including aliases ("gelu_new", "swish").
    public init?(configName: String) {
        switch configName {
        case "gelu_pytorch_tanh", "gelu_new", "gelu_fast", "gelu_tanh": self = .geluTanh
        case "gelu": self = .gelu
        case "silu", "swish": self = .silu
        case "relu": self = .relu
        default: return nil
        }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .geluTanh: return x.geluTanh()
        case .gelu: return x.geluErf()
        case .silu: return x.silu()
        case .relu: return x.relu()
        }
    }
}

/// fc2(act(fc1(x))), the transformer MLP of ViT/SigLIP.
public final class GELUMLP: Module {
    public let fc1: Linear
    public let fc2: Linear
    public let activation: Activation

    public init(dim: Int, hidden: Int, activation: Activation = .geluTanh,
                weightInit: Initializer = .normal(std: 0.02)) {
        fc1 = Linear(dim, hidden, weightInit: weightInit)
        fc2 = Linear(hidden, dim, weightInit: weightInit)
        self.activation = activation
    }

    /// x [..., D] → [..., D]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        fc2(activation(fc1(x)))
    }
}

/// down(act(gate(x)) ⊙ up(x)), the gated MLP of Llama-style LLMs.
public final class SwiGLUMLP: Module {
    @Key("gate_proj") public var gate: Linear
    @Key("up_proj") public var up: Linear
    @Key("down_proj") public var down: Linear
    public let activation: Activation

    public init(dim: Int, hidden: Int, bias: Bool = false, activation: Activation = .silu,
                weightInit: Initializer = .normal(std: 0.02)) {
        _gate.wrappedValue = Linear(dim, hidden, bias: bias, weightInit: weightInit)
        _up.wrappedValue = Linear(dim, hidden, bias: bias, weightInit: weightInit)
        _down.wrappedValue = Linear(hidden, dim, bias: bias, weightInit: weightInit)
        self.activation = activation
    }

    /// x [..., D] → [..., D]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        if activation == .silu { return down(swiGLU(gate(x), up(x))) }      // fused silu(gate) ⊙ up
        return down(activation(gate(x)) * up(x))
    }
}
