import Autograd
import Core

/// How a parameter is filled when a model is initialised from a seed.
public enum Initializer: Equatable {
    case zeros
    case ones
    case constant(Float)
    /// N(mean, std²).
    case normal(mean: Float = 0, std: Float)
    /// N(0, std²) truncated to [a, b] (absolute bounds, as PyTorch's `trunc_normal_`).
    case truncatedNormal(std: Float, a: Float = -2, b: Float = 2)
    /// U(−bound, bound) with bound = gain·sqrt(6 / (fan_in + fan_out)) over the first two axes.
    case xavierUniform(gain: Float = 1)
    /// U(−bound, bound) (PyTorch's `nn.Linear` default with bound = 1/√fan_in).
    case uniform(bound: Float)

    /// Writes fresh values into `t` (every element), drawing from `rng`.
    public func fill(_ t: Tensor, rng: inout RNG) {
        let p = t.pointer, n = t.count
        switch self {
        case .zeros: p.update(repeating: 0, count: n)
        case .ones: p.update(repeating: 1, count: n)
        case .constant(let c): p.update(repeating: c, count: n)
        case .normal(let mean, let std):
            for i in 0..<n { p[i] = mean + std * rng.normal() }
        case .truncatedNormal(let std, let a, let b):
            for i in 0..<n { p[i] = rng.truncatedNormal(std: std, a: a, b: b) }
        case .xavierUniform(let gain):
            let fanOut = t.rank > 0 ? t.shape[0] : 1
            let fanIn = t.rank > 1 ? t.count / fanOut : 1
            let bound = gain * (6 / Float(fanIn + fanOut)).squareRoot()
            for i in 0..<n { p[i] = (2 * rng.uniform() - 1) * bound }
        case .uniform(let bound):
            for i in 0..<n { p[i] = (2 * rng.uniform() - 1) * bound }
        }
    }
}

/// A trainable (or frozen) tensor owned by a module.
///
/// While trainable, `value` is a leaf on the tape: every forward pass reads the
/// same leaf, so gradients of all passes accumulate in it until `zeroGrad()`.
/// A frozen parameter's value carries no node, so nothing that only depends on
/// frozen parameters is recorded. Optimizers update `value.pointer` in place.
public final class Parameter {
    public var value: Tensor {
        didSet {
            // Keep the invariant: a leaf exactly when trainable, never an op's output.
            if value.requiresGrad != isTrainable || value.node.map({ !$0.isLeaf }) == true {
                value = value.requiringGrad(isTrainable)
            }
        }
    }

    public var isTrainable: Bool {
        didSet {
            if isTrainable, let matrix = bf16 { bf16 = nil; value = matrix.tensor() }    // trains in float32 again
            if isTrainable != oldValue { value = value.requiringGrad(isTrainable) }
        }
    }

    /// A frozen matrix kept in bfloat16 (`storeInBF16()`); `value` is then an empty
    /// placeholder and `shape`, `floats` and `assign` read and write this instead.
    public private(set) var bf16: BF16Matrix?

    /// How `Module.initializeParameters` fills this parameter.
    public var initializer: Initializer

    /// Dotted path from the root module on which `namedParameters()` was last
    /// called (the Hugging Face / official checkpoint name).
    public internal(set) var path: String = ""

    public init(_ value: Tensor, initializer: Initializer = .zeros, trainable: Bool = true) {
        self.value = value.requiringGrad(trainable)
        self.isTrainable = trainable
        self.initializer = initializer
    }

    /// A zero-filled parameter of `shape`, to be filled by `initializer` later.
    public convenience init(shape: [Int], initializer: Initializer) {
        self.init(Tensor.lazilyZeroed(shape), initializer: initializer)
    }

    public var shape: [Int] { bf16?.shape ?? value.shape }

    /// Number of scalar values.
    public var count: Int { shape.reduce(1, *) }

    /// The values in float32 (a copy), whatever the storage.
    public var floats: [Float] { bf16?.tensor().scalars ?? value.scalars }

    /// Keeps this frozen matrix in bfloat16 from now on (half the memory); it
    /// becomes float32 again if it is made trainable.
    public func storeInBF16() {
        precondition(!isTrainable && value.rank == 2, "only frozen matrices are kept in bf16 (\(path): \(value.shape))")
        guard bf16 == nil else { return }
        bf16 = BF16Matrix(value)
        value = Tensor.zeros([0])
    }

    /// The gradient accumulated since the last `zeroGrad()`, nil when none (or frozen).
    public var grad: Tensor? { value.grad }

    public func zeroGrad() { value.node?.zeroGrad() }

    /// Copies `values` into the existing storage (the shape must match), so
    /// pointers held by an optimizer stay valid.
    public func assign(_ values: UnsafeBufferPointer<Float>) {
        precondition(values.count == count, "assigning \(values.count) values to a parameter of \(shape)")
        guard let base = values.baseAddress else { return }
        if let bf16 { bf16.store(base, count: values.count) } else { value.pointer.update(from: base, count: values.count) }
    }

    public func assign(_ values: Tensor) {
        precondition(values.shape == shape, "assigning \(values.shape) to a parameter of \(shape)")
        if let bf16 { bf16.store(values.pointer, count: values.count) } else { value.pointer.update(from: values.pointer, count: values.count) }
    }
}
