import Foundation
import Autograd
import Core
import NN

/// The model part of a checkpoint file: `/model/<dotted path>` float32
/// datasets and `/config` (the model config as a JSON string). Training
/// checkpoints add their own groups to the same file.
public enum ModelCheckpoint {
    public static let modelGroup = "model"
    public static let configDataset = "config"
}

/// Writes every parameter of `model` under `/model/` and `config` (JSON) at `/config`.
public func saveModel<C: Encodable>(_ model: Module, config: C, to file: HDF5File) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    try saveModel(model, configJSON: String(decoding: try encoder.encode(config), as: UTF8.self), to: file)
}

public func saveModel(_ model: Module, configJSON: String, to file: HDF5File) throws {
    for (path, p) in model.namedParameters() {
        try file.write("\(ModelCheckpoint.modelGroup)/\(path)", floats: p.floats, shape: p.shape)
    }
    try file.write(ModelCheckpoint.configDataset, string: configJSON)
}

/// The config JSON stored at `/config`.
public func loadModelConfigJSON(from file: HDF5File) throws -> String {
    try file.readString(ModelCheckpoint.configDataset)
}

/// All `/model/*` datasets by name, and the weights of `/quantized/*` (a
/// quantized checkpoint) dequantized to float32.
public func readModelTensors(from file: HDF5File) throws -> [String: NamedArray] {
    var out: [String: NamedArray] = [:]
    for name in try file.members(of: ModelCheckpoint.modelGroup) {
        let (values, shape) = try file.readFloats("\(ModelCheckpoint.modelGroup)/\(name)")
        out[name] = NamedArray(shape: shape, values: values)
    }
    for (name, m) in try QuantizedWeights.read(from: file) {
        guard out[name] == nil else {
            throw CheckpointError(file: file.path, message: "'\(name)' is both under /model and /quantized")
        }
        out[name] = NamedArray(shape: [m.rows, m.columns], values: m.dequantized())
    }
    return out
}

/// Sets every parameter of `model` from `/model/*` (strict: `CheckpointError` on
/// missing, unexpected or mis-shaped names).
public func loadModelParameters(into model: Module, from file: HDF5File) throws {
    try ModelWeights.load(readModelTensors(from: file), into: model, source: file.path)
}

/// Builds a model from the file's `/config` and loads its parameters:
/// `loadModel(from: file, as: MiniCPMVConfig.self) { MiniCPMV(config: $0) }`.
public func loadModel<C: Decodable, M: Module>(from file: HDF5File, as type: C.Type,
                                               build: (C) throws -> M) throws -> (model: M, config: C) {
    let json = try loadModelConfigJSON(from: file)
    let config: C
    do {
        config = try JSONDecoder().decode(C.self, from: Data(json.utf8))
    } catch {
        throw CheckpointError(file: file.path, message: "/config cannot be decoded: \(error)")
    }
    let model = try build(config)
    try loadModelParameters(into: model, from: file)
    return (model, config)
}
