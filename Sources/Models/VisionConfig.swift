import Foundation
import NN

/// The SigLIP / Idefics2 vision tower config (Hugging Face `vision_config` fields).
/// Missing fields take `SiglipVisionConfig`'s defaults, as transformers does.
public struct VisionConfig: Codable, Equatable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var patchSize: Int
    /// Side of the square image the position table was trained for; the table
    /// has (imageSize / patchSize)² entries.
    public var imageSize: Int
    public var layerNormEps: Double
    public var hiddenAct: String
    public var numChannels: Int
    public var modelType: String

    public init(hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
                patchSize: Int = 14, imageSize: Int = 980, layerNormEps: Double = 1e-6,
                hiddenAct: String = "gelu_pytorch_tanh", numChannels: Int = 3, modelType: String = "siglip") {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.patchSize = patchSize
        self.imageSize = imageSize
        self.layerNormEps = layerNormEps
        self.hiddenAct = hiddenAct
        self.numChannels = numChannels
        self.modelType = modelType
    }

    /// SoViT-400m/14 as in MiniCPM-V 2.5 / 2.6 (70×70 position table).
    public static let soViT400m = VisionConfig(hiddenSize: 1152, intermediateSize: 4304, numHiddenLayers: 27,
                                               numAttentionHeads: 16, patchSize: 14, imageSize: 980)

    /// Patches per side of the position table.
    public var numPatchesPerSide: Int { imageSize / patchSize }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        hiddenSize = try c.value("hidden_size", default: 768)
        intermediateSize = try c.value("intermediate_size", default: 3072)
        numHiddenLayers = try c.value("num_hidden_layers", default: 12)
        numAttentionHeads = try c.value("num_attention_heads", default: 12)
        patchSize = try c.value("patch_size", default: 16)
        imageSize = try c.value("image_size", default: 224)
        layerNormEps = try c.value("layer_norm_eps", default: 1e-6)
        hiddenAct = try c.value("hidden_act", default: "gelu_pytorch_tanh")
        numChannels = try c.value("num_channels", default: 3)
        modelType = try c.value("model_type", default: "siglip_vision_model")
        try validate()
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        try c.put("hidden_size", hiddenSize)
        try c.put("intermediate_size", intermediateSize)
        try c.put("num_hidden_layers", numHiddenLayers)
        try c.put("num_attention_heads", numAttentionHeads)
        try c.put("patch_size", patchSize)
        try c.put("image_size", imageSize)
        try c.put("layer_norm_eps", layerNormEps)
        try c.put("hidden_act", hiddenAct)
        try c.put("num_channels", numChannels)
        try c.put("model_type", modelType)
    }

    public func validate() throws {
        guard hiddenSize > 0, numAttentionHeads > 0, hiddenSize % numAttentionHeads == 0 else {
            throw ModelError("vision hidden_size \(hiddenSize) does not split into \(numAttentionHeads) heads")
        }
        guard patchSize > 0, imageSize >= patchSize else {
            throw ModelError("vision image_size \(imageSize) is smaller than patch_size \(patchSize)")
        }
        guard numHiddenLayers >= 0, intermediateSize > 0 else {
            throw ModelError("vision sizes must be positive")
        }
        guard Activation(configName: hiddenAct) != nil else {
            throw ModelError("vision hidden_act '\(hiddenAct)' is not supported")
        }
    }
}

/// The perceiver resampler config (the fixture / our preset layout).
public struct ResamplerConfig: Codable, Equatable {
    public var numQueries: Int
    public var embedDim: Int
    public var numHeads: Int
    public var kvDim: Int
    /// Initial size of the official 2-D sin-cos cache; it grows as needed, so
    /// values never depend on it.
    public var maxSize: [Int]
    public var layerNormEps: Double
    /// Adds the keys' 2-D sin-cos position to the values too, so that every query's
    /// output says where it looked (not in the official resampler, whose pretrained
    /// vision features carry their positions; off by default).
    public var positionInValues: Bool

    public init(numQueries: Int, embedDim: Int, numHeads: Int, kvDim: Int,
                maxSize: [Int] = [70, 70], layerNormEps: Double = 1e-6, positionInValues: Bool = false) {
        self.numQueries = numQueries
        self.embedDim = embedDim
        self.numHeads = numHeads
        self.kvDim = kvDim
        self.maxSize = maxSize
        self.layerNormEps = layerNormEps
        self.positionInValues = positionInValues
    }

    enum CodingKeys: String, CodingKey {
        case numQueries = "num_queries", embedDim = "embed_dim", numHeads = "num_heads", kvDim = "kv_dim"
        case maxSize = "max_size", layerNormEps = "layer_norm_eps", positionInValues = "position_in_values"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        numQueries = try c.decode(Int.self, forKey: .numQueries)
        embedDim = try c.decode(Int.self, forKey: .embedDim)
        numHeads = try c.decodeIfPresent(Int.self, forKey: .numHeads) ?? max(1, embedDim / 128)
        kvDim = try c.decodeIfPresent(Int.self, forKey: .kvDim) ?? embedDim
        maxSize = try c.decodeIfPresent([Int].self, forKey: .maxSize) ?? [70, 70]
        layerNormEps = try c.decodeIfPresent(Double.self, forKey: .layerNormEps) ?? 1e-6
        positionInValues = try c.decodeIfPresent(Bool.self, forKey: .positionInValues) ?? false
        try validate()
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(numQueries, forKey: .numQueries)
        try c.encode(embedDim, forKey: .embedDim)
        try c.encode(numHeads, forKey: .numHeads)
        try c.encode(kvDim, forKey: .kvDim)
        try c.encode(maxSize, forKey: .maxSize)
        try c.encode(layerNormEps, forKey: .layerNormEps)
        if positionInValues { try c.encode(positionInValues, forKey: .positionInValues) }   // the official layout has no such key
    }

    public func validate() throws {
        guard numQueries > 0, embedDim > 0, kvDim > 0 else { throw ModelError("resampler sizes must be positive") }
        guard numHeads > 0, embedDim % numHeads == 0 else {
            throw ModelError("resampler embed_dim \(embedDim) does not split into \(numHeads) heads")
        }
        guard embedDim % 4 == 0 else {
            throw ModelError("resampler embed_dim \(embedDim) must be a multiple of 4 (2-D sin-cos)")
        }
    }
}
