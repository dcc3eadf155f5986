import Foundation
import NN

/// The LLM families one `LanguageModel` implements.
public enum LanguageModelKind: String, Codable, CaseIterable {
    /// Qwen2: q/k/v projections with bias (MiniCPM-V 2.6).
    case qwen2
    /// Llama / Llama 3 (MiniCPM-Llama3-V 2.5).
    case llama
    /// MiniCPM: muP-style scale_emb, scale_depth/√L residuals, logits ÷ (hidden/dim_model_base) (MiniCPM-V 2.0).
    case minicpm
}

/// A Hugging Face `config.json` of a Qwen2, Llama or MiniCPM causal LM.
public struct LanguageModelConfig: Codable, Equatable {
    public var modelType: LanguageModelKind
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var hiddenAct: String
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var maxPositionEmbeddings: Int
    public var tieWordEmbeddings: Bool
    /// Bias on q/k/v/o (Llama's `attention_bias`); Qwen2 always has q/k/v bias and no o bias.
    public var attentionBias: Bool
    public var mlpBias: Bool
    /// MiniCPM only (1, 1, nil otherwise).
    public var scaleEmb: Double
    public var scaleDepth: Double
    public var dimModelBase: Int?
    public var initializerRange: Double

    public init(modelType: LanguageModelKind, vocabSize: Int, hiddenSize: Int, intermediateSize: Int,
                numHiddenLayers: Int, numAttentionHeads: Int, numKeyValueHeads: Int? = nil, headDim: Int? = nil,
                hiddenAct: String = "silu", rmsNormEps: Double = 1e-6, ropeTheta: Double = 10000,
                maxPositionEmbeddings: Int = 4096, tieWordEmbeddings: Bool = false, attentionBias: Bool = false,
                mlpBias: Bool = false, scaleEmb: Double = 1, scaleDepth: Double = 1, dimModelBase: Int? = nil,
                initializerRange: Double = 0.02) {
        self.modelType = modelType
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads ?? numAttentionHeads
        self.headDim = headDim ?? hiddenSize / numAttentionHeads
        self.hiddenAct = hiddenAct
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.tieWordEmbeddings = tieWordEmbeddings
        self.attentionBias = attentionBias
        self.mlpBias = mlpBias
        self.scaleEmb = scaleEmb
        self.scaleDepth = scaleDepth
        self.dimModelBase = dimModelBase
        self.initializerRange = initializerRange
    }

    /// Whether q/k/v projections have a bias.
    public var qkvBias: Bool { modelType == .qwen2 || attentionBias }
    /// Whether the output projection has a bias.
    public var outputBias: Bool { modelType != .qwen2 && attentionBias }
    /// Factor on every residual branch (MiniCPM: scale_depth/√L).
    public var residualScale: Float {
        modelType == .minicpm ? Float(scaleDepth / Double(numHiddenLayers).squareRoot()) : 1
    }
    /// Factor on the token embeddings (MiniCPM: scale_emb).
    public var embeddingScale: Float { modelType == .minicpm ? Float(scaleEmb) : 1 }
    /// Divisor of the final hidden state before lm_head (MiniCPM: hidden/dim_model_base).
    public var logitDivisor: Float {
        guard modelType == .minicpm, let base = dimModelBase else { return 1 }
        return Float(hiddenSize) / Float(base)
    }

    public init(from decoder: Decoder) throws {
        try self.init(from: decoder, modelType: nil)
    }

    /// Decodes the HF fields; `modelType` overrides the file's `model_type`
    /// (the official MiniCPM-V config keeps the LLM fields at top level under
    /// `model_type: minicpmv`).
    init(from decoder: Decoder, modelType override: LanguageModelKind?) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        if let override {
            modelType = override
        } else {
            let name: String = try c.required("model_type")
            guard let kind = LanguageModelKind(rawValue: name) else {
                throw ModelError("model_type '\(name)' is not supported (qwen2, llama or minicpm)")
            }
            modelType = kind
        }
        vocabSize = try c.required("vocab_size")
        hiddenSize = try c.required("hidden_size")
        intermediateSize = try c.required("intermediate_size")
        numHiddenLayers = try c.required("num_hidden_layers")
        numAttentionHeads = try c.required("num_attention_heads")
        numKeyValueHeads = try c.optional("num_key_value_heads") ?? numAttentionHeads
        headDim = try c.optional("head_dim") ?? hiddenSize / max(numAttentionHeads, 1)
        hiddenAct = try c.value("hidden_act", default: "silu")
        rmsNormEps = try c.value("rms_norm_eps", default: 1e-6)
        ropeTheta = try c.value("rope_theta", default: 10000)
        maxPositionEmbeddings = try c.value("max_position_embeddings", default: 4096)
        tieWordEmbeddings = try c.value("tie_word_embeddings", default: false)
        attentionBias = try c.value("attention_bias", default: false)
        mlpBias = try c.value("mlp_bias", default: false)
        scaleEmb = try c.value("scale_emb", default: 1)
        scaleDepth = try c.value("scale_depth", default: 1)
        dimModelBase = try c.optional("dim_model_base")
        initializerRange = try c.value("initializer_range", default: 0.02)
        if c.has("rope_scaling"), try !c.decodeNil(forKey: AnyKey("rope_scaling")) {
            throw ModelError("rope_scaling is not supported (only plain RoPE)")
        }
        try validate()
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        try c.put("model_type", modelType.rawValue)
        try encodeFields(into: &c)
    }

    /// Every field but `model_type` (shared with the official MiniCPM-V layout).
    func encodeFields(into c: inout KeyedEncodingContainer<AnyKey>) throws {
        try c.put("vocab_size", vocabSize)
        try c.put("hidden_size", hiddenSize)
        try c.put("intermediate_size", intermediateSize)
        try c.put("num_hidden_layers", numHiddenLayers)
        try c.put("num_attention_heads", numAttentionHeads)
        try c.put("num_key_value_heads", numKeyValueHeads)
        try c.put("head_dim", headDim)
        try c.put("hidden_act", hiddenAct)
        try c.put("rms_norm_eps", rmsNormEps)
        try c.put("rope_theta", ropeTheta)
        try c.put("max_position_embeddings", maxPositionEmbeddings)
        try c.put("tie_word_embeddings", tieWordEmbeddings)
        try c.put("attention_bias", attentionBias)
        try c.put("mlp_bias", mlpBias)
        try c.put("initializer_range", initializerRange)
        if modelType == .minicpm {
            try c.put("scale_emb", scaleEmb)
            try c.put("scale_depth", scaleDepth)
            try c.putIfPresent("dim_model_base", dimModelBase)
        }
    }

    public func validate() throws {
        guard vocabSize > 0, hiddenSize > 0, intermediateSize > 0, numHiddenLayers >= 0, headDim > 0 else {
            throw ModelError("LLM sizes must be positive")
        }
        guard numAttentionHeads > 0, numKeyValueHeads > 0, numAttentionHeads % numKeyValueHeads == 0 else {
            throw ModelError("num_attention_heads \(numAttentionHeads) is not a multiple of num_key_value_heads \(numKeyValueHeads)")
        }
        guard headDim % 2 == 0 else { throw ModelError("head_dim \(headDim) must be even (rotary embedding)") }
        guard Activation(configName: hiddenAct) != nil else {
            throw ModelError("hidden_act '\(hiddenAct)' is not supported")
        }
        if modelType == .minicpm, let base = dimModelBase, base <= 0 {
            throw ModelError("dim_model_base must be positive")
        }
    }
}
