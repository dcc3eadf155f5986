import ArgumentParser
import Autograd
import Communication
import Core
import Foundation
import Training

/// `trainer run RECIPE [--set key=value ...] [--resume latest|PATH]`
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train with a recipe (see Recipes/ and the README for the schema).",
        discussion: """
            Writes checkpoints, metrics.jsonl and plot.svg to the recipe's checkpoint folder. \
            Ctrl-C (or SIGTERM) finishes the current step, writes a checkpoint and stops; \
            `--resume latest` continues exactly where it stopped. \
            Under `mpirun -np N` the N processes train one model data-parallel (see the README).
            """)

    @Argument(help: "The recipe YAML file, e.g. Recipes/stage1.yaml.")
    var recipe: String

    @Option(name: .customLong("set"), help: "Override a recipe key, e.g. --set optimizer.lr=3e-4 (repeatable).")
    var overrides: [String] = []

    @Option(help: "Continue from `latest` (the newest checkpoint of the recipe) or a checkpoint file.")
    var resume: String?

    @Option(name: .customLong("branch-decay"),
            help: "With --resume: branch a new decay of this many steps off a stable-phase WSD checkpoint.")
    var branchDecay: Int?

    @Flag(help: "Start over in a folder that holds checkpoints of an earlier run (they are deleted), or resume from a checkpoint that has newer ones (those are deleted).")
    var overwrite = false

    @Option(name: .customLong("stop-after"), help: "Stop after this global step (a checkpoint is written), as if interrupted.")
    var stopAfter: Int?

    @Option(help: "Threads for the engine and BLAS (default: the recipe's, else all cores; under mpirun, the cores shared among the machine's ranks).")
    var threads: Int?

    @Option(name: .customLong("check-weights"),
            help: "Under mpirun: compare a fingerprint of the weights across the ranks every N steps (always at the end).")
    var checkWeights: Int?

    func run() throws {
        let world = try World.current()
        do {
            try train(world: world)
        } catch let exit as ExitCode {
            throw exit
        } catch where world.isDistributed {
            // One rank's error ends every rank (printed once), never a hang.
            world.abort(printing: "\(error)")
        }
    }

    private func train(world: World) throws {
        if let threads { Threads.set(threads) }
        var overrides = self.overrides
        if let threads { overrides.append("threads=\(threads)") }
        let r = try Recipe.load(recipe, overrides: overrides)
        if branchDecay != nil && resume == nil {
            throw ValidationError("--branch-decay needs --resume (the stable-phase checkpoint to branch from)")
        }
        var options = RunOptions(resume: resume, branchDecaySteps: branchDecay, stopAfter: stopAfter)
        options.overwrite = overwrite
        options.world = world
        options.checkWeightsEvery = checkWeights
        let run = try TrainingRun(recipe: r, options: options)
        let s = try run.run()
        var line = String(format: "done: %d steps in %@, %.0f tokens/s", s.steps, formatDuration(s.seconds), s.tokensPerSecond)
        if let a = s.firstLoss, let b = s.lastLoss { line += String(format: ", loss %.4f → %.4f", a, b) }
        if let e = s.evalLoss { line += String(format: ", held-out loss %.4f", e) }
        if let c = s.checkpoint { line += "; checkpoint \(c)" }
        if world.isRoot { print(line) }
        if s.interrupted { throw ExitCode(130) }
    }
}
