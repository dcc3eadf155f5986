import Autograd
import Core
import NN

/// MiniCPM-V: vision tower → resampler → vision tokens replace the placeholder
/// token embeddings at the image bounds → LLM → logits and loss.
///
/// Parameter paths are the official ones: `vpm.*`, `resampler.*`,
/// `llm.model.*`, `llm.lm_head.weight`; freezing a part is
/// `setTrainable(false, prefix: "vpm")`.
public final class MiniCPMV: Module {
    public let vpm: VisionTransformer
    public let resampler: Resampler
    public let llm: LanguageModel
    public let config: MiniCPMVConfig

    /// Recompute every vision and decoder layer in backward instead of keeping its activations.
    public var recomputeLayers: Bool {
        get { llm.recomputeLayers }
        set { llm.recomputeLayers = newValue; vpm.recomputeLayers = newValue }
    }

    /// A model with parameters drawn from `seed` (each parameter from its own
    /// stream derived from the seed's "init" stream and its path).
    /// - bf16: the weights (of linear layers and embedding tables) to freeze and
    ///   keep in bfloat16, each narrowed as soon as it is filled.
    /// - initialize: false leaves the weights at zero without writing them (the
    ///   pages of large ones are never committed): the shapes alone, for planning.
    public init(config: MiniCPMVConfig, seed: UInt64 = 0, bf16: ((String) -> Bool)? = nil, initialize: Bool = true) {
        self.config = config
        vpm = VisionTransformer(config: config.vision, dropLastLayer: config.dropVisionLastLayer)
        resampler = Resampler(config: config.resampler)
        llm = LanguageModel(config: config.llm)
        super.init()
        guard initialize else { return }
        self.initialize(seed: seed, bf16: bf16)
    }

    /// Draws the parameters `include` selects from `seed`, each exactly as `init`
    /// would; the others keep their values (a model about to be loaded: the
    /// parameters its weights files do not hold). `bf16` as in `init`.
    public func initialize(seed: UInt64, bf16: ((String) -> Bool)? = nil, where include: (String) -> Bool = { _ in true }) {
        initializeParameters(rng: RNG(seed: seed).derived("init"), bf16: bf16, where: include)
        if include("resampler.query") {
            resampler.startSpatially(patchGrid: config.vision.imageSize / config.vision.patchSize)
        }
    }

    /// Vision tokens of every slice: [N, Q, D].
    public func visionTokens(pixels: Tensor, tgtSizes: [(h: Int, w: Int)]) -> Tensor {
        resampler(vpm(pixels, tgtSizes: tgtSizes), tgtSizes: tgtSizes)
    }

    /// Token embeddings with the vision tokens spliced in: [B, T, D].
    public func inputEmbeddings(_ input: MiniCPMVInput) -> Tensor {
        let d = config.llm.hiddenSize
        var e = llm.embed(input.inputIds)                                            // [B·T, D]
        if let pixels = input.pixelValues, !input.imageBounds.isEmpty {
            let v = visionTokens(pixels: pixels, tgtSizes: input.tgtSizes)          // [N, Q, D]
            let rows = input.imageBounds.flatMap { Array($0) }
            e = e.scatteringRows(at: rows, from: v.reshaped([rows.count, d]))
        }
        return e.reshaped([input.batch, input.seqLen, d])
    }

    /// Logits [B·T, V], the summed cross-entropy of the labelled tokens and
    /// their count (callers normalise by the tokens of the whole accumulated batch).
    public func forward(_ input: MiniCPMVInput) throws -> (logits: Tensor, lossSum: Tensor, tokens: Int) {
        try input.validate(for: config)
        let logits = llm(embeddings: inputEmbeddings(input), positions: input.positionIds,
                         segmentIds: input.segmentIds)
            .reshaped([input.batch * input.seqLen, config.llm.vocabSize])
        let (loss, count) = crossEntropy(logits, targets: input.labels)
        return (logits, loss, count)
    }

    /// The summed cross-entropy of the labelled tokens and their count, for
    /// training: the LM head (and the last layer's output projection and MLP)
    /// runs only on positions that carry a label (image tokens, prompts and
    /// padding have none), which saves most of its cost on instruction data.
    /// Same value and gradients as `forward`.
    public func loss(_ input: MiniCPMVInput) throws -> (lossSum: Tensor, tokens: Int) {
        let (logits, rows) = try labelledLogits(input)
        let (loss, count) = crossEntropy(logits, targets: rows.map { input.labels[Int($0)] })
        return (loss, count)
    }

    /// Logits [n, V] of the n labelled positions, and those positions (into B·T).
    func labelledLogits(_ input: MiniCPMVInput) throws -> (logits: Tensor, rows: [Int32]) {
        try input.validate(for: config)
        let rows = input.labels.indices.filter { input.labels[$0] != ignoreIndex }.map { Int32($0) }
        let hidden = llm.hiddenStates(embeddings: inputEmbeddings(input), positions: input.positionIds,
                                      segmentIds: input.segmentIds, keeping: rows)      // [n, D]
        return (llm.logits(hidden: hidden), rows)                                       // [n, V]
    }

    /// Summed log-probabilities of the labelled tokens of each sequence (a packed
    /// sample, or a row without segment ids), for preference losses.
    public func sequenceLogProbs(_ input: MiniCPMVInput) throws -> SequenceLogProbs {
        let n = input.batch * input.seqLen
        let (logits, rows) = try labelledLogits(input)
        let selected = selectedLogProbs(logits, targets: rows.map { input.labels[Int($0)] })    // [n]
        let perToken = Tensor.zeros([n, 1])
            .scatteringRows(at: rows.map { Int($0) }, from: selected.reshaped([rows.count, 1]))
            .reshaped([n])                                                              // [B·T], 0 where unlabelled
        return SequenceLogProbs.summing(perToken, labels: input.labels, batch: input.batch,
                                        seqLen: input.seqLen, segmentIds: input.segmentIds)
    }
}

/// Per-sequence sums of token log-probabilities.
public struct SequenceLogProbs {
    /// [S]: Σ log p(label) over each sequence's labelled tokens (differentiable).
    public let sums: Tensor
    /// Labelled tokens per sequence.
    public let tokenCounts: [Int]
    /// Row and segment id of each sequence, in order of appearance.
    public let rows: [Int]
    public let segmentIds: [Int32]

    /// Groups [B·T] per-token values into sequences: runs of equal segment ids
    /// within a row (the whole row when `segmentIds` is nil).
    public static func summing(_ perToken: Tensor, labels: [Int32], batch: Int, seqLen: Int,
                               segmentIds: [Int32]?) -> SequenceLogProbs {
        var starts: [Int] = [], rows: [Int] = [], ids: [Int32] = []
        for b in 0..<batch {
            for t in 0..<seqLen {
                let i = b * seqLen + t
                let id = segmentIds?[i] ?? 0
                if t == 0 || id != (segmentIds?[i - 1] ?? 0) { starts.append(i); rows.append(b); ids.append(id) }
            }
        }
        let s = starts.count, n = batch * seqLen
        // Sum by a [S, B·T] indicator matmul: one differentiable op, no per-sequence slices.
        let indicator = Tensor.zeros([s, n])
        var counts = [Int](repeating: 0, count: s)
        for k in 0..<s {
            let end = k + 1 < s ? starts[k + 1] : n
            for i in starts[k]..<end where labels[i] != ignoreIndex {
                indicator.pointer[k * n + i] = 1
                counts[k] += 1
            }
        }
        let sums = matmul(indicator, perToken.reshaped([n, 1])).reshaped([s])
        return SequenceLogProbs(sums: sums, tokenCounts: counts, rows: rows, segmentIds: ids)
    }
}
