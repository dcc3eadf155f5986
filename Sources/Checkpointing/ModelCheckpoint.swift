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

/// How a checkpoint stores the model's values: float32, or bfloat16 (half the
/// size; every reader widens it back to float32).
public enum StoredPrecision: String, CaseIterable, Sendable {
    case float32, bfloat16
}

/// Writes every parameter of `model` under `/model/` and `config` (JSON) at `/config`.
/// `values`, when given, supplies a parameter's values by path instead of the
/// parameter (nil: the parameter's own), so a model streamed from other files is
/// written tensor by tensor without being held.
public func saveModel<C: Encodable>(_ model: Module, config: C, to file: HDF5File,
                                    precision: StoredPrecision = .float32,
                                    values: ((String) throws -> [Float]?)? = nil) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    try saveModel(model, configJSON: String(decoding: try encoder.encode(config), as: UTF8.self), to: file,
                  precision: precision, values: values)
}

public func saveModel(_ model: Module, configJSON: String, to file: HDF5File, precision: StoredPrecision = .float32,
                      values: ((String) throws -> [Float]?)? = nil) throws {
    for (path, p) in model.namedParameters() {
        let name = "\(ModelCheckpoint.modelGroup)/\(path)"
        let floats = try values?(path) ?? p.floats
        switch precision {
        case .float32: try file.write(name, floats: floats, shape: p.shape)
        case .bfloat16: try file.write(name, bfloat16: floats.map(BF16Matrix.narrow), shape: p.shape)
        }
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
    try CheckpointTensors(file).all()
}

/// Sets every parameter of `model` from `/model/*`, one tensor at a time (strict:
/// `CheckpointError` on missing, unexpected or mis-shaped names).
public func loadModelParameters(into model: Module, from file: HDF5File) throws {
    try ModelWeights.load(CheckpointTensors(file), into: model)
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
