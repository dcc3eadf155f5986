import Autograd
import Checkpointing
import Core
import Foundation
import Models
import NN

/// What a LoRA run trains and how its checkpoints hold it.
///
/// A LoRA run freezes the base model; the adapters train, and so do the modules
/// of `train` and `lora.full` in full. Its checkpoints hold only what trains
/// (adapters, full modules and their moments) with `/lora/config` (the adapters'
/// settings and layers) and `/lora/base` (where the frozen weights come from),
/// so they stay small; loading one reads the base and lays the stored tensors over it.
public enum LoRARun {
    /// Whether the parameter at `path` trains when `modules` train in full beside
    /// the adapters of `lora` (nil: no adapters).
    public static func trains(_ path: String, modules: [String], lora: Recipe.LoRASpec?) -> Bool {
        if modules.contains(where: { Module.path(path, isUnder: $0) }) { return true }
        guard let lora else { return false }
        return LoRA.isAdapter(path) || lora.full.contains { Module.path(path, isUnder: $0) }
    }

    /// Attaches the recipe's adapters; returns the adapted layers' paths.
    /// Throws when `lora.targets` matches no linear layer, or `lora.full` no parameter.
    @discardableResult
    public static func attach(_ lora: Recipe.LoRASpec, to model: MiniCPMV, seed: UInt64,
                              masks: LoRADropout?, file: String) throws -> [String] {
        let layers = LoRA.attach(lora.config, to: model, rng: RNG(seed: seed).derived("lora"), dropout: masks)
        guard !layers.isEmpty else {
            throw RecipeError(file: file, line: nil, message: "`lora.targets` \(lora.targets) matches no linear layer of the model "
                              + "(paths look like llm.model.layers.0.self_attn.q_proj)")
        }
        let paths = model.namedParameters().map(\.path)
        for m in lora.full where !paths.contains(where: { Module.path($0, isUnder: m) }) {
            throw RecipeError(file: file, line: nil, message: "`lora.full` names `\(m)`, which holds no parameter of the model")
        }
        return layers
    }

    // MARK: - Checkpoints

    static let configDataset = "lora/config"
    static let baseDataset = "lora/base"
    static let absoluteBaseDataset = "lora/base_absolute"

    /// The adapters' settings as stored in a checkpoint.
    struct Stored: Codable {
        var config: LoRAConfig
        var layers: [String]
        var full: [String]
    }

    /// Writes the parameters `keep` selects under `/model/`, the model config, and what
    /// the file needs to be read again: the adapters' settings and the base.
    static func save(_ model: MiniCPMV, lora: Recipe.LoRASpec, base: Recipe.Initialization,
                     keep: (String) -> Bool, to file: HDF5File) throws {
        let layers = model.namedModules().compactMap { path, m in (m as? Linear)?.loraA == nil ? nil : path }
        for (path, p) in model.namedParameters() where keep(path) {
            try file.write("\(ModelCheckpoint.modelGroup)/\(path)", floats: p.value.scalars, shape: p.shape)
        }
        try file.write(ModelCheckpoint.configDataset, string: try model.config.jsonString())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let stored = Stored(config: lora.config, layers: layers, full: lora.full)
        try file.write(configDataset, string: String(decoding: try encoder.encode(stored), as: UTF8.self))
        try file.write(baseDataset, string: String(decoding: try encoder.encode(base), as: UTF8.self))
        try file.write(absoluteBaseDataset, string: String(decoding: try encoder.encode(absolute(base)), as: UTF8.self))
    }

    /// The base with its paths made absolute, so that the checkpoint loads from any folder.
    static func absolute(_ base: Recipe.Initialization) -> Recipe.Initialization {
        let cwd = FileManager.default.currentDirectoryPath
        func abs(_ p: String) -> String { p.hasPrefix("/") ? p : (cwd as NSString).appendingPathComponent(p) }
        switch base {
        case .random: return .random
        case .checkpoint(let p): return .checkpoint(abs(p))
        case .huggingFace(let dirs): return .huggingFace(dirs.map(abs))
        }
    }

    /// Where the base of a LoRA checkpoint is now: its paths as the recipe gave them
    /// when they exist from here, else as they were resolved when it was written.
    static func locatedBase(of file: HDF5File) throws -> Recipe.Initialization {
        let given = try base(of: file)
        func exists(_ b: Recipe.Initialization) -> Bool {
            switch b {
            case .random: return true
            case .checkpoint(let p): return FileManager.default.fileExists(atPath: p)
            case .huggingFace(let dirs): return dirs.allSatisfy { FileManager.default.fileExists(atPath: $0) }
            }
        }
        guard !exists(given), file.exists(absoluteBaseDataset),
              let absolute = try? JSONDecoder().decode(Recipe.Initialization.self,
                                                       from: Data(try file.readString(absoluteBaseDataset).utf8)),
              exists(absolute) else { return given }
        return absolute
    }

    /// Whether a checkpoint holds adapters over a base kept elsewhere.
    public static func holdsAdapters(_ file: HDF5File) -> Bool { file.exists(configDataset) }

    /// The base a LoRA checkpoint was trained on.
    static func base(of file: HDF5File) throws -> Recipe.Initialization {
        do {
            return try JSONDecoder().decode(Recipe.Initialization.self, from: Data(try file.readString(baseDataset).utf8))
        } catch {
            throw CheckpointError(file: file.path, message: "/\(baseDataset) cannot be read: \(error)")
        }
    }

    static func stored(in file: HDF5File) throws -> Stored {
        do {
            return try JSONDecoder().decode(Stored.self, from: Data(try file.readString(configDataset).utf8))
        } catch {
            throw CheckpointError(file: file.path, message: "/\(configDataset) cannot be read: \(error)")
        }
    }

    /// Lays the file's stored tensors over `model` (which holds the base and the
    /// same adapters): every stored tensor must fit a parameter, and every
    /// parameter `required` selects must be stored.
    static func loadStored(_ file: HDF5File, into model: MiniCPMV, required: (String) -> Bool) throws {
        let tensors = try readModelTensors(from: file)
        let optional = model.namedParameters().map(\.path).filter { !required($0) }
        try ModelWeights.load(tensors, into: model, allowMissing: optional, source: file.path)
    }

    /// The model of a LoRA checkpoint with its adapters folded in: the base it
    /// names, the stored adapters and full modules over it, then merged.
    static func mergedModel(_ file: HDF5File, seed: UInt64) throws -> MiniCPMV {
        let model = try unmergedModel(file, seed: seed)
        LoRA.merge(model)
        return model
    }

    /// The base with the checkpoint's adapters attached and loaded (not merged).
    static func unmergedModel(_ file: HDF5File, seed: UInt64) throws -> MiniCPMV {
        let stored = try stored(in: file)
        let model: MiniCPMV
        switch try locatedBase(of: file) {
        case .checkpoint(let path):
            guard FileManager.default.fileExists(atPath: path) else {
                throw CheckpointError(file: file.path, message: "holds LoRA adapters over the base \(path), which is not there "
                                      + "(the adapters need the model they were trained on)")
            }
            model = try ModelStore.model(checkpoint: path, seed: seed)
        case .huggingFace(let dirs): model = try ModelStore.model(huggingFace: dirs, seed: seed).model
        case .random:
            throw CheckpointError(file: file.path, message: "holds adapters over a random base, which cannot be rebuilt")
        }
        let saved = try MiniCPMVConfig.decode(json: try loadModelConfigJSON(from: file), file: file.path)
        guard saved == model.config else {
            throw CheckpointError(file: file.path, message: "its base no longer holds the model it was trained on: "
                                  + RunSetup.configDifferences(saved, model.config).joined(separator: "; "))
        }
        let layers = LoRA.attach(stored.config, to: model, rng: RNG(seed: 0))
        guard Set(layers) == Set(stored.layers) else {
            throw CheckpointError(file: file.path, message: "its adapters' layers (\(stored.layers.count)) are not what "
                                  + "`\(stored.config.targets)` selects in the base (\(layers.count))")
        }
        try loadStored(file, into: model, required: { LoRA.isAdapter($0) })
        return model
    }
}
