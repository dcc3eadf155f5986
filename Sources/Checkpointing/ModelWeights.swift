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
        let params = module.namedParameters()
        var missing: [String] = [], mismatched: [(name: String, expected: [Int], found: [Int])] = []
        let known = Set(params.map(\.path))
        for (path, p) in params {
            guard let t = tensors[path] else {
                if !allowMissing.contains(where: { Module.path(path, isUnder: $0) }) { missing.append(path) }
                continue
            }
            if t.shape != p.shape || t.values.count != p.count {
                mismatched.append((path, p.shape, t.shape))
            }
        }
        let unexpected = tensors.keys.filter { !known.contains($0) }.sorted()
        guard missing.isEmpty, unexpected.isEmpty, mismatched.isEmpty else {
            throw CheckpointError.weightsDoNotFit(source, missing: missing, unexpected: unexpected, mismatched: mismatched)
        }
        for (path, p) in params {
            guard let t = tensors[path] else { continue }
            t.values.withUnsafeBufferPointer { p.assign($0) }
        }
    }

    /// Every parameter of `module` as a named array (a copy of the values).
    public static func export(_ module: Module) -> [String: NamedArray] {
        var out: [String: NamedArray] = [:]
        for (path, p) in module.namedParameters() {
            out[path] = NamedArray(shape: p.shape, values: p.floats)
        }
        return out
    }

    /// Reads the safetensors weights of each directory (or file) and maps them to
    /// MiniCPM-V names (`WeightNames.miniCPMV`); later sources may not repeat a name.
    /// Returns the tensors and the names that were deliberately left out.
    public static func readMiniCPMV(from sources: [String]) throws -> (tensors: [String: NamedArray], ignored: [String]) {
        var all: [String: NamedArray] = [:], ignored: [String] = []
        for source in sources {
            let mapped = try WeightNames.miniCPMV(Safetensors.read(source), source: source)
            ignored += mapped.ignored
            for (name, t) in mapped.tensors {
                if all[name] != nil {
                    throw CheckpointError(file: source, message: "cannot map the weights: tensor '\(name)' is also given by an earlier source")
                }
                all[name] = t
            }
        }
        return (all, ignored)
    }
}
