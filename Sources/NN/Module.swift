import Autograd
import Core

/// A layer or model: holds parameters and sub-modules as stored properties.
///
/// Parameters are discovered by reflection (`Mirror`), so a module declares
/// its parts once. The dotted path of a parameter is made of property names,
/// or of the key given with `@Key("...")`, so paths equal the Hugging Face /
/// official checkpoint names while Swift names stay Swifty:
///
///     final class Block: Module {
///         @Key("self_attn") var attention: Attention
///         let mlp: GELUMLP
///     }
///
/// Properties that are a `Parameter`, a `Module`, an optional of either, or an
/// array of either (path segments `0`, `1`, …) take part; everything else
/// (configs, integers, caches) is ignored.
open class Module {
    /// Training or evaluation mode; setting it sets every sub-module.
    public var isTraining: Bool = true {
        didSet { for (_, child) in childModules() { child.isTraining = isTraining } }
    }

    public init() {}

    /// Every distinct parameter with its dotted path, in declaration order.
    /// A parameter reachable twice (tied weights) is listed once, at its first path.
    /// Also records each path in `Parameter.path`.
    public func namedParameters() -> [(path: String, parameter: Parameter)] {
        var seen = Set<ObjectIdentifier>()
        var out: [(path: String, parameter: Parameter)] = []
        visitParameters(prefix: "") { path, p in
            if seen.insert(ObjectIdentifier(p)).inserted {
                p.path = path
                out.append((path, p))
            }
        }
        return out
    }

    public func parameters() -> [Parameter] { namedParameters().map(\.parameter) }

    /// This module (path "") and every sub-module below it with its dotted path, depth first.
    public func namedModules() -> [(path: String, module: Module)] {
        var out: [(path: String, module: Module)] = [("", self)]
        for (key, child) in childModules() {
            out += child.namedModules().map { ($0.path.isEmpty ? key : key + "." + $0.path, $0.module) }
        }
        return out
    }

    /// The parameter at a dotted path, nil when there is none.
    public func parameter(at path: String) -> Parameter? {
        namedParameters().first { $0.path == path }?.parameter
    }

    /// Sets `isTrainable` on every parameter whose path is `prefix` or lies under
    /// it (`"vpm"` matches `vpm.encoder…`, not `vpm2.…`); `""` selects all.
    /// Returns how many parameters matched.
    @discardableResult
    public func setTrainable(_ flag: Bool, prefix: String) -> Int {
        var n = 0
        for (path, p) in namedParameters() where Module.path(path, isUnder: prefix) {
            p.isTrainable = flag
            n += 1
        }
        return n
    }

    public static func path(_ path: String, isUnder prefix: String) -> Bool {
        prefix.isEmpty || path == prefix || path.hasPrefix(prefix + ".")
    }

    /// Total number of scalar values in all parameters.
    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

    public func zeroGrad() { for p in parameters() { p.zeroGrad() } }

    /// Fills every parameter from its `initializer`. Each parameter draws from
    /// its own stream, derived from `rng` and its path, so the values depend on
    /// the seed and the name only (not on construction order or model size).
    /// The weights `bf16` selects are frozen and narrowed to bfloat16 as soon as
    /// they are filled, so their float32 values never exist all at once.
    /// Only the parameters `include` selects are filled (the others keep their
    /// values, and are narrowed too when `bf16` selects them).
    public func initializeParameters(rng: RNG, bf16: ((String) -> Bool)? = nil,
                                     where include: (String) -> Bool = { _ in true }) {
        let narrowed = bf16.map { select in Set(bf16EligiblePaths().filter(select)) } ?? []
        for (path, p) in namedParameters() {
            defer {
                if narrowed.contains(path) { p.isTrainable = false; p.storeInBF16() }
            }
            guard include(path) else { continue }
            var stream = rng.derived(path)
            if p.bf16 != nil {
                let t = Tensor.zeros(p.shape)
                p.initializer.fill(t, rng: &stream)
                p.assign(t)
            } else {
                p.initializer.fill(p.value, rng: &stream)
            }
        }
    }

    /// The weights that can be kept in bfloat16 when frozen: those of linear
    /// layers and embedding tables (adapters excluded).
    public func bf16EligiblePaths() -> [String] {
        namedModules().compactMap { path, m in
            guard m is Linear || m is Embedding, !path.hasSuffix(".lora_A"), !path.hasSuffix(".lora_B") else { return nil }
            return path.isEmpty ? "weight" : path + ".weight"
        }
    }

    /// Narrows every frozen weight of a linear layer or embedding table to bfloat16;
    /// returns the bytes saved.
    @discardableResult
    public func storeFrozenWeightsInBF16() -> Int {
        var saved = 0
        let eligible = Set(bf16EligiblePaths())
        for (path, p) in namedParameters() where eligible.contains(path) && !p.isTrainable && p.bf16 == nil {
            p.storeInBF16()
            saved += 2 * p.count
        }
        return saved
    }

    /// Direct sub-modules with their keys (array elements keyed `name.i`).
    public func childModules() -> [(key: String, module: Module)] {
        var out: [(key: String, module: Module)] = []
        for (key, value) in reflectedProperties() {
            if let m = value as? Module {
                out.append((key, m))
            } else if let list = value as? ModuleList {
                for (i, m) in list.moduleElements.enumerated() { out.append(("\(key).\(i)", m)) }
            }
        }
        return out
    }

    private func visitParameters(prefix: String, _ body: (String, Parameter) -> Void) {
        for (key, value) in reflectedProperties() {
            let path = prefix.isEmpty ? key : prefix + "." + key
            if let p = value as? Parameter {
                body(path, p)
            } else if let m = value as? Module {
                m.visitParameters(prefix: path, body)
            } else if let list = value as? ModuleList {
                for (i, m) in list.moduleElements.enumerated() { m.visitParameters(prefix: "\(path).\(i)", body) }
            } else if let list = value as? ParameterList {
                for (i, p) in list.parameterElements.enumerated() { body("\(path).\(i)", p) }
            }
        }
    }

    /// (key, value) of the stored properties of this object, superclasses first.
    private func reflectedProperties() -> [(String, Any)] {
        var mirrors: [Mirror] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        while let m = mirror { mirrors.append(m); mirror = m.superclassMirror }
        var out: [(String, Any)] = []
        for m in mirrors.reversed() {
            for child in m.children {
                guard let label = child.label, !label.hasPrefix("$") else { continue }
                if let keyed = child.value as? KeyedProperty {
                    out.append((keyed.key, keyed.keyedValue))
                } else {
                    out.append((label, child.value))
                }
            }
        }
        return out
    }
}

/// Gives a property the checkpoint key it has in the official weights:
///
///     @Key("q_proj") public var qProj: Linear
///     init(...) { _qProj.wrappedValue = Linear(...) }
///
/// (Assigning through the backing storage works before `super.init()`.)
@propertyWrapper
public struct Key<Value>: KeyedProperty {
    private var stored: Value?
    public let key: String

    public init(_ key: String) { self.key = key }

    public init(wrappedValue: Value, _ key: String) {
        self.stored = wrappedValue
        self.key = key
    }

    public var wrappedValue: Value {
        get {
            guard let stored else { preconditionFailure("property '\(key)' read before it was set") }
            return stored
        }
        set { stored = newValue }
    }

    public var keyedValue: Any { stored as Any }
}

public protocol KeyedProperty {
    var key: String { get }
    var keyedValue: Any { get }
}

/// Arrays of modules take part in reflection (checked by a cheap conformance
/// cast, so large arrays of other types are never walked).
protocol ModuleList { var moduleElements: [Module] { get } }
extension Array: ModuleList where Element: Module {
    var moduleElements: [Module] { self }
}

protocol ParameterList { var parameterElements: [Parameter] { get } }
extension Array: ParameterList where Element == Parameter {
    var parameterElements: [Parameter] { self }
}
