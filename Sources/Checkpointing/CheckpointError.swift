import Foundation

/// A checkpoint or a set of weights that cannot be used: the file (or folder) and the
/// problem. When the weights do not fit the model, every offending name is listed.
/// (The container formats keep their own parser errors: `HDF5Error`, `SafetensorsError`.)
public struct CheckpointError: Error, CustomStringConvertible, LocalizedError {
    public let file: String
    public let message: String
    /// Model parameters with no tensor.
    public var missing: [String] = []
    /// Tensors with no model parameter.
    public var unexpected: [String] = []
    /// Names whose shapes differ: (name, model shape, file shape).
    public var mismatched: [(name: String, expected: [Int], found: [Int])] = []

    public init(file: String, message: String) { self.file = file; self.message = message }

    /// Weights from `source` that do not fit the model.
    static func weightsDoNotFit(_ source: String, missing: [String], unexpected: [String],
                                mismatched: [(name: String, expected: [Int], found: [Int])]) -> CheckpointError {
        var e = CheckpointError(file: source, message: "cannot load the weights: \(missing.count) missing, "
                                + "\(unexpected.count) unexpected, \(mismatched.count) with the wrong shape")
        e.missing = missing; e.unexpected = unexpected; e.mismatched = mismatched
        return e
    }

    public var description: String {
        var lines = ["\(file): \(message)"]
        func list(_ title: String, _ names: [String]) {
            guard !names.isEmpty else { return }
            lines.append("  \(title):")
            for n in names.prefix(50) { lines.append("    \(n)") }
            if names.count > 50 { lines.append("    … and \(names.count - 50) more") }
        }
        list("missing (in the model, not in the weights)", missing)
        list("unexpected (in the weights, not in the model)", unexpected)
        list("shape mismatch (model vs weights)", mismatched.map { "\($0.name): \($0.expected) vs \($0.found)" })
        return lines.joined(separator: "\n")
    }

    public var errorDescription: String? { description }
}
