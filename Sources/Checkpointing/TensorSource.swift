import Foundation

/// Named tensors read one at a time: every name and shape first (from headers
/// alone), then each tensor's values when asked. A loader that copies tensor by
/// tensor never holds more than the one it is copying, so a model of billions of
/// parameters loads into memory that holds the model once.
public protocol TensorSource {
    /// What the tensors come from (files or folders), for messages.
    var origin: String { get }
    /// Every tensor's shape by name.
    var shapes: [String: [Int]] { get }
    /// One tensor's values in float32, row-major.
    func values(of name: String) throws -> [Float]
    /// Whether a tensor is stored in bfloat16 (so keeping it in bf16 loses nothing).
    func storesBFloat16(_ name: String) -> Bool
}

extension TensorSource {
    public func storesBFloat16(_ name: String) -> Bool { false }

    /// Every tensor at once (small sources: adapters, tests).
    public func all() throws -> [String: NamedArray] {
        var out: [String: NamedArray] = [:]
        for (name, shape) in shapes { out[name] = NamedArray(shape: shape, values: try values(of: name)) }
        return out
    }
}

/// Tensors already in memory.
public struct TensorsInMemory: TensorSource {
    public let tensors: [String: NamedArray]
    public let origin: String

    public init(_ tensors: [String: NamedArray], origin: String = "weights") {
        self.tensors = tensors
        self.origin = origin
    }

    public var shapes: [String: [Int]] { tensors.mapValues(\.shape) }

    public func values(of name: String) throws -> [Float] {
        guard let t = tensors[name] else { throw CheckpointError(file: origin, message: "no tensor '\(name)'") }
        return t.values
    }
}

/// Several sources' tensors under new names: `names[new] = (source index, old name)`.
/// What the renaming leaves out is not offered.
public struct RenamedTensors: TensorSource {
    let sources: [TensorSource]
    let names: [String: (source: Int, name: String)]
    public let shapes: [String: [Int]]

    public init(_ sources: [TensorSource], names: [String: (source: Int, name: String)]) {
        self.sources = sources
        self.names = names
        shapes = names.mapValues { sources[$0.source].shapes[$0.name] ?? [] }
    }

    public var origin: String { sources.map(\.origin).joined(separator: " + ") }

    public func values(of name: String) throws -> [Float] {
        guard let (source, old) = names[name] else { throw CheckpointError(file: origin, message: "no tensor '\(name)'") }
        return try sources[source].values(of: old)
    }

    public func storesBFloat16(_ name: String) -> Bool {
        names[name].map { sources[$0.source].storesBFloat16($0.name) } ?? false
    }
}

/// The model of a checkpoint file: its `/model/*` datasets, and the weights of
/// `/quantized/*` (a quantized checkpoint) dequantized to float32.
public struct CheckpointTensors: TensorSource {
    let file: HDF5File
    let quantized: [String: QuantizedMatrix]
    public let shapes: [String: [Int]]

    public init(_ file: HDF5File) throws {
        self.file = file
        var shapes: [String: [Int]] = [:]
        for name in try file.members(of: ModelCheckpoint.modelGroup) {
            shapes[name] = try file.shape(of: "\(ModelCheckpoint.modelGroup)/\(name)")
        }
        quantized = try QuantizedWeights.read(from: file)
        for (name, m) in quantized {
            guard shapes[name] == nil else {
                throw CheckpointError(file: file.path, message: "'\(name)' is both under /model and /quantized")
            }
            shapes[name] = [m.rows, m.columns]
        }
        self.shapes = shapes
    }

    public var origin: String { file.path }

    public func values(of name: String) throws -> [Float] {
        if let m = quantized[name] { return m.dequantized() }
        return try file.readFloats("\(ModelCheckpoint.modelGroup)/\(name)").values
    }

    public func storesBFloat16(_ name: String) -> Bool {
        quantized[name] == nil && (try? file.isBFloat16("\(ModelCheckpoint.modelGroup)/\(name)")) == true
    }
}
