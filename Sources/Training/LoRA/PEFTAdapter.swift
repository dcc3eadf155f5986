import Checkpointing
import Core
import Foundation
import Models
import NN

/// LoRA adapters in the layout PEFT reads and writes: a folder with
/// `adapter_config.json` and `adapter_model.safetensors`, tensors named
/// `base_model.model.<path>.lora_A.weight` / `.lora_B.weight` (A [r, in], B [out, r])
/// and the modules trained in full (`modules_to_save`) under their own paths.
public enum PEFTAdapter {
    public static let configFile = "adapter_config.json"
    public static let weightsFile = "adapter_model.safetensors"
    static let prefix = "base_model.model."

    /// `trainer export --adapter`: the adapters and full modules of a LoRA checkpoint.
    public static func export(checkpoint path: String, to directory: String) throws -> String {
        let file = try ModelStore.open(path)
        defer { file.close() }
        guard LoRARun.holdsAdapters(file) else {
            throw CheckpointError(file: path, message: "holds no LoRA adapters (it was not written by a recipe with `lora:`)")
        }
        let stored = try LoRARun.stored(in: file)
        var tensors: [String: NamedArray] = [:]
        for (name, t) in try readModelTensors(from: file) { tensors[prefix + name] = t }
        let base: String
        switch try LoRARun.base(of: file) {
        case .checkpoint(let p): base = p
        case .huggingFace(let dirs): base = dirs.joined(separator: " + ")
        case .random: base = "trainer"
        }
        let config: [String: Any] = [
            "peft_type": "LORA", "task_type": NSNull(), "base_model_name_or_path": base,
            "r": stored.config.rank, "lora_alpha": stored.config.alpha, "lora_dropout": stored.config.dropout,
            "target_modules": stored.config.targets, "modules_to_save": stored.full.isEmpty ? NSNull() : stored.full,
            "bias": "none", "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true,
            "use_rslora": false, "use_dora": false, "rank_pattern": [String: Int](), "alpha_pattern": [String: Double](),
        ]
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let dir = URL(fileURLWithPath: directory)
        let json = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try json.write(to: dir.appendingPathComponent(configFile), options: .atomic)
        try Safetensors.write(tensors, to: dir.appendingPathComponent(weightsFile).path, metadata: ["format": "pt"])
        let adapters = tensors.keys.filter { LoRA.isAdapter($0) }.count
        return "exported \(adapters / 2) adapters of rank \(stored.config.rank) and \(tensors.count - adapters) tensors "
            + "trained in full → \(directory)"
    }

    /// The settings and tensors of a PEFT LoRA folder (names without `base_model.model.`).
    public static func read(_ directory: String) throws -> (config: LoRAConfig, tensors: [String: NamedArray]) {
        let configPath = (directory as NSString).appendingPathComponent(configFile)
        let weightsPath = (directory as NSString).appendingPathComponent(weightsFile)
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw CheckpointError(file: directory, message: "no \(configFile): not a PEFT adapter folder")
        }
        func fail(_ message: String) -> CheckpointError { CheckpointError(file: configPath, message: message) }
        guard let json = try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: configPath))) as? [String: Any] else {
            throw fail("is not a JSON object")
        }
        guard (json["peft_type"] as? String)?.uppercased() == "LORA" else {
            throw fail("`peft_type` is \(json["peft_type"] ?? "missing"); only LORA adapters can be read")
        }
        if json["use_dora"] as? Bool == true { throw fail("DoRA adapters (`use_dora: true`) are not supported") }
        if json["lora_bias"] as? Bool == true { throw fail("adapters with their own bias (`lora_bias: true`) are not supported") }
        if json["fan_in_fan_out"] as? Bool == true { throw fail("`fan_in_fan_out: true` (Conv1D layers) is not supported") }
        if let p = json["rank_pattern"] as? [String: Any], !p.isEmpty { throw fail("per-layer ranks (`rank_pattern`) are not supported") }
        if let p = json["alpha_pattern"] as? [String: Any], !p.isEmpty { throw fail("per-layer alphas (`alpha_pattern`) are not supported") }
        guard let rank = json["r"] as? Int, rank > 0 else { throw fail("`r` must be a positive integer") }
        guard let alpha = (json["lora_alpha"] as? NSNumber)?.doubleValue, alpha > 0 else {
            throw fail("`lora_alpha` must be a positive number")
        }
        // rsLoRA scales by α/√r; the adapter's α is rescaled so that α/r gives the same factor.
        let effectiveAlpha = json["use_rslora"] as? Bool == true ? alpha * Double(rank).squareRoot() : alpha
        var tensors: [String: NamedArray] = [:]
        for (name, t) in try Safetensors.read(weightsPath) {
            tensors[name.hasPrefix(prefix) ? String(name.dropFirst(prefix.count)) : name] = t
        }
        // The layers are the ones the file holds adapters for.
        let layers = adaptedLayers(tensors)
        guard !layers.isEmpty else { throw CheckpointError(file: weightsPath, message: "holds no lora_A tensors") }
        let targets = layers.sorted().map { NSRegularExpression.escapedPattern(for: $0) }.joined(separator: "|")
        let config = LoRAConfig(rank: rank, alpha: effectiveAlpha, dropout: (json["lora_dropout"] as? NSNumber)?.doubleValue ?? 0,
                                targets: targets)
        return (config, tensors)
    }

    /// Folds a PEFT LoRA folder into `model`: its adapters (merged into their
    /// layers) and the modules it trained in full.
    public static func fold(_ directory: String, into model: MiniCPMV) throws {
        let (config, tensors) = try read(directory)
        let missing = adaptedLayers(tensors).subtracting(LoRA.attach(config, to: model, rng: RNG(seed: 0)))
        guard missing.isEmpty else {
            throw CheckpointError(file: directory, message: "adapts layers the model does not have: "
                                  + missing.sorted().prefix(3).joined(separator: ", "))
        }
        let untouched = model.namedParameters().map(\.path).filter { tensors[$0] == nil }
        try ModelWeights.load(tensors, into: model, allowMissing: untouched, source: directory)
        LoRA.merge(model)
    }

    /// The layers a PEFT tensor set holds adapters for (`<layer>.lora_A.weight`).
    static func adaptedLayers(_ tensors: [String: NamedArray]) -> Set<String> {
        Set(tensors.keys.filter { $0.hasSuffix(".lora_A.weight") }.map { String($0.dropLast(".lora_A.weight".count)) })
    }
}
