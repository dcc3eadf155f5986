import Autograd
import Core
import Foundation

/// Low-rank adaptation (LoRA, Hu et al. 2021): a frozen linear layer W gains a
/// trainable update (α/r)·B·A of rank r, with A [r, in] and B [out, r].
///
/// Adapters start as PEFT starts them: A Kaiming-uniform (a = √5, so bound
/// 1/√in), B zero, so the adapted model computes exactly what the base does
/// until the first step. `merge` folds every adapter into its weight
/// (W += (α/r)·B·A) and removes it.
public struct LoRAConfig: Codable, Equatable {
    public var rank: Int
    public var alpha: Double
    public var dropout: Double
    /// A regular expression that a linear layer's dotted path must match in full
    /// (PEFT's `target_modules` given as a string).
    public var targets: String

    public init(rank: Int, alpha: Double, dropout: Double, targets: String) {
        self.rank = rank; self.alpha = alpha; self.dropout = dropout; self.targets = targets
    }

    public var scaling: Float { Float(alpha / Double(rank)) }

    /// `targets` compiled to match whole paths; nil when it is not a valid expression.
    public var targetPattern: NSRegularExpression? {
        try? NSRegularExpression(pattern: "^(?:" + targets + ")$")
    }
}

/// The dropout masks of the adapters during one training step: `begin(step:)`
/// keys them on the step and `end()` turns dropout off (held-out losses and
/// generation never drop). A mask depends on the seed, the step, the layer and
/// the values of the adapter's input, so a resumed run draws the masks the
/// straight run drew, and a layer recomputed in backward (`recomputed`) draws
/// the mask its forward pass drew.
public final class LoRADropout {
    private let base: RNG
    private var key: RNG?

    public init(seed: RNG) { base = seed }

    public func begin(step: Int) { key = base.derived("step-\(step)") }
    public func end() { key = nil }

    func mask(layer: String, input x: Tensor) -> RNG? {
        guard let key else { return nil }
        var h = FNV1a()
        for i in 0..<x.count { h.add(UInt64(x.pointer[i].bitPattern)) }
        return key.derived(layer).derived(String(h.value, radix: 16))
    }
}

public enum LoRA {
    /// The linear layers without an adapter whose path matches `targets` (in full).
    public static func targets(_ config: LoRAConfig, in model: Module) -> [(path: String, layer: Linear)] {
        guard let regex = config.targetPattern else { return [] }
        return model.namedModules().compactMap { path, module in
            guard let layer = module as? Linear, layer.loraA == nil else { return nil }
            let range = NSRange(path.startIndex..., in: path)
            return regex.firstMatch(in: path, range: range) == nil ? nil : (path, layer)
        }
    }

    /// Attaches a fresh adapter to every linear layer `config.targets` matches;
    /// returns their paths. Each adapter draws from its own stream of `rng`
    /// (derived from its path). The caller checks that something matched.
    @discardableResult
    public static func attach(_ config: LoRAConfig, to model: Module, rng: RNG,
                              dropout masks: LoRADropout? = nil) -> [String] {
        require(config.rank > 0, "LoRA rank must be positive, got \(config.rank)")
        let layers = targets(config, in: model)
        for (path, layer) in layers {
            let bound = 1 / Float(layer.inFeatures).squareRoot()
            let a = Linear(layer.inFeatures, config.rank, bias: false, weightInit: .constant(0))
            var draws = rng.derived(path + ".lora_A")
            for i in 0..<a.weight.value.count { a.weight.value.pointer[i] = (2 * draws.uniform() - 1) * bound }
            let b = Linear(config.rank, layer.outFeatures, bias: false, weightInit: .zeros)
            layer.loraA = a
            layer.loraB = b
            layer.loraScaling = config.scaling
            if let masks, config.dropout > 0 { layer.loraDropout = (Float(config.dropout), masks, path) }
        }
        return layers.map(\.path)
    }

    /// Folds every adapter of `model` into its layer's weight and removes it;
    /// returns how many were merged.
    @discardableResult
    public static func merge(_ model: Module) -> Int {
        var merged = 0
        for (_, module) in model.namedModules() {
            guard let layer = module as? Linear, let a = layer.loraA, let b = layer.loraB else { continue }
            let (out, rank, inputs) = (layer.outFeatures, a.outFeatures, layer.inFeatures)
            // W [out, in] += scaling · B [out, r] · A [r, in] (a bf16 W is widened, updated and rounded back)
            let w = layer.weight.bf16?.tensor() ?? layer.weight.value
            BLAS.sgemm(false, false, out, inputs, rank, layer.loraScaling, b.weight.value.pointer, rank,
                       a.weight.value.pointer, inputs, 1, w.pointer, inputs)
            if layer.weight.bf16 != nil { layer.weight.assign(w) }
            layer.loraA = nil
            layer.loraB = nil
            layer.loraDropout = nil
            merged += 1
        }
        return merged
    }

    /// Whether a parameter path belongs to an adapter.
    public static func isAdapter(_ path: String) -> Bool {
        path.contains(".lora_A.") || path.contains(".lora_B.")
    }
}
