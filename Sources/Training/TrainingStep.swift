import Autograd
import Core
import Datasets
import Foundation
import Models
import NN
import Optimizers

/// What one optimizer step measured.
public struct StepResult {
    public var loss: Double
    public var gradNorm: Float
    public var lr: Double
    public var tokens: Int            // supervised tokens
    public var inputTokens: Int       // all non-padding tokens
    public var images: Int
    public var metrics: [String: Double] = [:]
}

/// A non-finite loss or gradient: the step is not applied.
public struct NonFiniteError: Error, CustomStringConvertible {
    public let step: Int
    public let what: String
    public let batches: [Int]
    public let sampleIds: [String]
    public var description: String {
        "step \(step): \(what) is not finite; the update was skipped and no checkpoint was written for it. "
        + "Batches \(batches) of this step, samples: \(sampleIds.prefix(12).joined(separator: ", "))"
        + (sampleIds.count > 12 ? " … (\(sampleIds.count) in all)" : "")
    }
}

/// The parameters an optimizer step updates, with decay and learning-rate scale.
struct TrainableSet {
    let entries: [(path: String, parameter: Parameter, decays: Bool, lrScale: Float)]

    init(model: MiniCPMV, optimizer spec: Recipe.OptimizerSpec) {
        let mupScale: Float = spec.mup ? 1 / model.config.llm.logitDivisor : 1
        entries = model.namedParameters().filter { $0.parameter.isTrainable }.map { path, p in
            let isMatrix = p.value.rank >= 2
            let isEmbedding = path.contains("embed") || path.hasSuffix(".query")
            let decays = spec.decayNormsAndBiases || (isMatrix && !isEmbedding)
            let module = path.split(separator: ".").first.map(String.init) ?? ""
            var scale = Float(spec.lrMultipliers[module] ?? 1)
            if module == "llm" && isMatrix && !isEmbedding { scale *= mupScale }
            return (path, p, decays, scale)
        }
    }

    var gradients: [Tensor] { entries.compactMap { $0.parameter.grad } }

    func optimizerTensors() -> [OptimizerTensor] {
        entries.map { OptimizerTensor(path: $0.path, value: $0.parameter.value, grad: $0.parameter.grad,
                                      decays: $0.decays, lrScale: $0.lrScale) }
    }
}

/// Language-modelling step: the summed cross-entropy of every micro-batch is
/// divided by the supervised tokens of the whole accumulated batch, so each
/// token weighs the same whatever micro-batch it landed in.
func languageModelStep(model: MiniCPMV, batches: [PackedBatch]) throws -> (loss: Double, tokens: Int) {
    let total = batches.reduce(0) { $0 + $1.supervisedCount }
    guard total > 0 else { return (0, 0) }
    var lossSum = 0.0
    for b in batches {
        let (loss, _) = try model.loss(modelInput(b))
        lossSum += Double(loss.item)
        (loss * (1 / Float(total))).backward()
    }
    return (lossSum / Double(total), total)
}

/// Applies the accumulated gradients: clip, schedule, AdamW; then clears them.
/// Throws `NonFiniteError` (leaving the weights untouched) on a bad loss or gradient.
func applyUpdate(_ set: TrainableSet, optimizer: AdamW, lr: Double, clip: Double?, loss: Double,
                 step: Int, batches: [PackedBatch], model: MiniCPMV) throws -> Float {
    defer { model.zeroGrad() }
    let grads = set.gradients
    let (norm, factor) = clipFactor(grads, maxNorm: clip.map { Float($0) })
    guard loss.isFinite, norm.isFinite else {
        throw NonFiniteError(step: step, what: loss.isFinite ? "the gradient norm" : "the loss",
                             batches: Array(batches.indices), sampleIds: batches.flatMap { $0.segments.map(\.id) })
    }
    optimizer.update(set.optimizerTensors(), lr: Float(lr), gradScale: factor)
    return norm
}
