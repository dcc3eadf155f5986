import Autograd
import Core
import NN

/// Patch and position embeddings of the SigLIP-NaViT tower.
public final class VisionEmbeddings: Module {
    @Key("patch_embedding") public var patchEmbedding: PatchEmbedding
    @Key("position_embedding") public var positionEmbedding: Embedding
    public let numPatchesPerSide: Int

    init(_ c: VisionConfig) {
        numPatchesPerSide = c.numPatchesPerSide
        _patchEmbedding.wrappedValue = PatchEmbedding(channels: c.numChannels, dim: c.hiddenSize, patchSize: c.patchSize,
                                                      weightInit: .normal(std: 0.02))
        _positionEmbedding.wrappedValue = Embedding(numPatchesPerSide * numPatchesPerSide, c.hiddenSize,
                                                    initializer: .normal(std: 0.02))
    }

    /// pixels [N, C, P, L·P] → [N, L, D]: patch embeddings plus the table rows
    /// at each slice's bucketized position ids (pads read row 0).
    func callAsFunction(_ pixels: Tensor, tgtSizes: [(h: Int, w: Int)]) -> Tensor {
        let x = patchEmbedding(pixels)                                            // [N, L, D]
        let (n, l, d) = (x.shape[0], x.shape[1], x.shape[2])
        let ids = PositionBuckets.ids(tgtSizes: tgtSizes, length: l, numPatchesPerSide: numPatchesPerSide)
        return x + positionEmbedding(ids).reshaped([n, l, d])
    }
}

/// Pre-norm transformer block: x + attn(ln1(x)), then x + mlp(ln2(x)).
public final class VisionEncoderLayer: Module {
    @Key("layer_norm1") public var norm1: LayerNorm
    @Key("self_attn") public var attention: Attention
    @Key("layer_norm2") public var norm2: LayerNorm
    public let mlp: GELUMLP

    init(_ c: VisionConfig) {
        let eps = Float(c.layerNormEps)
        _norm1.wrappedValue = LayerNorm(c.hiddenSize, eps: eps)
        _attention.wrappedValue = Attention(dim: c.hiddenSize, heads: c.numAttentionHeads, qkvBias: true, outBias: true,
                                            outputKey: "out_proj")
        _norm2.wrappedValue = LayerNorm(c.hiddenSize, eps: eps)
        mlp = GELUMLP(dim: c.hiddenSize, hidden: c.intermediateSize,
                      activation: Activation(configName: c.hiddenAct) ?? .geluTanh)
    }

    /// x [N, L, D] → [N, L, D]
    func callAsFunction(_ x: Tensor, mask: AttentionMask) -> Tensor {
        let h = x + attention(norm1(x), mask: mask)
        return h + mlp(norm2(h))
    }
}

public final class VisionEncoder: Module {
    public let layers: [VisionEncoderLayer]

    init(_ c: VisionConfig, layers count: Int) {
        layers = (0..<count).map { _ in VisionEncoderLayer(c) }
    }
}

/// The SigLIP-NaViT vision tower of MiniCPM-V 2.5/2.6 (FACTS §2).
///
/// Slices of different sizes are batched as strips padded to the longest
/// (maxL patches); the attention ignores padded keys, padded query rows are
/// computed but meaningless. Parameter names follow transformers'
/// `Idefics2VisionTransformer` / the official `SiglipVisionTransformer`.
public final class VisionTransformer: Module {
    public let embeddings: VisionEmbeddings
    public let encoder: VisionEncoder
    @Key("post_layernorm") public var postLayerNorm: LayerNorm
    public let config: VisionConfig
    /// Keep only each encoder layer's input for backward and run the layer again there.
    public var recomputeLayers = false

    /// - dropLastLayer: build one layer fewer than the config lists (MiniCPM-V 2.0).
    public init(config: VisionConfig, dropLastLayer: Bool = false) {
        self.config = config
        embeddings = VisionEmbeddings(config)
        encoder = VisionEncoder(config, layers: config.numHiddenLayers - (dropLastLayer ? 1 : 0))
        _postLayerNorm.wrappedValue = LayerNorm(config.hiddenSize, eps: Float(config.layerNormEps))
    }

    /// pixels [N, C, P, maxL·P] in the strip layout, tgtSizes (h, w) in patches
    /// per slice → last hidden state [N, maxL, D] (after post_layernorm).
    public func callAsFunction(_ pixels: Tensor, tgtSizes: [(h: Int, w: Int)]) -> Tensor {
        precondition(pixels.rank == 4 && pixels.shape[0] == tgtSizes.count,
                     "vision input \(pixels.shape) for \(tgtSizes.count) slices")
        var x = embeddings(pixels, tgtSizes: tgtSizes)                           // [N, L, D]
        let mask = AttentionMask(keyLengths: tgtSizes.map { $0.h * $0.w })
        for layer in encoder.layers {
            if recomputeLayers && GradMode.isEnabled {
                let trained = layer.parameters().filter(\.isTrainable).map(\.value)
                x = recomputed([x], parametersNeedGrad: !trained.isEmpty, reads: trained) {
                    layer($0[0], mask: mask)
                }
            } else {
                x = layer(x, mask: mask)
            }
        }
        return postLayerNorm(x)
    }
}
