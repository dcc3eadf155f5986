import Foundation
import Autograd
import Core
import NN

/// Copies weights between a module's parameters and named arrays, strictly:
/// a load either sets every parameter or changes nothing and throws.
public enum ModelWeights {
    /// Sets the parameters of `module` from `tensors` (names = dotted paths).
    ///
    /// - allowMissing: path prefixes whose parameters may be absent and keep
    ///   their current values (e.g. `["resampler"]` when a SigLIP + LLM pair
    ///   initialises a MiniCPM-V model).
    /// - Throws: `CheckpointError` listing missing, unexpected and
    ///   shape-mismatched names; nothing is written then.
    public static func load(_ tensors: [String: NamedArray], into module: Module,
                            allowMissing: [String] = [], source: String = "weights") throws {
        try load(TensorsInMemory(tensors, origin: source), into: module, allowMissing: allowMissing)
    }

    /// Sets the parameters of `module` from `source`, one tensor at a time: every
    /// name and shape is checked first (nothing is written when one does not fit),
    /// then each tensor is read, copied into its parameter (narrowed where the
    /// parameter is kept in bf16) and let go.
    public static func load(_ source: TensorSource, into module: Module, allowMissing: [String] = []) throws {
        let params = try check(source, against: module, allowMissing: allowMissing)
        let shapes = source.shapes
        for (path, p) in params where shapes[path] != nil {
            let values = try source.values(of: path)
            guard values.count == p.count else {
                throw CheckpointError(file: source.origin, message: "'\(path)' holds \(values.count) values for the shape \(p.shape)")
            }
            values.withUnsafeBufferPointer { p.assign($0) }
        }
    }

    /// The parameters of `module`, after checking that `source` fits them: every
    /// parameter present (but those under `allowMissing`), no tensor left over,
    /// every shape right.
    @discardableResult
    public static func check(_ source: TensorSource, against module: Module,
                             allowMissing: [String] = []) throws -> [(path: String, parameter: Parameter)] {
        let params = module.namedParameters()
        let shapes = source.shapes
        var missing: [String] = [], mismatched: [(name: String, expected: [Int], found: [Int])] = []
        for (path, p) in params {
            guard let shape = shapes[path] else {
                if !allowMissing.contains(where: { Module.path(path, isUnder: $0) }) { missing.append(path) }
                continue
            }
            if shape != p.shape { mismatched.append((path, p.shape, shape)) }
        }
        let known = Set(params.map(\.path))
        let unexpected = shapes.keys.filter { !known.contains($0) }.sorted()
        guard missing.isEmpty, unexpected.isEmpty, mismatched.isEmpty else {
            throw CheckpointError.weightsDoNotFit(source.origin, missing: missing, unexpected: unexpected, mismatched: mismatched)
        }
        return params
    }

    /// Every parameter of `module` as a named array (a copy of the values).
    public static func export(_ module: Module) -> [String: NamedArray] {
        var out: [String: NamedArray] = [:]
        for (path, p) in module.namedParameters() {
            out[path] = NamedArray(shape: p.shape, values: p.floats)
        }
        return out
    }

    /// The safetensors weights of each directory (or file) under MiniCPM-V names
    /// (`WeightNames.miniCPMV`), read lazily; later sources may not repeat a name.
    /// Also returns the names that were deliberately left out.
    public static func miniCPMV(from paths: [String]) throws -> (tensors: TensorSource, ignored: [String]) {
        var sources: [TensorSource] = [], names: [String: (source: Int, name: String)] = [:], ignored: [String] = []
        for (i, path) in paths.enumerated() {
            let source = try SafetensorsTensors(path)
            let mapped = try WeightNames.miniCPMV(names: Array(source.shapes.keys), source: path)
            ignored += mapped.ignored
            for (new, old) in mapped.names {
                if names[new] != nil {
                    throw CheckpointError(file: path, message: "cannot map the weights: tensor '\(new)' is also given by an earlier source")
                }
                names[new] = (i, old)
            }
            sources.append(source)
        }
        return (RenamedTensors(sources, names: names), ignored)
    }

    /// `miniCPMV(from:)` read at once.
    public static func readMiniCPMV(from paths: [String]) throws -> (tensors: [String: NamedArray], ignored: [String]) {
        let (source, ignored) = try miniCPMV(from: paths)
        return (try source.all(), ignored)
    }
}
