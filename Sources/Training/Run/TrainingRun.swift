import Autograd
import Communication
import Core
import Checkpointing
import Datasets
import Foundation
import Models
import NN
import Optimizers

/// How `trainer run` runs a recipe.
public struct RunOptions {
    /// "latest" or a checkpoint path to continue from.
    public var resume: String?
    /// With `resume`: branch a new decay of this many steps off a stable-phase checkpoint.
    public var branchDecaySteps: Int?
    /// Stop after this global step as if interrupted (a checkpoint is written).
    public var stopAfter: Int?
    /// Start over in a folder that holds checkpoints (deleting them), or resume
    /// from a checkpoint that has newer ones after it (deleting those).
    public var overwrite = false
    public var showProgress = true
    /// The ranks that train together (`World.current()` under `mpirun`); rank 0
    /// alone logs and writes checkpoints, metrics and the plot.
    public var world: World = .single
    /// In a data-parallel run, compare a fingerprint of the weights across the
    /// ranks every this many steps (they are always compared at the end).
    public var checkWeightsEvery: Int?
    public var log: (String) -> Void = { print($0); fflush(stdout) }
    public init(resume: String? = nil, branchDecaySteps: Int? = nil, stopAfter: Int? = nil) {
        self.resume = resume; self.branchDecaySteps = branchDecaySteps; self.stopAfter = stopAfter
    }
}

public struct RunSummary {
    public var steps: Int
    public var firstLoss: Double?
    public var lastLoss: Double?
    public var evalLoss: Double?
    public var checkpoint: String?
    public var interrupted: Bool
    public var seconds: Double
    public var tokensPerSecond: Double
}

/// One run of a recipe: its phases in order, one optimizer step at a time.
///
/// The loop is plain: for each phase, for each step (Phase.step: micro-batches,
/// forward and backward, one AdamW update), log, and now and then evaluate and
/// write a checkpoint that holds the whole run state.
public final class TrainingRun {
    /// The recipe as it runs: a `--branch-decay` resume rewrites its phase's length.
    public internal(set) var recipe: Recipe
    public let model: MiniCPMV
    let options: RunOptions
    let optimizer: AdamW
    /// Where checkpoints go: the recipe's folder, or for a branched decay a
    /// sub-folder of it named after the branch (`decay-N-from-step-S`).
    var directory: CheckpointDirectory
    var state: RunState
    var schedules: [LRSchedule]
    /// Trainable and frozen parameters of the first phase (for the header).
    let counts: (trainable: Int, frozen: Int)
    let initDescription: String
    var metrics: MetricsLog?
    /// The checkpoint this run continues from.
    var resumedFrom: String?
    /// A LoRA run's adapter dropout masks, and the layers that carry adapters.
    let loraMasks: LoRADropout?
    let loraLayers: [String]

    public init(recipe: Recipe, options: RunOptions = RunOptions()) throws {
        self.recipe = recipe
        var options = options
        if !options.world.isRoot { options.log = { _ in }; options.showProgress = false }
        self.options = options
        if let t = recipe.threads { Threads.set(t) }
        let directory = CheckpointDirectory(path: recipe.checkpoint.dir, keep: recipe.checkpoint.keep)
        self.directory = directory
        let resumePath = try options.resume.map { try TrainingRun.resolveResume($0, directory) }
        if let resumePath, recipe.lora == nil {
            let config = try RunSetup.modelConfig(recipe)
            model = MiniCPMV(config: config, seed: recipe.seed)
            initDescription = "resumed from \(resumePath)"
        } else {
            // A LoRA checkpoint holds what trains; the frozen base comes from `init` again.
            (model, initDescription) = try RunSetup.model(recipe)
        }
        model.recomputeLayers = recipe.recomputeLayers
        if let lora = recipe.lora {
            let masks = lora.dropout > 0 ? LoRADropout(seed: RNG(seed: recipe.seed).derived("lora-dropout")) : nil
            loraLayers = try LoRARun.attach(lora, to: model, seed: recipe.seed, masks: masks, file: recipe.file)
            loraMasks = masks
        } else {
            loraLayers = []
            loraMasks = nil
        }
        counts = RunSetup.applyTrainable(recipe.phases[0].trainable, lora: recipe.lora, to: model)
        optimizer = AdamW(beta1: Float(recipe.optimizer.beta1), beta2: Float(recipe.optimizer.beta2),
                          eps: Float(recipe.optimizer.eps), weightDecay: Float(recipe.optimizer.weightDecay))
        schedules = try recipe.phases.map { try TrainingRun.schedule($0) }
        state = RunState(phase: 0, stepInPhase: 0, globalStep: 0, microStep: 0, tokensSeen: 0,
                         rng: ["init": RNG(seed: recipe.seed).derived("init"),
                               "dropout": RNG(seed: recipe.seed).derived("dropout")],
                         data: "", scheduleStep: 0)
        if let resumePath { try restore(from: resumePath) }
    }

    /// What a phase trains, in words: "resampler, llm", or with LoRA
    /// "LoRA rank 16 (α 32) on 16 layers + resampler".
    func trainsDescription(_ modules: [String]) -> String {
        guard let lora = recipe.lora else { return modules.joined(separator: ", ") }
        let alpha = lora.alpha == lora.alpha.rounded() ? String(Int(lora.alpha)) : String(lora.alpha)
        return (["LoRA rank \(lora.rank) (α \(alpha)) on \(loraLayers.count) layers"] + modules + lora.full)
            .joined(separator: " + ")
    }

    static func resolveResume(_ value: String, _ dir: CheckpointDirectory) throws -> String {
        guard value == "latest" else { return value }
        guard let p = dir.latest() else {
            throw CheckpointError(file: dir.path, message: "no checkpoint to resume from (nothing like step-*.h5 in the folder)")
        }
        return p
    }

    static func schedule(_ phase: Recipe.Phase) throws -> LRSchedule {
        let s = phase.schedule
        switch s.kind {
        case .constant: return .constant(warmupSteps: s.warmup)
        case .cosine: return .cosine(warmupSteps: s.warmup, totalSteps: phase.steps, minRatio: s.minLRRatio)
        case .wsd:
            return try .wsdInferringStable(totalSteps: phase.steps, warmupSteps: s.warmup, decayFraction: s.decayFraction,
                                           decaySteps: s.decaySteps, stableSteps: s.stableSteps, warmup: s.warmupShape,
                                           decay: s.decay, minRatio: s.minLRRatio, halfLife: s.halfLife)
        }
    }

    // MARK: - Running

    var world: World { options.world }

    public func run() throws -> RunSummary {
        let start = Date()
        try DataParallel.checkRecipesAgree(recipe, world: world)
        // Rank 0 owns the folder; the other ranks never write to it.
        let folder = world.isRoot ? try RunFolder(directory) : nil
        defer { folder?.release() }
        let removed = try folder?.prepare(resumedStep: resumedFrom == nil ? nil : state.globalStep,
                                          overwrite: options.overwrite) ?? []
        if !removed.isEmpty { options.log("--overwrite: removed \(removed.joined(separator: ", "))") }
        let metricsPath = RunFolder.metricsPath(in: directory)
        metrics = world.isRoot ? MetricsLog(path: metricsPath, truncate: resumedFrom == nil) : nil
        InterruptFlag.install(announce: world.isRoot)
        printHeader()
        var summary = RunSummary(steps: 0, interrupted: false, seconds: 0, tokensPerSecond: 0)
        var tokensThisRun = 0

        while state.phase < recipe.phases.count {
            let resumingPhase = state.stepInPhase > 0
            // Rank 0 builds the phase's shard cache first; the others then read it.
            if !world.isRoot { try world.barrier() }
            let phase = try Phase(recipe: recipe, index: state.phase, schedule: schedules[state.phase], model: model,
                                  savedData: resumingPhase ? state.data : nil, resume: resumingPhase ? resumedFrom : nil,
                                  world: world, loraMasks: loraMasks, log: options.log)
            if world.isRoot { try world.barrier() }
            options.log("phase \(state.phase + 1)/\(recipe.phases.count) `\(phase.spec.name)`: \(phase.steps) steps, trains "
                        + "\(trainsDescription(phase.spec.trainable)) (\(formatCount(phase.counts.trainable)) parameters, "
                        + "\(formatCount(phase.counts.frozen)) frozen); \(phase.data.description)")
            let progress = ProgressLine(totalSteps: recipe.totalSteps, startStep: state.globalStep)
            while state.stepInPhase < phase.steps {
                let stepStart = Date()
                let result = try phase.step(model: model, optimizer: optimizer, spec: recipe.optimizer,
                                            stepInPhase: state.stepInPhase, globalStep: state.globalStep)
                state.stepInPhase += 1; state.globalStep += 1; state.scheduleStep = state.stepInPhase
                state.tokensSeen += result.inputTokens; tokensThisRun += result.inputTokens
                state.data = phase.data.loaderStateJSON()
                if summary.firstLoss == nil { summary.firstLoss = result.loss }
                summary.lastLoss = result.loss; summary.steps += 1
                report(result, seconds: Date().timeIntervalSince(stepStart), progress: progress)

                let phaseDone = state.stepInPhase == phase.steps
                if let every = options.checkWeightsEvery, every > 0, state.globalStep % every == 0 {
                    try DataParallel.checkWeightsAgree(weights(phase), world: world, step: state.globalStep)
                }
                if world.isRoot, recipe.evaluation.every > 0 && (state.globalStep % recipe.evaluation.every == 0 || phaseDone),
                   let (evalLoss, evalMetrics) = try phase.evaluate(model: model, batches: recipe.evaluation.batches) {
                    summary.evalLoss = evalLoss
                    progress.newline()
                    options.log(String(format: "eval at step %d: held-out loss %.4f", state.globalStep, evalLoss))
                    var record: [String: Any] = evalMetrics
                    record["step"] = state.globalStep; record["eval_loss"] = evalLoss
                    metrics?.append(record)
                }
                if phaseDone { state.phase += 1; state.stepInPhase = 0; state.data = "" }
                let every = recipe.checkpoint.every
                // Every rank stops at the same step, whichever of them was interrupted.
                let stopNow = try world.any(InterruptFlag.isSet || options.stopAfter == state.globalStep)
                if world.isRoot, phaseDone || stopNow || (every > 0 && state.globalStep % every == 0) {
                    summary.checkpoint = try saveCheckpoint(phase: phase)
                    LossPlot.write(metrics: metricsPath, to: plotPath, title: recipe.name)
                }
                if stopNow {
                    try DataParallel.checkWeightsAgree(weights(phase), world: world, step: state.globalStep)
                    progress.newline()
                    options.log("stopped at step \(state.globalStep); resume with `\(recipe.command("--resume latest"))`")
                    summary.interrupted = true
                    return finish(summary, start: start, tokens: tokensThisRun)
                }
                if phaseDone { break }
            }
            try DataParallel.checkWeightsAgree(weights(phase), world: world, step: state.globalStep)
            progress.newline()
        }
        if world.isRoot { LossPlot.write(metrics: metricsPath, to: plotPath, title: recipe.name) }
        return finish(summary, start: start, tokens: tokensThisRun)
    }

    /// Every weight a rank holds in `phase`: the model's and the objective's own.
    private func weights(_ phase: Phase) -> [(path: String, parameter: Parameter)] {
        model.namedParameters().map { (path: $0.0, parameter: $0.1) } + phase.objective.parameters
    }

    var plotPath: String { (directory.path as NSString).appendingPathComponent("plot.svg") }

    private func finish(_ s: RunSummary, start: Date, tokens: Int) -> RunSummary {
        var s = s
        s.seconds = Date().timeIntervalSince(start)
        s.tokensPerSecond = Double(tokens) / max(s.seconds, 1e-9)
        return s
    }

    private func report(_ r: StepResult, seconds: Double, progress: ProgressLine) {
        let tps = Double(r.inputTokens) / max(seconds, 1e-9)
        var record: [String: Any] = ["step": state.globalStep, "phase": recipe.phases[min(state.phase, recipe.phases.count - 1)].name,
                                     "loss": r.loss, "lr": r.lr, "grad_norm": Double(r.gradNorm),
                                     "tokens": r.inputTokens, "supervised_tokens": r.tokens,
                                     "tokens_per_s": tps, "step_s": seconds]
        for (k, v) in r.metrics { record[k] = v }
        metrics?.append(record)
        guard options.showProgress, state.globalStep % max(1, recipe.logEvery) == 0 else { return }
        var fields = [("loss", String(format: "%.4f", r.loss)), ("lr", String(format: "%.2e", r.lr)),
                      ("gnorm", String(format: "%.3f", r.gradNorm)), ("tok/s", String(format: "%.0f", tps))]
        for k in ["rewards/accuracies", "rewards/margins"] where r.metrics[k] != nil {
            fields.append((k, String(format: "%.3f", r.metrics[k]!)))
        }
        progress.report(step: state.globalStep, fields: fields)
    }

    private func printHeader() {
        let log = options.log
        log("trainer \(TrainerVersion.string) — recipe \(recipe.file) (`\(recipe.name)`, hash \(recipe.hash))")
        log("BLAS: OpenBLAS kernel \(BLAS.kernelDescription), \(Threads.count) thread\(Threads.count == 1 ? "" : "s")"
            + (world.isDistributed ? " per rank" : ""))
        if world.isDistributed {
            log("data parallel: \(world.size) ranks (MPI); each step's rows shared out, gradients summed with MPI_Allreduce, "
                + "normalised by the global batch's supervised tokens; rank 0 writes checkpoints and metrics")
        }
        let c = model.config
        log("model: `\(recipe.model)` MiniCPM-V \(c.version) (\(c.llm.modelType.rawValue)), init \(initDescription)")
        log(String(format: "parameters: %@ in all; %@ trainable (%@), %@ frozen in the first phase",
                   formatCount(counts.trainable + counts.frozen), formatCount(counts.trainable),
                   trainsDescription(recipe.phases[0].trainable), formatCount(counts.frozen)))
        logMemoryPlan()
        let o = recipe.optimizer
        log(String(format: "optimizer: AdamW lr %.2e, betas (%.2f, %.3f), weight decay %.2f, clip %@, accumulation %d",
                   o.lr, o.beta1, o.beta2, o.weightDecay, o.clip.map { String(format: "%.2f", $0) } ?? "off", o.accumulation))
        log("checkpoints: \(directory.path) (every \(recipe.checkpoint.every > 0 ? "\(recipe.checkpoint.every) steps" : "phase end"), keep \(directory.keep))")
    }
}

extension TrainingRun {
    /// The first phase's memory plan (`MemoryPlan`: an upper bound, for rows full of
    /// image slices), and a warning when it is more than the memory available.
    func logMemoryPlan() {
        let data = recipe.phases[0].data, c = model.config
        let tokens = data.rows * data.maxLength
        let side = (data.resolution ?? data.scaleResolution) / c.vision.patchSize
        let frozen = Set(model.namedParameters().filter { !$0.parameter.isTrainable }.map(\.path))
        let narrowed = recipe.frozenInBF16 ? frozen.intersection(model.bf16EligiblePaths()) : []
        let plan = MemoryPlan(model: model, narrowed: narrowed, tokens: tokens, labelled: tokens, samples: data.rows,
                              slices: data.rows * max(1, data.maxLength / (c.queryNum + 2)),
                              patchesPerSlice: side * side, recompute: recipe.recomputeLayers)
        options.log("memory: " + plan.summary)
        if let available = MemoryPlan.availableBytes(), plan.totalBytes > available {
            options.log(String(format: "warning: the plan is more than the %.1f GB available; what helps: ", available / 1e9)
                        + "`lora:` (adapters instead of whole modules), `memory.frozen: bf16`, `memory.recompute: layers`, "
                        + "fewer `data.rows` or a shorter `data.max_length`, TRAINER_POOL_MB")
        }
    }
}

func formatCount(_ n: Int) -> String {
    n >= 1_000_000 ? String(format: "%.2fM", Double(n) / 1e6) : n >= 1_000 ? String(format: "%.1fk", Double(n) / 1e3) : "\(n)"
}

public enum TrainerVersion {
    public static let string = "0.1.0"
}

/// Set by SIGINT / SIGTERM; the loop finishes its step, writes a checkpoint and stops.
/// A second signal exits at once.
public enum InterruptFlag {
    nonisolated(unsafe) static var flag: sig_atomic_t = 0
    /// Whether the handler says what it does (rank 0 only, under mpirun).
    nonisolated(unsafe) static var announces: sig_atomic_t = 1
    public static var isSet: Bool { flag != 0 }

    static func install(announce: Bool = true) {
        announces = announce ? 1 : 0
        let handler: @convention(c) (Int32) -> Void = { sig in
            if InterruptFlag.flag != 0 { _exit(128 + sig) }
            InterruptFlag.flag = 1
            guard InterruptFlag.announces != 0 else { return }
            // write(2) only: nothing that allocates or locks inside a signal handler.
            let note: StaticString = "\ninterrupted: finishing the step, then saving a checkpoint; interrupt again to stop at once (nothing is saved)\n"
            _ = write(2, note.utf8Start, note.utf8CodeUnitCount)
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
    }
}
