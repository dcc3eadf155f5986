import Autograd
import Core
import Models

/// The model shapes and batch layout of one `trainer bench --preset` run.
///
/// The shapes are fixed here (not read from Recipes/models) so that anyone can
/// build the same model elsewhere; bench/torch_reference.py builds exactly these
/// from PyTorch and Hugging Face modules.
///
/// Batch layout: `rows` rows of `seqLen` tokens, each holding `samplesPerRow`
/// packed samples of seqLen / samplesPerRow tokens. Position ids restart at 0
/// for every sample and attention stays within it (segment ids). Each sample
/// has one unsliced image; its `queryNum` vision tokens start at sample offset
/// `imageOffset` (after `<image>`), followed by `</image>`. Every token but the
/// image tokens carries a (random) label.
public struct BenchmarkPreset {
    public let name: String
    public let config: MiniCPMVConfig
    public let rows: Int
    public let seqLen: Int
    public let samplesPerRow: Int
    /// Images (slices) in each sample, one after the other from `imageOffset`.
    public var imagesPerSample = 1
    /// Patches per image side (each image is one square slice).
    public var patchesPerSide: Int

    public init(name: String, config: MiniCPMVConfig, rows: Int, seqLen: Int, samplesPerRow: Int,
         imagesPerSample: Int = 1, patchesPerSide: Int? = nil) {
        self.name = name; self.config = config; self.rows = rows; self.seqLen = seqLen
        self.samplesPerRow = samplesPerRow; self.imagesPerSample = imagesPerSample
        self.patchesPerSide = patchesPerSide ?? config.vision.imageSize / config.vision.patchSize
    }

    /// Where a sample's vision tokens start (`<image>` sits just before).
    public static let imageOffset = 2
    static let unkId: Int32 = 0, imageStartId: Int32 = 1, imageEndId: Int32 = 2

    public static let names = ["tiny", "small", "minicpm-v-2", "minicpm-v-2_6"]

    /// The named preset; `seqLen` overrides the row length (for quick tests).
    /// The real-size presets take their shapes from `Recipes/models/NAME.yaml`
    /// (under `modelDirectory`): one sample of 10 slices of 448 px (640 vision
    /// tokens) and 512 text tokens, random weights.
    public static func named(_ name: String, seqLen: Int? = nil, modelDirectory: String = "Recipes/models") throws -> BenchmarkPreset {
        let preset: BenchmarkPreset
        switch name {
        case "tiny": preset = tiny
        case "small": preset = small
        case "minicpm-v-2", "minicpm-v-2_6":
            let config = try MiniCPMVConfig.preset(name, directory: modelDirectory)
            preset = BenchmarkPreset(name: name, config: config, rows: 1, seqLen: 10 * config.queryNum + 512,
                                     samplesPerRow: 1, imagesPerSample: 10, patchesPerSide: 448 / config.vision.patchSize)
        default:
            throw UsageError("benchmark", "no benchmark preset named '\(name)' (known: \(names.joined(separator: ", ")))")
        }
        guard let seqLen else { return preset }
        let minimum = preset.samplesPerRow * (imageOffset + preset.imagesPerSample * (preset.config.queryNum + 2))
        guard seqLen >= minimum, seqLen % preset.samplesPerRow == 0 else {
            throw UsageError("benchmark", "sequence length \(seqLen) must be a multiple of \(preset.samplesPerRow) and at least \(minimum) (\(preset.samplesPerRow) samples of \(preset.config.queryNum) image tokens)")
        }
        return BenchmarkPreset(name: preset.name, config: preset.config, rows: preset.rows, seqLen: seqLen,
                               samplesPerRow: preset.samplesPerRow, imagesPerSample: preset.imagesPerSample,
                               patchesPerSide: preset.patchesPerSide)
    }

    /// Vision 192 × 4 layers (3 heads, MLP 768, 224 px = 16×16 patches); resampler
    /// 64 queries of 256 (2 heads); Qwen2 256 × 4 layers (4 heads, 2 KV heads, MLP 688,
    /// vocab 4096); 2 rows of 512 tokens, 2 samples per row.
    public static let tiny = BenchmarkPreset(
        name: "tiny",
        config: makeConfig(vision: VisionConfig(hiddenSize: 192, intermediateSize: 768, numHiddenLayers: 4,
                                                numAttentionHeads: 3, patchSize: 14, imageSize: 224),
                           resamplerHeads: 2,
                           llm: LanguageModelConfig(modelType: .qwen2, vocabSize: 4096, hiddenSize: 256,
                                                    intermediateSize: 688, numHiddenLayers: 4, numAttentionHeads: 4,
                                                    numKeyValueHeads: 2, ropeTheta: 1e6)),
        rows: 2, seqLen: 512, samplesPerRow: 2)

    /// Vision 384 × 8 layers (6 heads, MLP 1536, 448 px = 32×32 patches); resampler
    /// 64 queries of 768 (6 heads); Qwen2 768 × 12 layers (12 heads, 4 KV heads, MLP
    /// 2048, vocab 16384); 1 row of 1024 tokens, 2 samples.
    public static let small = BenchmarkPreset(
        name: "small",
        config: makeConfig(vision: VisionConfig(hiddenSize: 384, intermediateSize: 1536, numHiddenLayers: 8,
                                                numAttentionHeads: 6, patchSize: 14, imageSize: 448),
                           resamplerHeads: 6,
                           llm: LanguageModelConfig(modelType: .qwen2, vocabSize: 16384, hiddenSize: 768,
                                                    intermediateSize: 2048, numHiddenLayers: 12, numAttentionHeads: 12,
                                                    numKeyValueHeads: 4, ropeTheta: 1e6)),
        rows: 1, seqLen: 1024, samplesPerRow: 2)

    private static func makeConfig(vision: VisionConfig, resamplerHeads: Int, llm: LanguageModelConfig) -> MiniCPMVConfig {
        let queries = 64
        return MiniCPMVConfig(
            version: "2.6", queryNum: queries, vision: vision,
            resampler: ResamplerConfig(numQueries: queries, embedDim: llm.hiddenSize, numHeads: resamplerHeads,
                                       kvDim: vision.hiddenSize),
            llm: llm, sliceConfig: SliceConfig(patchSize: vision.patchSize),
            specialTokenIds: ["<unk>": Int(unkId), "<image>": Int(imageStartId), "</image>": Int(imageEndId)])
    }

    /// The presets of real models (shapes from Recipes/models).
    public var isRealSize: Bool { name.hasPrefix("minicpm") }

    public var imageCount: Int { rows * samplesPerRow * imagesPerSample }
    public var tokenCount: Int { rows * seqLen }
    public var sampleLength: Int { seqLen / samplesPerRow }

    /// Matmul FLOPs of one training step, counted from the shapes.
    ///
    /// The same formula is in bench/torch_reference.py (`matmul_flops`), so both
    /// frameworks report the same work. Forward FLOPs of every matmul-shaped op,
    /// 2·m·n·k each, times 3 (forward + backward, whose dX and dW products cost
    /// twice the forward):
    ///
    /// - vision, per image of L patches, width D, MLP F, per layer:
    ///   8·L·D² (q, k, v, out) + 4·L·D·F (fc1, fc2) + 4·L²·D (QKᵀ, PV);
    ///   plus the patch embedding 2·L·(3·P²)·D
    /// - resampler, per image, Q queries of width E over L keys of width D:
    ///   2·L·D·E (kv_proj, when D ≠ E) + 2·Q·E² (q) + 4·L·E² (k, v) + 4·Q·L·E (attention) + 4·Q·E² (out_proj, proj)
    /// - LLM, T tokens, width D, H heads, Hkv KV heads, head dim Dh, MLP F, vocab V, per layer:
    ///   4·T·D·H·Dh (q, o) + 4·T·D·Hkv·Dh (k, v) + 6·T·D·F (gate, up, down)
    ///   + Σ over samples 4·S²·H·Dh (QKᵀ, PV over each sample's S × S block; the
    ///   causal half is not subtracted); plus the lm_head 2·T·D·V
    public var matmulFLOPs: Double {
        let v = config.vision, r = config.resampler, l = config.llm
        let patches = Double(patchesPerSide * patchesPerSide)
        let (d, f) = (Double(v.hiddenSize), Double(v.intermediateSize))
        let p = Double(v.patchSize)
        let vision = 2 * patches * 3 * p * p * d
            + Double(config.visionLayers) * (8 * patches * d * d + 4 * patches * d * f + 4 * patches * patches * d)
        let (q, e) = (Double(r.numQueries), Double(r.embedDim))
        let resampler = (r.kvDim != r.embedDim ? 2 * patches * d * e : 0) + 2 * q * e * e + 4 * patches * e * e
            + 4 * q * patches * e + 4 * q * e * e
        let t = Double(tokenCount), s = Double(sampleLength)
        let (dl, h, hkv, dh) = (Double(l.hiddenSize), Double(l.numAttentionHeads), Double(l.numKeyValueHeads),
                                Double(l.headDim))
        let perLayer = 4 * t * dl * h * dh + 4 * t * dl * hkv * dh + 6 * t * dl * Double(l.intermediateSize)
            + Double(rows * samplesPerRow) * 4 * s * s * h * dh
        let llm = Double(l.numHiddenLayers) * perLayer + 2 * t * dl * Double(l.vocabSize)
        return 3 * (Double(imageCount) * (vision + resampler) + llm)
    }

    /// Random pixels, ids and labels in the preset's packing layout.
    public func makeInput(rng: inout RNG) -> MiniCPMVInput {
        let q = config.queryNum, side = patchesPerSide, p = config.vision.patchSize
        let vocab = config.llm.vocabSize, n = tokenCount
        var ids = (0..<n).map { _ in Int32(3 + rng.below(vocab - 3)) }
        var labels = (0..<n).map { _ in Int32(3 + rng.below(vocab - 3)) }
        var positions = [Int32](repeating: 0, count: n), segments = [Int32](repeating: 0, count: n)
        var bounds: [Range<Int>] = []
        for b in 0..<rows {
            for s in 0..<samplesPerRow {
                let start = b * seqLen + s * sampleLength
                for t in 0..<sampleLength {
                    positions[start + t] = Int32(t)
                    segments[start + t] = Int32(s)
                }
                for i in 0..<imagesPerSample {
                    let first = start + Self.imageOffset + i * (q + 2)
                    let image = first..<(first + q)
                    ids[image.lowerBound - 1] = Self.imageStartId
                    ids[image.upperBound] = Self.imageEndId
                    for t in image { ids[t] = Self.unkId; labels[t] = ignoreIndex }
                    bounds.append(image)
                }
            }
        }
        let strip = [imageCount, config.vision.numChannels, p, side * side * p]          // [N, 3, P, L·P]
        return MiniCPMVInput(inputIds: ids, labels: labels, positionIds: positions, segmentIds: segments,
                             batch: rows, seqLen: seqLen, pixelValues: Tensor.uniform(strip, low: -1, high: 1, rng: &rng),
                             tgtSizes: Array(repeating: (h: side, w: side), count: imageCount), imageBounds: bounds)
    }
}

/// A benchmark that cannot run as asked (unknown preset, bad sizes).

