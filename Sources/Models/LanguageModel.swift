import Autograd
import Core
import NN

/// One decoder block: h + s·attn(norm(h)), then h + s·mlp(norm(h)), with s the
/// residual scale (1, or MiniCPM's scale_depth/√L).
public final class DecoderLayer: Module {
    @Key("self_attn") public var attention: Attention
    public let mlp: SwiGLUMLP
    @Key("input_layernorm") public var inputNorm: RMSNorm
    @Key("post_attention_layernorm") public var postAttentionNorm: RMSNorm

    init(_ c: LanguageModelConfig) {
        let std = Float(c.initializerRange), eps = Float(c.rmsNormEps)
        _attention.wrappedValue = Attention(dim: c.hiddenSize, heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads,
                                            headDim: c.headDim, qkvBias: c.qkvBias, outBias: c.outputBias,
                                            outputKey: "o_proj", weightInit: .normal(std: std))
        mlp = SwiGLUMLP(dim: c.hiddenSize, hidden: c.intermediateSize, bias: c.mlpBias,
                        activation: Activation(configName: c.hiddenAct) ?? .silu, weightInit: .normal(std: std))
        _inputNorm.wrappedValue = RMSNorm(c.hiddenSize, eps: eps)
        _postAttentionNorm.wrappedValue = RMSNorm(c.hiddenSize, eps: eps)
    }

    /// h [B, T, D] → [B, T, D]
    func callAsFunction(_ h: Tensor, mask: AttentionMask, rotary: RotaryEmbedding, positions: [Int32],
                        residualScale: Float, cache: AttentionCache?) -> Tensor {
        let a = attention(inputNorm(h), mask: mask, rotary: rotary, positions: positions, cache: cache)
        return residualMLP(h + (residualScale == 1 ? a : a * residualScale), residualScale: residualScale)
    }

    /// The block's output at `rows` (into B·T) only: h [B, T, D] → [n, D].
    ///
    /// Keys and values still come from every row; the output projection, the
    /// MLP and the residual adds run on the kept rows alone. For the last
    /// layer, when only some positions reach the LM head.
    func callAsFunction(_ h: Tensor, keeping rows: [Int32], mask: AttentionMask, rotary: RotaryEmbedding,
                        positions: [Int32], residualScale: Float) -> Tensor {
        let (n, d) = (h.shape[0] * h.shape[1], h.shape[2])
        let heads = attention.attendedHeads(inputNorm(h), mask: mask, rotary: rotary, positions: positions)
        let a = attention.outProj(heads.reshaped([n, heads.shape[2]]).indexSelect(rows))     // [rows, D]
        let kept = h.reshaped([n, d]).indexSelect(rows)
        return residualMLP(kept + (residualScale == 1 ? a : a * residualScale), residualScale: residualScale)
    }

    /// h1 + s·mlp(norm(h1)), the block's second half.
    private func residualMLP(_ h1: Tensor, residualScale: Float) -> Tensor {
        let m = mlp(postAttentionNorm(h1))
        return h1 + (residualScale == 1 ? m : m * residualScale)
    }
}

/// The `model.*` part of a Hugging Face causal LM.
public final class DecoderStack: Module {
    @Key("embed_tokens") public var embedTokens: Embedding
    public let layers: [DecoderLayer]
    public let norm: RMSNorm

    init(_ c: LanguageModelConfig) {
        _embedTokens.wrappedValue = Embedding(c.vocabSize, c.hiddenSize, initializer: .normal(std: Float(c.initializerRange)))
        layers = (0..<c.numHiddenLayers).map { _ in DecoderLayer(c) }
        norm = RMSNorm(c.hiddenSize, eps: Float(c.rmsNormEps))
    }
}

/// Keys and values of every layer, for generation.
public final class KVCache {
    public let layers: [AttentionCache]

    public init(layers: Int) { self.layers = (0..<layers).map { _ in AttentionCache() } }

    /// Tokens cached so far (the next token's position when decoding one sequence).
    public var length: Int { layers.first?.length ?? 0 }

    public func reset() { for l in layers { l.reset() } }
}

/// A decoder-only LLM covering Qwen2, Llama/Llama 3 and MiniCPM by config:
/// RMSNorm, RoPE, grouped-query attention, SwiGLU; q/k/v bias (Qwen2); tied or
/// untied lm_head; MiniCPM's muP scalings. Parameter names are the Hugging
/// Face ones (`model.layers.0.self_attn.q_proj.weight`, `lm_head.weight`).
///
/// Inputs are embeddings rather than ids so that vision tokens can be spliced
/// in; `embed` gives the (scaled) token embeddings.
public final class LanguageModel: Module {
    @Key("model") public var model: DecoderStack
    @Key("lm_head") public var lmHead: Linear?
    public let config: LanguageModelConfig
    let rotary: RotaryEmbedding
    /// Keep only each decoder layer's input for backward and run the layer again
    /// there (`memory.recompute: layers`); same values and gradients, less memory.
    public var recomputeLayers = false

    public init(config c: LanguageModelConfig) {
        config = c
        rotary = RotaryEmbedding(theta: Float(c.ropeTheta))
        _model.wrappedValue = DecoderStack(c)
        _lmHead.wrappedValue = c.tieWordEmbeddings ? nil
            : Linear(c.hiddenSize, c.vocabSize, bias: false, weightInit: .normal(std: Float(c.initializerRange)))
    }

    /// Token embeddings, times scale_emb for MiniCPM: ids [n] → [n, D].
    public func embed(_ ids: [Int32]) -> Tensor {
        let e = model.embedTokens(ids)
        let s = config.embeddingScale
        return s == 1 ? e : e * s
    }

    /// Final hidden states (after the last norm).
    ///
    /// - embeddings: [B, T, D].
    /// - positions: B·T rotary positions (restarting per packed sample).
    /// - segmentIds: B·T ids; attention stays within runs of equal ids (packing). nil: whole rows.
    /// - cache: earlier tokens' keys/values; the new ones are appended. With a
    ///   cache the queries see every cached key (causal, aligned at the end).
    public func hiddenStates(embeddings: Tensor, positions: [Int32], segmentIds: [Int32]? = nil,
                             cache: KVCache? = nil) -> Tensor {
        model.norm(stream(embeddings, layers: model.layers.count, positions: positions, segmentIds: segmentIds,
                          cache: cache).h)
    }

    /// Final hidden states of `rows` (into B·T) only: [n, D], equal to those
    /// rows of `hiddenStates` (same values and gradients). The last layer
    /// computes its output projection and MLP for these rows alone, which
    /// saves that work on positions that carry no label (image tokens).
    public func hiddenStates(embeddings: Tensor, positions: [Int32], segmentIds: [Int32]?,
                             keeping rows: [Int32]) -> Tensor {
        let (h, mask) = stream(embeddings, layers: max(model.layers.count - 1, 0), positions: positions,
                               segmentIds: segmentIds, cache: nil)
        guard let last = model.layers.last else {
            return model.norm(h.reshaped([h.shape[0] * h.shape[1], config.hiddenSize]).indexSelect(rows))
        }
        let (rotary, scale) = (self.rotary, config.residualScale)
        return model.norm(checkpointed(last, h) {
            last($0, keeping: rows, mask: mask, rotary: rotary, positions: positions, residualScale: scale)
        })
    }

    /// The residual stream after decoder layer `index` alone, from the stream before
    /// it (h [B, T, D]); for work that goes layer by layer (post-training quantization).
    public func decoderLayer(_ index: Int, _ h: Tensor, positions: [Int32], segmentIds: [Int32]?) -> Tensor {
        model.layers[index](h, mask: AttentionMask(causal: true, segmentIds: segmentIds), rotary: rotary,
                            positions: positions, residualScale: config.residualScale, cache: nil)
    }

    /// The residual stream after the first `layers` decoder layers (shapes
    /// checked), and the attention mask they used.
    private func stream(_ embeddings: Tensor, layers: Int, positions: [Int32], segmentIds: [Int32]?,
                        cache: KVCache?) -> (h: Tensor, mask: AttentionMask) {
        precondition(embeddings.rank == 3 && embeddings.shape[2] == config.hiddenSize,
                     "LLM input \(embeddings.shape), hidden size \(config.hiddenSize)")
        precondition(positions.count == embeddings.shape[0] * embeddings.shape[1],
                     "\(positions.count) positions for \(embeddings.shape)")
        precondition(cache == nil || segmentIds == nil, "a KV cache cannot be combined with packing")
        let mask = AttentionMask(causal: true, segmentIds: segmentIds)
        var h = embeddings
        let (rotary, scale) = (self.rotary, config.residualScale)
        for (i, layer) in model.layers.prefix(layers).enumerated() {
            if let cache {
                h = layer(h, mask: mask, rotary: rotary, positions: positions, residualScale: scale, cache: cache.layers[i])
            } else {
                h = checkpointed(layer, h) { layer($0, mask: mask, rotary: rotary, positions: positions,
                                                   residualScale: scale, cache: nil) }
            }
        }
        return (h, mask)
    }

    /// `body(h)`, recomputed in backward when `recomputeLayers` is on.
    private func checkpointed(_ layer: Module, _ h: Tensor, _ body: @escaping (Tensor) -> Tensor) -> Tensor {
        guard recomputeLayers, GradMode.isEnabled else { return body(h) }
        let trained = layer.parameters().filter(\.isTrainable).map(\.value)
        return recomputed([h], parametersNeedGrad: !trained.isEmpty, reads: trained) { body($0[0]) }
    }

    /// hidden [..., D] → logits [..., V] (MiniCPM divides by hidden/dim_model_base first).
    public func logits(hidden: Tensor) -> Tensor {
        let divisor = config.logitDivisor
        let h = divisor == 1 ? hidden : hidden * (1 / divisor)
        if let lmHead { return lmHead(h) }
        if let table = model.embedTokens.weight.bf16 { return linear(h, table) }
        return matmul(h, model.embedTokens.weight.value, transposeB: true)
    }

    /// Logits [B, T, V] of `embeddings` [B, T, D].
    public func callAsFunction(embeddings: Tensor, positions: [Int32], segmentIds: [Int32]? = nil,
                               cache: KVCache? = nil) -> Tensor {
        logits(hidden: hiddenStates(embeddings: embeddings, positions: positions, segmentIds: segmentIds, cache: cache))
    }

    /// Logits [B, T, V] of token ids (B·T row-major).
    public func callAsFunction(ids: [Int32], batch: Int, positions: [Int32], segmentIds: [Int32]? = nil,
                               cache: KVCache? = nil) -> Tensor {
        let t = ids.count / batch
        let e = embed(ids).reshaped([batch, t, config.hiddenSize])
        return self(embeddings: e, positions: positions, segmentIds: segmentIds, cache: cache)
    }

    public func makeCache() -> KVCache { KVCache(layers: config.numHiddenLayers) }
}
