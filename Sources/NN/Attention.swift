import Autograd
import Core

/// Keys and values of the tokens seen so far, for one attention layer
/// (generation: prefill once, then one token at a time).
public final class AttentionCache {
    /// [B, Tk, Hkv, Dh], after rotary embedding.
    public private(set) var keys: Tensor?
    /// [B, Tk, Hkv, Dh]
    public private(set) var values: Tensor?

    public init() {}

    /// Number of cached tokens.
    public var length: Int { keys?.shape[1] ?? 0 }

    /// Appends new keys/values [B, Tnew, Hkv, Dh] and returns all of them.
    func append(_ k: Tensor, _ v: Tensor) -> (Tensor, Tensor) {
        let allK = keys.map { concat([$0, k.detached()], axis: 1) } ?? k.detached()
        let allV = values.map { concat([$0, v.detached()], axis: 1) } ?? v.detached()
        keys = allK
        values = allV
        return (allK, allV)
    }

    public func reset() { keys = nil; values = nil }
}

/// Multi-head attention with separate q/k/v/output projections: self- or
/// cross-attention, grouped-query (Hkv divides H; Hkv = 1 is multi-query),
/// optional rotary embedding, masks described by `AttentionMask`.
///
/// Tensors stay in the [B, T, H, Dh] layout the attention op takes, so heads
/// are split and merged by free reshapes, never by permute copies.
public final class Attention: Module {
    @Key("q_proj") public var qProj: Linear
    @Key("k_proj") public var kProj: Linear
    @Key("v_proj") public var vProj: Linear
    /// `o_proj` (Llama/Qwen2) or `out_proj` (SigLIP), chosen at init.
    @Key("o_proj") public var outProj: Linear
    public let heads: Int
    public let kvHeads: Int
    public let headDim: Int

    /// - dim: model width; contextDim: width of the key/value input (cross-attention).
    public init(dim: Int, heads: Int, kvHeads: Int? = nil, headDim: Int? = nil, contextDim: Int? = nil,
                qkvBias: Bool, outBias: Bool, outputKey: String = "o_proj",
                weightInit: Initializer = .normal(std: 0.02)) {
        let kvHeads = kvHeads ?? heads
        let headDim = headDim ?? dim / heads
        precondition(heads % kvHeads == 0, "\(heads) heads do not split into \(kvHeads) key/value heads")
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        let kvIn = contextDim ?? dim
        _qProj.wrappedValue = Linear(dim, heads * headDim, bias: qkvBias, weightInit: weightInit)
        _kProj.wrappedValue = Linear(kvIn, kvHeads * headDim, bias: qkvBias, weightInit: weightInit)
        _vProj.wrappedValue = Linear(kvIn, kvHeads * headDim, bias: qkvBias, weightInit: weightInit)
        _outProj = Key(wrappedValue: Linear(heads * headDim, dim, bias: outBias, weightInit: weightInit), outputKey)
    }

    /// x [B, T, D] → [B, T, D].
    ///
    /// - context: keys/values input [B, Tk, Dk] for cross-attention (nil: self-attention).
    /// - rotary/positions: rotary embedding of q and k, positions B·T row-major.
    /// - cache: keys/values of earlier tokens; this call's are appended to it.
    public func callAsFunction(_ x: Tensor, context: Tensor? = nil, mask: AttentionMask = AttentionMask(),
                               rotary: RotaryEmbedding? = nil, positions: [Int32]? = nil,
                               cache: AttentionCache? = nil) -> Tensor {
        outProj(attendedHeads(x, context: context, mask: mask, rotary: rotary, positions: positions, cache: cache))
    }

    /// The attended heads before the output projection, merged: x [B, T, D] →
    /// [B, T, H·Dh]. For callers that project only some rows (`outProj` then
    /// runs on those alone); the arguments are those of `callAsFunction`.
    public func attendedHeads(_ x: Tensor, context: Tensor? = nil, mask: AttentionMask = AttentionMask(),
                              rotary: RotaryEmbedding? = nil, positions: [Int32]? = nil,
                              cache: AttentionCache? = nil) -> Tensor {
        let (b, t) = (x.shape[0], x.shape[1])
        let source = context ?? x
        let tk = source.shape[1]
        var q = qProj(x).reshaped([b, t, heads, headDim])                 // [B, T, H, Dh]
        var k = kProj(source).reshaped([b, tk, kvHeads, headDim])         // [B, Tk, Hkv, Dh]
        var v = vProj(source).reshaped([b, tk, kvHeads, headDim])         // [B, Tk, Hkv, Dh]
        if let rotary {
            guard let positions else { preconditionFailure("rotary embedding needs positions") }
            q = rotary(q, positions: positions)
            k = rotary(k, positions: positions)
        }
        if let cache { (k, v) = cache.append(k, v) }
        let o = scaledDotProductAttention(q, k, v, mask: mask)            // [B, T, H, Dh]
        return o.reshaped([b, t, heads * headDim])
    }
}

/// torch.nn.MultiheadAttention: packed `in_proj_weight` [3D, D] (rows q, k, v),
/// `in_proj_bias` [3D], `out_proj`; heads are contiguous D/H slices.
public final class PackedMultiheadAttention: Module {
    @Key("in_proj_weight") public var inProjWeight: Parameter
    @Key("in_proj_bias") public var inProjBias: Parameter
    @Key("out_proj") public var outProj: Linear
    public let dim: Int
    public let heads: Int

    public init(dim: Int, heads: Int, inProjInit: Initializer = .xavierUniform(),
                outInit: Initializer = .normal(std: 0.02)) {
        precondition(heads > 0 && dim % heads == 0, "embed dim \(dim) does not split into \(heads) heads")
        self.dim = dim
        self.heads = heads
        _inProjWeight.wrappedValue = Parameter(shape: [3 * dim, dim], initializer: inProjInit)
        _inProjBias.wrappedValue = Parameter(shape: [3 * dim], initializer: .zeros)
        _outProj.wrappedValue = Linear(dim, dim, weightInit: outInit)
    }

    /// query [B, Tq, D], key/value [B, Tk, D] → [B, Tq, D]. `mask.keyLengths`
    /// is the key padding mask (keys at index ≥ length are ignored).
    public func callAsFunction(query: Tensor, key: Tensor, value: Tensor,
                               mask: AttentionMask = AttentionMask()) -> Tensor {
        let (b, tq, tk) = (query.shape[0], query.shape[1], key.shape[1])
        let dh = dim / heads
        let w = inProjWeight.value.split([dim, dim, dim], axis: 0)          // 3 × [D, D]
        let bias = inProjBias.value.split([dim, dim, dim], axis: 0)         // 3 × [D]
        let q = linear(query, w[0], bias[0]).reshaped([b, tq, heads, dh])
        let k = linear(key, w[1], bias[1]).reshaped([b, tk, heads, dh])
        let v = linear(value, w[2], bias[2]).reshaped([b, tk, heads, dh])
        let o = scaledDotProductAttention(q, k, v, mask: mask)             // [B, Tq, H, Dh]
        return outProj(o.reshaped([b, tq, dim]))
    }
}
