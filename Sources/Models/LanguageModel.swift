import Autograd
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
        let h1 = h + (residualScale == 1 ? a : a * residualScale)
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
        precondition(embeddings.rank == 3 && embeddings.shape[2] == config.hiddenSize,
                     "LLM input \(embeddings.shape), hidden size \(config.hiddenSize)")
        precondition(positions.count == embeddings.shape[0] * embeddings.shape[1],
                     "\(positions.count) positions for \(embeddings.shape)")
        precondition(cache == nil || segmentIds == nil, "a KV cache cannot be combined with packing")
        let mask = AttentionMask(causal: true, segmentIds: segmentIds)
        var h = embeddings
        for (i, layer) in model.layers.enumerated() {
            h = layer(h, mask: mask, rotary: rotary, positions: positions, residualScale: config.residualScale,
                      cache: cache?.layers[i])
        }
        return model.norm(h)
    }

    /// hidden [..., D] → logits [..., V] (MiniCPM divides by hidden/dim_model_base first).
    public func logits(hidden: Tensor) -> Tensor {
        let divisor = config.logitDivisor
        let h = divisor == 1 ? hidden : hidden * (1 / divisor)
        if let lmHead { return lmHead(h) }
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
