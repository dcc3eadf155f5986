import Foundation

/// Adaptive slicing parameters (FACTS §1), as in the official `slice_config`.
public struct SliceConfig: Codable, Equatable {
    public var maxSliceNums: Int
    public var scaleResolution: Int
    public var patchSize: Int
    public var neverSplit: Bool

    public init(maxSliceNums: Int = 9, scaleResolution: Int = 448, patchSize: Int = 14, neverSplit: Bool = false) {
        self.maxSliceNums = maxSliceNums
        self.scaleResolution = scaleResolution
        self.patchSize = patchSize
        self.neverSplit = neverSplit
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        maxSliceNums = try c.value("max_slice_nums", default: 9)
        scaleResolution = try c.value("scale_resolution", default: 448)
        patchSize = try c.value("patch_size", default: 14)
        neverSplit = try c.value("never_split", default: false)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        try c.put("max_slice_nums", maxSliceNums)
        try c.put("scale_resolution", scaleResolution)
        try c.put("patch_size", patchSize)
        try c.put("never_split", neverSplit)
    }
}

/// The whole MiniCPM-V model: vision tower, resampler, LLM and the settings
/// that tie them together.
///
/// Decodes two layouts:
/// - ours (the fixtures' and presets'): `{version, query_num, vision, resampler, llm,
///   slice_config, special_token_ids, …}`;
/// - the official Hugging Face MiniCPM-V `config.json`: LLM fields at top level,
///   `vision_config`, `query_num`, `version`, `slice_config`, `drop_vision_last_layer`;
///   the resampler is implied (embed_dim = hidden_size, hidden_size/128 heads).
/// `encode` writes ours; `officialJSON()` the official one (with our extra
/// fields, so it decodes back to the same config).
public struct MiniCPMVConfig: Codable, Equatable {
    /// "2.0", "2.5" or "2.6": chooses the placeholder format and defaults.
    public var version: String
    public var queryNum: Int
    public var vision: VisionConfig
    public var resampler: ResamplerConfig
    public var llm: LanguageModelConfig
    public var sliceConfig: SliceConfig
    /// Token ids of the special tokens (`<unk>`, `<image>`, `</image>`, `<slice>`, …).
    public var specialTokenIds: [String: Int]
    /// MiniCPM-V 2.0 used the vision tower without its last layer.
    public var dropVisionLastLayer: Bool
    /// 2.6: `<image_id>i</image_id>` before each image.
    public var useImageId: Bool

    public init(version: String, queryNum: Int, vision: VisionConfig, resampler: ResamplerConfig,
                llm: LanguageModelConfig, sliceConfig: SliceConfig = SliceConfig(),
                specialTokenIds: [String: Int] = [:], dropVisionLastLayer: Bool = false, useImageId: Bool? = nil) {
        self.version = version
        self.queryNum = queryNum
        self.vision = vision
        self.resampler = resampler
        self.llm = llm
        self.sliceConfig = sliceConfig
        self.specialTokenIds = specialTokenIds
        self.dropVisionLastLayer = dropVisionLastLayer
        self.useImageId = useImageId ?? (version == "2.6")
    }

    /// A resampler sized as the official code does: embed_dim = LLM hidden,
    /// hidden/128 heads, kv_dim = vision hidden.
    public static func officialResampler(queryNum: Int, vision: VisionConfig, llm: LanguageModelConfig) -> ResamplerConfig {
        ResamplerConfig(numQueries: queryNum, embedDim: llm.hiddenSize, numHeads: max(1, llm.hiddenSize / 128),
                        kvDim: vision.hiddenSize)
    }

    /// The vision layers actually run.
    public var visionLayers: Int { vision.numHiddenLayers - (dropVisionLastLayer ? 1 : 0) }

    public func validate() throws {
        try vision.validate()
        try resampler.validate()
        try llm.validate()
        guard resampler.embedDim == llm.hiddenSize else {
            throw ModelError("resampler embed_dim \(resampler.embedDim) differs from the LLM hidden_size \(llm.hiddenSize)")
        }
        guard resampler.kvDim == vision.hiddenSize else {
            throw ModelError("resampler kv_dim \(resampler.kvDim) differs from the vision hidden_size \(vision.hiddenSize)")
        }
        guard resampler.numQueries == queryNum else {
            throw ModelError("resampler num_queries \(resampler.numQueries) differs from query_num \(queryNum)")
        }
        guard visionLayers >= 1 else { throw ModelError("the vision tower needs at least one layer") }
        guard vision.patchSize == sliceConfig.patchSize else {
            throw ModelError("slice_config patch_size \(sliceConfig.patchSize) differs from the vision patch_size \(vision.patchSize)")
        }
        for (name, id) in specialTokenIds where id < 0 || id >= llm.vocabSize {
            throw ModelError("special token \(name) has id \(id) outside the vocabulary of \(llm.vocabSize)")
        }
    }

    // MARK: - Decoding

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        version = try Self.decodeVersion(c)
        if c.has("llm") {
            llm = try c.required("llm")
            vision = try c.required("vision")
        } else {
            llm = try LanguageModelConfig(from: decoder, modelType: Self.officialLanguageModelKind(c, version: version))
            vision = try Self.officialVision(c)
        }
        let defaultQueries = version == "2.5" ? 96 : 64
        queryNum = try c.value("query_num", default: defaultQueries)
        resampler = try c.optional("resampler") ?? Self.officialResampler(queryNum: queryNum, vision: vision, llm: llm)
        sliceConfig = try c.optional("slice_config") ?? SliceConfig(
            maxSliceNums: try c.value("max_slice_nums", default: 9),
            scaleResolution: try c.value("scale_resolution", default: 448),
            patchSize: try c.value("patch_size", default: vision.patchSize))
        specialTokenIds = try c.value("special_token_ids", default: [:])
        dropVisionLastLayer = try c.value("drop_vision_last_layer", default: false)
        useImageId = try c.value("use_image_id", default: version == "2.6")
        try validate()
    }

    private static func decodeVersion(_ c: KeyedDecodingContainer<AnyKey>) throws -> String {
        if let s = try? c.decode(String.self, forKey: AnyKey("version")) { return normalizedVersion(s) }
        if let d = try? c.decode(Double.self, forKey: AnyKey("version")) { return normalizedVersion(String(d)) }
        if c.has("scale_emb") { return "2.0" }
        throw ModelError("missing field 'version' (2.0, 2.5 or 2.6)")
    }

    static func normalizedVersion(_ s: String) -> String {
        if let d = Double(s) { return String(format: "%.1f", d) }
        return s
    }

    /// The LLM family of an official config: our `llm_model_type` when present,
    /// else MiniCPM when muP fields are there, else by version.
    private static func officialLanguageModelKind(_ c: KeyedDecodingContainer<AnyKey>, version: String) throws -> LanguageModelKind {
        if let name: String = try c.optional("llm_model_type") {
            guard let kind = LanguageModelKind(rawValue: name) else {
                throw ModelError("llm_model_type '\(name)' is not supported (qwen2, llama or minicpm)")
            }
            return kind
        }
        if c.has("scale_emb") { return .minicpm }
        switch version {
        case "2.6": return .qwen2
        case "2.5": return .llama
        case "2.0": return .minicpm
        default: throw ModelError("cannot tell the LLM family of MiniCPM-V version \(version); add llm_model_type")
        }
    }

    /// `vision_config`, or 2.0's timm SoViT-400m/14 at 384 px.
    private static func officialVision(_ c: KeyedDecodingContainer<AnyKey>) throws -> VisionConfig {
        if c.has("vision_config") { return try c.required("vision_config") }
        if let encoder: String = try c.optional("vision_encoder"), encoder.contains("so400m") {
            var v = VisionConfig.soViT400m
            v.imageSize = 384
            return v
        }
        throw ModelError("missing field 'vision_config'")
    }

    // MARK: - Encoding

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        try c.put("version", version)
        try c.put("query_num", queryNum)
        try c.put("vision", vision)
        try c.put("resampler", resampler)
        try c.put("llm", llm)
        try c.put("slice_config", sliceConfig)
        try c.put("special_token_ids", specialTokenIds)
        try c.put("drop_vision_last_layer", dropVisionLastLayer)
        try c.put("use_image_id", useImageId)
    }

    /// Our layout as pretty, key-sorted JSON.
    public func jsonString() throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try e.encode(self), as: UTF8.self)
    }

    /// Decodes either layout from JSON text; `file` names the source in errors.
    public static func decode(json: String, file: String? = nil) throws -> MiniCPMVConfig {
        try decodeConfig(MiniCPMVConfig.self, from: Data(json.utf8), file: file)
    }

    public static func load(from url: URL) throws -> MiniCPMVConfig {
        try loadConfig(MiniCPMVConfig.self, at: url)
    }
}
