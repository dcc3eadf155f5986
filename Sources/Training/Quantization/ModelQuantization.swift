import Autograd
import Checkpointing
import Datasets
import Foundation
import Models
import NN

public enum QuantizationMethod: String, CaseIterable {
    /// GPTQ on calibration inputs.
    case gptq
    /// Round-to-nearest, the baseline.
    case rtn
    /// llama.cpp's GGUF block roundings (groups of 32; `--bits` and `--group-size` do not apply):
    /// what a Q4_0 or Q8_0 file holds for these weights. Weights whose rows are not whole
    /// blocks stay float32, as the GGUF export writes them F16.
    case q4_0
    case q8_0

    public var blockType: GGMLType? { self == .q4_0 ? .q4_0 : self == .q8_0 ? .q8_0 : nil }
}

public struct QuantizationOptions {
    public var bits = 4
    public var groupSize = 128
    public var actOrder = false
    public var method = QuantizationMethod.gptq
    /// Calibration records used (the first ones of the file).
    public var samples = 256
    public var blockSize = 128
    public var relativeDampening: Float = 0.01
    public var log: (String) -> Void = { _ in }
    public init() {}
}

public struct QuantizationReport {
    public var matrices = 0
    public var quantizedParameters = 0
    public var floatParameters = 0
    public var calibrationSamples = 0
    public var calibrationTokens = 0
    /// Wall time of the quantization (calibration forwards included, loading and writing not).
    public var seconds = 0.0
    /// Layers whose dampening had to be raised above 1 % of the mean diagonal.
    public var raisedDampening: [String] = []
    public var deadColumns = 0
    /// ‖W − Ŵ‖ / ‖W‖ over all quantized weights.
    public var relativeError = 0.0

    public var summary: String {
        var s = String(format: "%d matrices (%d parameters) quantized, %d parameters kept in float32, relative weight error %.4f, %.1f s",
                       matrices, quantizedParameters, floatParameters, relativeError, seconds)
        if calibrationSamples > 0 { s += "; calibration: \(calibrationSamples) samples, \(calibrationTokens) tokens" }
        if deadColumns > 0 { s += "; \(deadColumns) dead input columns" }
        if !raisedDampening.isEmpty { s += "; dampening raised for \(raisedDampening.joined(separator: ", "))" }
        return s
    }
}

/// `trainer quantize`: the LLM's linear layers of a checkpoint (attention q/k/v/o and
/// the MLP's gate/up/down in every decoder layer) to b-bit codes with group-wise
/// scales and zeros. Embeddings, norms, biases, the LM head, the vision tower and
/// the resampler stay float32.
///
/// GPTQ runs layer by layer, as in the paper: the calibration samples' input
/// embeddings (vision tokens spliced in) are computed once; then each decoder
/// layer runs on the residual stream of the layers before it (already quantized).
/// Inside a layer the linears go in four stages, in the order the layer uses them
/// (q/k/v, o, gate/up, down; "true sequential"): the layer runs on the calibration
/// stream, the stage's linears gather H from their inputs (padding positions left
/// out) and are quantized, so the next stage sees their quantized outputs. The
/// quantized layer runs once more to give the next layer its inputs.
public enum ModelQuantization {
    public static func run(checkpoint: String, calibration: String?, out: String,
                           options: QuantizationOptions) throws -> QuantizationReport {
        let settings = try QuantizationSettings(bits: options.bits, groupSize: options.groupSize)
        if options.method == .gptq && calibration == nil {
            throw UsageError("quantize", "GPTQ needs --calibration DATA (or --method rtn)")
        }
        let source = try ModelStore.open(checkpoint)
        defer { source.close() }
        if try QuantizedWeights.readInfo(from: source) != nil {
            throw CheckpointError(file: checkpoint, message: "is already quantized; quantize the float checkpoint it came from")
        }
        guard source.exists(ModelCheckpoint.configDataset), source.exists(ModelCheckpoint.modelGroup) else {
            throw CheckpointError(file: checkpoint, message: "is not a model checkpoint (no /config and /model)")
        }
        let generator = try Generator(checkpoint: checkpoint)
        let model = generator.model
        var report = QuantizationReport()
        let start = Date()

        var batches: [CalibrationBatch] = []
        if options.method == .gptq {
            batches = try calibrationBatches(calibration!, generator: generator, limit: options.samples, report: &report)
            options.log("calibration: \(report.calibrationSamples) samples, \(report.calibrationTokens) tokens in \(batches.count) batches "
                        + "(\(String(format: "%.1f", Date().timeIntervalSince(start))) s)")
        }

        var matrices: [String: QuantizedMatrix] = [:]
        var errorSquares = 0.0, weightSquares = 0.0
        for (l, layer) in model.llm.model.layers.enumerated() {
            let linears = Self.linears(of: layer, index: l)
            /// Puts Ŵ in place of W, counting the weights and their error.
            func apply(_ name: String, _ linear: Linear, _ q: [Float]) {
                let w = linear.weight.value.scalars
                for k in w.indices { errorSquares += Double((w[k] - q[k]) * (w[k] - q[k])); weightSquares += Double(w[k] * w[k]) }
                q.withUnsafeBufferPointer { linear.weight.assign($0) }
                report.matrices += 1; report.quantizedParameters += w.count
            }
            switch options.method {
            case .rtn:
                for (name, linear) in linears {
                    let m = RoundToNearest.quantize(linear.weight.value.scalars, rows: linear.outFeatures,
                                                    columns: linear.inFeatures, settings: settings)
                    matrices[name] = m
                    apply(name, linear, m.dequantized())
                }
            case .q4_0, .q8_0:
                for (name, linear) in linears where linear.inFeatures % GGMLType.blockValues == 0 {
                    let m = GGMLBlockRounding.quantize(linear.weight.value.scalars, rows: linear.outFeatures,
                                                      columns: linear.inFeatures, type: options.method.blockType!)
                    matrices[name] = m
                    apply(name, linear, m.dequantized())
                }
            case .gptq:
                // In the order the layer uses them: each stage's inputs come from the stages before, quantized.
                for stage in [0..<3, 3..<4, 4..<6, 6..<7] {
                    let part = Array(linears[stage])
                    let gptq = hessians(part, layer: l, batches: batches, llm: model.llm)
                    for (name, linear) in part {
                        let h = gptq[name]!
                        let r = try h.quantize(linear.weight.value.scalars, settings: settings, actOrder: options.actOrder,
                                               blockSize: options.blockSize, relativeDampening: options.relativeDampening)
                        matrices[name] = r.matrix
                        report.deadColumns += r.deadColumns
                        let n = linear.inFeatures
                        let diagonalMean = (0..<n).reduce(Float(0)) { $0 + h.hessian[$1 * n + $1] } / Float(n)
                        if r.dampening > options.relativeDampening * diagonalMean * 1.0001 { report.raisedDampening.append(name) }
                        apply(name, linear, r.weight)
                    }
                }
            }
            // The next layer is measured on what this quantized layer gives.
            noGrad {
                for k in batches.indices {
                    batches[k].stream = model.llm.decoderLayer(l, batches[k].stream, positions: batches[k].positions,
                                                               segmentIds: batches[k].segmentIds)
                }
            }
            options.log("layer \(l + 1)/\(model.llm.model.layers.count) quantized (\(String(format: "%.1f", Date().timeIntervalSince(start))) s)")
        }
        report.seconds = Date().timeIntervalSince(start)
        report.relativeError = weightSquares > 0 ? (errorSquares / weightSquares).squareRoot() : 0
        report.floatParameters = model.parameterCount - report.quantizedParameters

        let blocks = options.method.blockType
        let info = QuantizationInfo(method: options.method.rawValue, bits: blocks.map { $0 == .q4_0 ? 4 : 8 } ?? settings.bits,
                                    groupSize: blocks == nil ? settings.groupSize : GGMLType.blockValues,
                                    actOrder: options.method == .gptq && options.actOrder,
                                    calibrationSamples: report.calibrationSamples,
                                    calibrationTokens: report.calibrationTokens, source: checkpoint)
        let configJSON = try loadModelConfigJSON(from: source)
        let recipe = source.exists("recipe/text") ? try source.readString("recipe/text") : nil
        let recipeHash = source.exists("recipe/hash") ? try source.readString("recipe/hash") : nil
        try ModelStore.writeAtomically(out) { file in
            for (path, p) in model.namedParameters() where matrices[path] == nil {
                try file.write("\(ModelCheckpoint.modelGroup)/\(path)", floats: p.value.scalars, shape: p.shape)
            }
            try file.write(ModelCheckpoint.configDataset, string: configJSON)
            if let recipe { try file.write("recipe/text", string: recipe) }
            if let recipeHash { try file.write("recipe/hash", string: recipeHash) }
            try QuantizedWeights.write(matrices, info: info, to: file)
        }
        return report
    }

    /// The seven linear layers of a decoder layer by parameter path.
    static func linears(of layer: DecoderLayer, index l: Int) -> [(String, Linear)] {
        let a = layer.attention, m = layer.mlp, p = "llm.model.layers.\(l)"
        return [("\(p).self_attn.q_proj.weight", a.qProj), ("\(p).self_attn.k_proj.weight", a.kProj),
                ("\(p).self_attn.v_proj.weight", a.vProj), ("\(p).self_attn.o_proj.weight", a.outProj),
                ("\(p).mlp.gate_proj.weight", m.gate), ("\(p).mlp.up_proj.weight", m.up),
                ("\(p).mlp.down_proj.weight", m.down)]
    }

    /// One calibration batch as the LLM sees it.
    struct CalibrationBatch {
        /// The residual stream entering the layer being quantized: [1, T, D].
        var stream: Tensor
        var positions: [Int32]
        var segmentIds: [Int32]
        /// Rows (into B·T) that hold a token, not padding.
        var tokenRows: [Int]
    }

    /// The input embeddings of the first `limit` records' samples, packed as for evaluation.
    static func calibrationBatches(_ path: String, generator: Generator, limit: Int,
                                   report: inout QuantizationReport) throws -> [CalibrationBatch] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw RecipeError(file: path, line: nil, message: "calibration data not found")
        }
        let records = try readRecords(URL(fileURLWithPath: path))
        var samples: [TrainingSample] = []
        for r in records where samples.count < limit {
            do { samples += try generator.builder.samples(r) } catch is ImageError { continue }
        }
        guard !samples.isEmpty else {
            throw RecipeError(file: path, line: nil, message: "no calibration sample could be built from the file")
        }
        let maxLength = min(max(samples.map(\.length).max()!, 64), generator.model.config.llm.maxPositionEmbeddings)
        let loader = try DataLoader(source: InMemorySamples(samples),
                                    config: DataLoaderConfig(maxLength: maxLength, batch: .rows(1), seed: 0, shuffle: false))
        var out: [CalibrationBatch] = []
        try noGrad {
            for _ in 0..<loader.epochPlan().batches {
                let b = try loader.next()
                let input = modelInput(b)
                try input.validate(for: generator.model.config)
                let rows = b.segmentIds.indices.filter { b.segmentIds[$0] >= 0 }
                out.append(CalibrationBatch(stream: generator.model.inputEmbeddings(input).detached(),
                                            positions: input.positionIds, segmentIds: b.segmentIds, tokenRows: rows))
                report.calibrationTokens += rows.count
            }
        }
        report.calibrationSamples = samples.count
        return out
    }

    /// H of every linear of decoder layer `layer`, from that layer run on the calibration batches' streams.
    static func hessians(_ linears: [(String, Linear)], layer: Int, batches: [CalibrationBatch],
                         llm: LanguageModel) -> [String: GPTQ] {
        var gptq: [String: GPTQ] = [:]
        for (name, linear) in linears { gptq[name] = GPTQ(rows: linear.outFeatures, columns: linear.inFeatures) }
        var rows: [Int] = []
        for (name, linear) in linears {
            linear.inputObserver = { x in
                let d = x.shape[x.rank - 1], all = x.count / d
                if rows.count == all {
                    gptq[name]!.addInputs(x.pointer, count: all)
                } else {
                    var kept = [Float](repeating: 0, count: rows.count * d)
                    for (k, r) in rows.enumerated() where r < all {
                        for j in 0..<d { kept[k * d + j] = x.pointer[r * d + j] }
                    }
                    kept.withUnsafeBufferPointer { gptq[name]!.addInputs($0.baseAddress!, count: rows.count) }
                }
            }
        }
        defer { for (_, linear) in linears { linear.inputObserver = nil } }
        noGrad {
            for b in batches {
                rows = b.tokenRows
                _ = llm.decoderLayer(layer, b.stream, positions: b.positions, segmentIds: b.segmentIds)
            }
        }
        return gptq
    }
}
