import Foundation
import Yams

/// What a list of checkpoint directories holds, and the model config they imply.
///
/// Accepted: one MiniCPM-V directory (official or our config layout), or a
/// vision directory (SigLIP / Idefics2 / SigLIP-NaViT config) plus an LLM
/// directory (Qwen2, Llama or MiniCPM config). For a pair the resampler is not
/// in the weights (`isComplete` false) and is sized the official way.
public struct CheckpointSources {
    public let config: MiniCPMVConfig
    /// True for one MiniCPM-V checkpoint; false for a vision + LLM pair.
    public let isComplete: Bool
    public let directories: [String]

    /// Special tokens looked up in a directory's tokenizer.json.
    static let specialTokenNames = ["<unk>", "<image>", "</image>", "<slice>", "</slice>", "<image_id>", "</image_id>",
                                    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>"]

    public init(directories: [String], queryNum: Int? = nil) throws {
        self.directories = directories
        var full: MiniCPMVConfig?, vision: VisionConfig?, llm: LanguageModelConfig?
        var tokens: [String: Int] = [:]
        for dir in directories {
            let url = URL(fileURLWithPath: dir).appendingPathComponent("config.json")
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw ModelError(file: url.path, "file not found or unreadable")
            }
            tokens.merge(try Self.specialTokens(in: dir)) { a, _ in a }
            switch try Self.kind(of: data, file: url.path) {
            case .miniCPMV: full = try decodeConfig(MiniCPMVConfig.self, from: data, file: url.path)
            case .vision(let nested): vision = try Self.visionConfig(data, nested: nested, file: url.path)
            case .llm: llm = try decodeConfig(LanguageModelConfig.self, from: data, file: url.path)
            }
        }
        if var full, directories.count == 1 {
            if full.specialTokenIds.isEmpty { full.specialTokenIds = tokens }
            if let q = queryNum, q != full.queryNum {
                throw ModelError(file: directories[0], "query_num \(full.queryNum) differs from the requested \(q)")
            }
            config = full
            isComplete = true
            return
        }
        guard full == nil, let vision, let llm, directories.count == 2 else {
            throw ModelError("expected one MiniCPM-V checkpoint directory, or a vision directory and an LLM directory; got \(directories)")
        }
        let version = ["qwen2": "2.6", "llama": "2.5", "minicpm": "2.0"][llm.modelType.rawValue]!
        let q = queryNum ?? (version == "2.5" ? 96 : 64)
        let c = MiniCPMVConfig(version: version, queryNum: q, vision: vision,
                               resampler: MiniCPMVConfig.officialResampler(queryNum: q, vision: vision, llm: llm),
                               llm: llm, sliceConfig: SliceConfig(patchSize: vision.patchSize),
                               specialTokenIds: tokens.filter { $0.value < llm.vocabSize })
        try c.validate()
        config = c
        isComplete = false
    }

    enum Kind { case miniCPMV, vision(nested: Bool), llm }

    /// Classifies a config.json by its fields.
    static func kind(of data: Data, file: String) throws -> Kind {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ModelError(file: file, "not a JSON object")
        }
        let type = object["model_type"] as? String ?? ""
        if object["llm"] != nil || type == "minicpmv" || object["query_num"] != nil { return .miniCPMV }
        if LanguageModelKind(rawValue: type) != nil { return .llm }
        if type.contains("siglip") || type.contains("idefics2") || object["vision_config"] != nil {
            return .vision(nested: object["vision_config"] != nil)
        }
        throw ModelError(file: file, "model_type '\(type)' is neither MiniCPM-V, a SigLIP/Idefics2 vision tower nor qwen2/llama/minicpm")
    }

    private static func visionConfig(_ data: Data, nested: Bool, file: String) throws -> VisionConfig {
        struct Nested: Decodable { let vision_config: VisionConfig }
        return nested ? try decodeConfig(Nested.self, from: data, file: file).vision_config
            : try decodeConfig(VisionConfig.self, from: data, file: file)
    }

    /// Ids of the known special tokens among tokenizer.json's added tokens (empty without one).
    static func specialTokens(in dir: String) throws -> [String: Int] {
        let path = URL(fileURLWithPath: dir).appendingPathComponent("tokenizer.json").path
        guard let data = FileManager.default.contents(atPath: path) else { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ModelError(file: path, "not a JSON object")
        }
        var out: [String: Int] = [:]
        for entry in object["added_tokens"] as? [[String: Any]] ?? [] {
            if let content = entry["content"] as? String, let id = entry["id"] as? Int,
               specialTokenNames.contains(content) {
                out[content] = id
            }
        }
        return out
    }
}

extension MiniCPMVConfig {
    /// A named preset (`micro`, `tiny`, `small`, `minicpm-v-2`, `minicpm-llama3-v-2_5`,
    /// `minicpm-v-2_6`) from `directory`, or a config file (YAML or JSON) when `name` is a path.
    public static func preset(_ name: String, directory: String) throws -> MiniCPMVConfig {
        let isPath = name.contains("/") || [".json", ".yaml", ".yml"].contains { name.hasSuffix($0) }
        let url = isPath ? URL(fileURLWithPath: name)
            : URL(fileURLWithPath: directory).appendingPathComponent(name + ".yaml")
        guard FileManager.default.fileExists(atPath: url.path) else {
            if isPath { throw ModelError(file: url.path, "model config file not found") }
            let known = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
                .filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
            throw ModelError(file: url.path, "no model preset named '\(name)' (known: \(known.joined(separator: ", ")))")
        }
        if url.pathExtension == "json" { return try load(from: url) }
        return try loadYAML(from: url)
    }

    /// A config written as YAML with the same keys as config.json.
    public static func loadYAML(from url: URL) throws -> MiniCPMVConfig {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw ModelError(file: url.path, "cannot read the model config")
        }
        let object: Any?
        do { object = try Yams.load(yaml: text) } catch {
            throw ModelError(file: url.path, "invalid YAML: \(error)")
        }
        guard let object, JSONSerialization.isValidJSONObject(object),
              let data = try? JSONSerialization.data(withJSONObject: object) else {
            throw ModelError(file: url.path, "the model config must be a mapping of keys to values")
        }
        return try decode(json: String(decoding: data, as: UTF8.self), file: url.path)
    }
}
