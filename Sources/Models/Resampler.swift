import Autograd
import Core
import NN

/// The perceiver resampler of MiniCPM-V 2.5/2.6 (FACTS §3): Q learned queries
/// attend over one slice's vision tokens, whose keys carry a 2-D sin-cos
/// position of their patch; the result is Q tokens of the LLM width.
public final class Resampler: Module {
    public let query: Parameter                                   // [Q, D]
    @Key("kv_proj") public var kvProj: Linear?                     // kv_dim → D, nil when equal
    public let attn: PackedMultiheadAttention
    @Key("ln_q") public var lnQ: LayerNorm
    @Key("ln_kv") public var lnKV: LayerNorm
    @Key("ln_post") public var lnPost: LayerNorm
    public let proj: Parameter                                    // [D, D], applied as x · proj
    public let config: ResamplerConfig

    public init(config c: ResamplerConfig) {
        config = c
        let d = c.embedDim, eps = Float(c.layerNormEps)
        query = Parameter(shape: [c.numQueries, d], initializer: .truncatedNormal(std: 0.02))
        _kvProj.wrappedValue = c.kvDim == d ? nil
            : Linear(c.kvDim, d, bias: false, weightInit: .truncatedNormal(std: 0.02))
        attn = PackedMultiheadAttention(dim: d, heads: c.numHeads, inProjInit: .xavierUniform(),
                                        outInit: .truncatedNormal(std: 0.02))
        _lnQ.wrappedValue = LayerNorm(d, eps: eps)
        _lnKV.wrappedValue = LayerNorm(d, eps: eps)
        _lnPost.wrappedValue = LayerNorm(d, eps: eps)
        proj = Parameter(shape: [d, d], initializer: .normal(std: 1 / Float(d).squareRoot()))
    }

    /// A start for training from scratch, where the vision encoder is not
    /// pretrained: query i looks at cell i of a grid laid over the nominal
    /// `patchGrid` × `patchGrid` patches (8 × 8 cells for 64 queries over 16 × 16
    /// patches). Each query becomes the 2-D sin-cos of its cell's centre, the key
    /// projection a copy of the query projection, and the query projection is
    /// scaled by `sharpness`, so a query's attention logits rise with the
    /// similarity of its cell's position to each key's (the query's layer norm
    /// tilts the peak by up to a cell). From random initial weights about half
    /// of a query's attention falls on the 4 × 4 patches around its cell
    /// (against 1/16 for the default start), so the vision tokens say what is
    /// where rather than one average of the image, and the language model can
    /// learn to read them before the vision side is trained.
    public func startSpatially(patchGrid: Int, sharpness: Float = 10) {
        let (q, d) = (config.numQueries, config.embedDim)
        let rows = (1...q).last { q % $0 == 0 && $0 * $0 <= q } ?? 1, cols = q / rows
        for i in 0..<q {
            let r = (Double(i / cols) + 0.5) * Double(patchGrid) / Double(rows) - 0.5
            let c = (Double(i % cols) + 0.5) * Double(patchGrid) / Double(cols) - 0.5
            (query.value.pointer + i * d).update(from: SinCosEmbedding.vector2D(dim: d, row: r, column: c), count: d)
        }
        let w = attn.inProjWeight.value.pointer                                   // [3D, D]: q, k, v rows
        (w + d * d).update(from: w, count: d * d)
        for j in 0..<(d * d) { w[j] *= sharpness }
    }

    /// x [N, maxL, kv_dim] (rows k ≥ h·w of slice n are padding and ignored),
    /// tgtSizes (h, w) per slice → [N, Q, D]
    public func callAsFunction(_ x: Tensor, tgtSizes: [(h: Int, w: Int)]) -> Tensor {
        let (n, l) = (x.shape[0], x.shape[1])
        let d = config.embedDim
        precondition(tgtSizes.count == n, "\(tgtSizes.count) sizes for \(n) slices")
        let kv = lnKV(kvProj.map { $0(x) } ?? x)                                   // [N, L, D]
        let q = lnQ(query.value).reshaped([1, config.numQueries, d])               // [1, Q, D]
        let queries = concat(Array(repeating: q, count: n), axis: 0)               // [N, Q, D]
        let positions = Resampler.keyPositions(tgtSizes: tgtSizes, length: l, dim: d)
        let keys = kv + positions                                                   // [N, L, D]
        let mask = AttentionMask(keyLengths: tgtSizes.map { $0.h * $0.w })
        let o = attn(query: queries, key: keys, value: config.positionInValues ? keys : kv, mask: mask)  // [N, Q, D]
        return matmul(lnPost(o), proj.value)                                      // [N, Q, D]
    }

    /// 2-D sin-cos of each slice's patches (row-major over its h×w grid), zero
    /// on padding rows: [N, length, D]. No gradient.
    static func keyPositions(tgtSizes: [(h: Int, w: Int)], length: Int, dim: Int) -> Tensor {
        let out = Tensor.zeros([tgtSizes.count, length, dim])
        var grids: [String: Tensor] = [:]
        for (i, s) in tgtSizes.enumerated() {
            precondition(s.h * s.w <= length, "slice \(s.h)×\(s.w) does not fit \(length) rows")
            let key = "\(s.h)x\(s.w)"
            let grid = grids[key] ?? SinCosEmbedding.grid2D(dim: dim, height: s.h, width: s.w)   // [h·w, D]
            grids[key] = grid
            (out.pointer + i * length * dim).update(from: grid.pointer, count: grid.count)
        }
        return out
    }
}
