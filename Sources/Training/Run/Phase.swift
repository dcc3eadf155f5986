import Autograd
import Communication
import Core
import Datasets
import Foundation
import Models
import NN
import Optimizers

/// One phase of a recipe (a row of the paper's stage table), ready to train: its
/// data, learning-rate schedule, trainable parameters and objective.
///
/// One optimizer step reads top to bottom in `step`: draw the micro-batches, the
/// objective's forward and backward, clip, AdamW.
final class Phase {
    let spec: Recipe.Phase
    let data: PhaseData
    let schedule: LRSchedule
    let trainable: TrainableSet
    let counts: (trainable: Int, frozen: Int)
    let objective: Objective
    let world: World
    /// Sums the gradients over the ranks of a data-parallel run (nil in one process).
    let allreduce: GradientAllreduce?

    /// `savedData`: the data cursor of a checkpoint taken inside this phase;
    /// `resume`: that checkpoint (it also holds the DPO reference log-probs).
    /// `world`: the ranks that share each step's rows (one process: `.single`);
    /// `loraMasks`: the adapters' dropout masks of a LoRA run (keyed on the step).
    let loraMasks: LoRADropout?

    init(recipe: Recipe, index: Int, schedule: LRSchedule, model: MiniCPMV, savedData: String?, resume: String?,
         world: World = .single, loraMasks: LoRADropout? = nil, log: @escaping (String) -> Void) throws {
        spec = recipe.phases[index]
        self.world = world
        if world.isDistributed && [.preference, .regions].contains(spec.data.format) {
            throw DataParallelError("phase `\(spec.name)` trains on \(spec.data.format == .preference ? "preference" : "regions") "
                                    + "data, which runs in one process only; data-parallel runs train captions and conversations")
        }
        self.schedule = schedule
        self.loraMasks = loraMasks
        counts = RunSetup.applyTrainable(spec.trainable, lora: recipe.lora, to: model)
        if recipe.frozenInBF16 {
            let saved = model.storeFrozenWeightsInBF16()
            if saved > 0 { log(String(format: "memory: frozen weights narrowed to bf16 (%.1f MB saved)", Double(saved) / 1e6)) }
        }
        data = try PhaseData(recipe: recipe, phase: spec, model: model, log: log, restoring: savedData)
        switch spec.data.format {
        case .preference:
            objective = try DPOObjective(config: recipe.dpo, data: data, model: model, resume: resume, log: log)
        case .regions:
            objective = try RegionObjective(files: (spec.data.train, spec.data.eval ?? []), model: model,
                                            seed: recipe.seed, resume: resume, log: log)
        default:
            objective = LanguageModelObjective(world: world)
        }
        trainable = TrainableSet(model: model, optimizer: recipe.optimizer, extra: objective.parameters)
        allreduce = world.isDistributed ? GradientAllreduce(trainable, world: world) : nil
        (objective as? LanguageModelObjective)?.listener = allreduce
    }

    var steps: Int { spec.steps }

    /// One optimizer step at `stepInPhase` (0-based): `accumulation` micro-batches,
    /// forward and backward through the objective, then clip and AdamW at the
    /// scheduled learning rate. The weights are untouched when the loss or the
    /// gradient is not finite (`NonFiniteError`).
    func step(model: MiniCPMV, optimizer: AdamW, spec o: Recipe.OptimizerSpec, stepInPhase: Int,
              globalStep: Int) throws -> StepResult {
        let batches = try drawBatches(o.accumulation)
        let lr = o.lr * schedule.factor(atStep: stepInPhase)
        loraMasks?.begin(step: globalStep)
        defer { loraMasks?.end() }
        allreduce?.begin()
        var result = try objective.step(model: model, batches: batches)
        defer { model.zeroGrad(); objective.parameters.forEach { $0.parameter.zeroGrad() } }
        var summed: [Tensor?]?
        if let allreduce {
            let reduced = try allreduce.finish()
            summed = reduced.gradients
            result.metrics["allreduce_s"] = reduced.exposedSeconds
            result.metrics["allreduce_wait_s"] = reduced.waitSeconds
            result.metrics["allreduce_in_backward_s"] = reduced.duringBackwardSeconds
            result.metrics["allreduce_early_buckets"] = Double(reduced.bucketsStartedEarly)
            result.metrics["allreduce_buckets"] = Double(reduced.buckets)
            result.metrics["allreduce_bytes"] = Double(reduced.bytes)
        }
        let grads = summed.map { $0.compactMap { $0 } } ?? trainable.gradients
        let (norm, factor) = clipFactor(grads, maxNorm: o.clip.map { Float($0) })
        guard result.loss.isFinite, norm.isFinite else {
            throw NonFiniteError(step: globalStep + 1, what: result.loss.isFinite ? "the gradient norm" : "the loss",
                                 batches: Array(batches.indices), sampleIds: batches.flatMap { $0.segments.map(\.id) })
        }
        optimizer.update(trainable.optimizerTensors(gradients: summed), lr: Float(lr), gradScale: factor)
        result.gradNorm = norm; result.lr = lr
        return result
    }

    /// The micro-batches of one step: all of them in one process; this rank's
    /// share of their rows in a data-parallel run (`DataParallel.share`).
    private func drawBatches(_ accumulation: Int) throws -> [PackedBatch] {
        guard world.isDistributed else { return try (0..<accumulation).map { _ in try data.train.next() } }
        let plans = try (0..<accumulation).map { _ in try data.train.nextPlan() }
        return try DataParallel.share(of: plans, rank: world.rank, size: world.size).map { try data.train.assemble($0) }
    }

    /// Held-out loss over the first `batches` batches of the held-out data (nil without any),
    /// and what else the objective measured on them.
    func evaluate(model: MiniCPMV, batches: Int) throws -> (loss: Double, metrics: [String: Double])? {
        guard let loader = try data.evalLoader() else { return nil }
        let loss = try objective.heldOutLoss(model: model, loader: loader,
                                             batches: min(batches, max(1, loader.epochPlan().batches)))
        return loss.map { ($0, objective.heldOutMetrics) }
    }
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

    /// `extra`: the objective's own parameters (decayed when matrices, at the base rate).
    init(model: MiniCPMV, optimizer spec: Recipe.OptimizerSpec, extra: [(path: String, parameter: Parameter)] = []) {
        let mupScale: Float = spec.mup ? 1 / model.config.llm.logitDivisor : 1
        entries = model.namedParameters().filter { $0.parameter.isTrainable }.map { path, p in
            let isMatrix = p.value.rank >= 2
            let isEmbedding = path.contains("embed") || path.hasSuffix(".query")
            let decays = spec.decayNormsAndBiases || (isMatrix && !isEmbedding)
            let module = path.split(separator: ".").first.map(String.init) ?? ""
            var scale = Float(spec.lrMultipliers[module] ?? 1)
            if module == "llm" && isMatrix && !isEmbedding { scale *= mupScale }
            return (path, p, decays, scale)
        } + extra.map { ($0.path, $0.parameter, spec.decayNormsAndBiases || $0.parameter.value.rank >= 2, 1) }
    }

    var gradients: [Tensor] { entries.compactMap { $0.parameter.grad } }

    /// `gradients`: one per entry in place of the parameters' own (the sums over the ranks).
    func optimizerTensors(gradients: [Tensor?]? = nil) -> [OptimizerTensor] {
        entries.indices.map { i in
            let e = entries[i]
            return OptimizerTensor(path: e.path, value: e.parameter.value, grad: gradients.map { $0[i] } ?? e.parameter.grad,
                                   decays: e.decays, lrScale: e.lrScale)
        }
    }
}
