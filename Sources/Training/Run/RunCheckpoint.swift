import Autograd
import Core
import Checkpointing
import Foundation
import Models
import Optimizers

/// The whole train state in one HDF5 file:
///
///     /model/<parameter path>              float32 weights (every parameter)
///     /config                              the model config (JSON)
///     /optimizer/<path>/m, /optimizer/<path>/v   AdamW moments of trained parameters
///     /optimizer/step                      AdamW step count
///     /state/json                          run state: phase, steps, RNG streams, data cursor (JSON)
///     /state/{step,phase,micro_step,schedule_step,tokens_seen}   the same as plain integers
///     /state/rng/<stream>                  [key, counter] of each random stream
///     /state/data                          the data loader's cursor and pack plan (JSON)
///     /state/reference_logps/{train,eval}  DPO reference log-probs (preference phases)
///     /objective/<path>, /objective/parameters   the regions heads and their paths (regions phases)
///     /recipe/text, /recipe/hash           the recipe that wrote it
extension TrainingRun {
    @discardableResult
    func saveCheckpoint(phase: Phase?) throws -> String {
        let path = try directory.write(step: state.globalStep) { f in
            if let lora = recipe.lora {
                try LoRARun.save(model, lora: lora, base: recipe.initialization, keep: trainedInSomePhase, to: f)
            } else {
                try saveModel(model, config: model.config, to: f)
            }
            try f.write("optimizer/step", int64s: [Int64(optimizer.step)], shape: [])
            for (name, m) in optimizer.moments.sorted(by: { $0.key < $1.key }) {
                try f.write("optimizer/\(name)/m", floats: m.m.scalars, shape: m.m.shape)
                try f.write("optimizer/\(name)/v", floats: m.v.scalars, shape: m.v.shape)
            }
            try f.writeRunState(state)
            if let phase, state.stepInPhase > 0 { try phase.objective.save(into: f) }
            try f.write("recipe/text", string: recipe.text)
            try f.write("recipe/hash", string: recipe.hash)
            try f.setAttribute("format", on: "/", string: "trainer-checkpoint-1")
        }
        return path
    }

    /// Loads weights, optimizer moments and run state from `path`, after checking
    /// that the recipe and model are the ones that wrote it.
    func restore(from path: String) throws {
        let f = try ModelStore.open(path)
        defer { f.close() }
        // The model must be the same shape.
        let saved = try MiniCPMVConfig.decode(json: try loadModelConfigJSON(from: f), file: path)
        if saved != model.config {
            throw CheckpointError(file: path, message: "cannot resume: the checkpoint holds a different model: "
                                  + RunSetup.configDifferences(saved, model.config).joined(separator: "; "))
        }
        // The recipe must agree on everything that shapes the run.
        if f.exists("recipe/text") {
            let old = try Recipe.parse(try f.readString("recipe/text"), file: "\(path):/recipe/text", stored: true)
            let ignoring: Set<String> = options.branchDecaySteps == nil ? [] : ["steps", "schedule"]
            let diffs = recipe.trajectoryDifferences(from: old, ignoring: ignoring)
            if !diffs.isEmpty {
                throw CheckpointError(file: path, message: "cannot resume with a different recipe; it differs in "
                                      + diffs.joined(separator: "; "))
            }
        }
        if recipe.lora != nil {
            guard LoRARun.holdsAdapters(f) else {
                throw CheckpointError(file: path, message: "cannot resume a LoRA recipe from a checkpoint without adapters")
            }
            let base = try LoRARun.base(of: f)
            guard base == recipe.initialization else {
                throw CheckpointError(file: path, message: "cannot resume: its adapters were trained on \(base), "
                                      + "the recipe's `init` is \(recipe.initialization)")
            }
            try LoRARun.loadStored(f, into: model, required: trainedInSomePhase)
        } else {
            try loadModelParameters(into: model, from: f)
        }
        var moments: [String: (m: Tensor, v: Tensor)] = [:]
        for (path, p) in model.namedParameters() where f.exists("optimizer/\(path)/m") {
            let (m, ms) = try f.readFloats("optimizer/\(path)/m"), (v, vs) = try f.readFloats("optimizer/\(path)/v")
            guard ms == p.shape, vs == p.shape else {
                throw CheckpointError(file: f.path, message: "optimizer moments of \(path) have shape \(ms), expected \(p.shape)")
            }
            moments[path] = (Tensor(m, shape: ms), Tensor(v, shape: vs))
        }
        // The moments of an objective's own parameters (the regions heads), saved mid-phase.
        let objectivePaths = f.exists("objective/parameters")
            ? try f.readString("objective/parameters").split(separator: "\n").map(String.init) : []
        for path in objectivePaths where f.exists("optimizer/\(path)/m") {
            let (m, ms) = try f.readFloats("optimizer/\(path)/m"), (v, vs) = try f.readFloats("optimizer/\(path)/v")
            let shape = try f.readFloats("objective/\(path)").shape
            guard ms == shape, vs == shape else {
                throw CheckpointError(file: f.path, message: "optimizer moments of \(path) have shape \(ms), expected \(shape)")
            }
            moments[path] = (Tensor(m, shape: ms), Tensor(v, shape: vs))
        }
        let step = Int(try f.readInt64s("optimizer/step").values.first ?? 0)
        let savedState = try f.readRunState()
        // Mid-phase, every parameter the phase trains has taken steps: its moments must be there.
        if savedState.stepInPhase > 0, recipe.phases.indices.contains(savedState.phase) {
            let trained = recipe.phases[savedState.phase].trainable
            let missing = model.namedParameters().map(\.path).filter {
                LoRARun.trains($0, modules: trained, lora: recipe.lora) && moments[$0] == nil
            }
            if !missing.isEmpty {
                throw CheckpointError(file: path, message: "cannot resume: the optimizer moments of \(missing.count) "
                                      + "trained parameter(s) are missing: " + missing.prefix(5).joined(separator: ", ")
                                      + (missing.count > 5 ? ", …" : ""))
            }
        }
        optimizer.restore(step: step, moments: moments)
        state = savedState
        if let decay = options.branchDecaySteps {
            let p = state.phase
            schedules[p] = try schedules[p].branchingDecay(from: state.stepInPhase, decaySteps: decay)
            recipe.phases[p].steps = state.stepInPhase + decay
            // The branch writes beside the main run, never over its later checkpoints.
            let folder = (directory.path as NSString)
                .appendingPathComponent("decay-\(decay)-from-step-\(String(format: "%06d", state.globalStep))")
            directory = CheckpointDirectory(path: folder, keep: directory.keep)
        }
        resumedFrom = path
    }

    /// Whether some phase of the recipe trains the parameter at `path` (what a LoRA checkpoint keeps).
    func trainedInSomePhase(_ path: String) -> Bool {
        recipe.phases.contains { LoRARun.trains(path, modules: $0.trainable, lora: recipe.lora) }
    }
}

/// The recipe settings that must match for a resume, as "key: old → new".
extension Recipe {
    /// The settings that shape training and differ from `old`'s, as "key: old → new"
    /// (what a resume refuses); keys under `ignoring` (e.g. `steps`) are left out.
    public func trajectoryDifferences(from old: Recipe, ignoring: Set<String> = []) -> [String] {
        func kept(_ key: String) -> Bool {
            !ignoring.contains { key == $0 || key.hasPrefix($0 + ".") || key.contains("." + $0) }
        }
        let fa = old.resumeFields.filter { kept($0.key) }, fb = resumeFields.filter { kept($0.key) }
        return Set(fa.keys).union(fb.keys).sorted().filter { fa[$0] != fb[$0] }
            .map { "\($0): \(fa[$0] ?? "–") → \(fb[$0] ?? "–")" }
    }

    /// The keys of the encoded recipe that do not shape the training trajectory:
    /// where checkpoints go, how often to log or evaluate, the thread count, names,
    /// held-out data, the cache folder and the initial weights (a resume loads its own).
    static let trajectoryExempt: Set<String> = ["name", "init", "threads", "log_every", "checkpoint", "eval",
                                               "phases.name", "phases.data.eval", "phases.data.cache"]

    /// The encoded recipe as flat `dotted.key → value` pairs, without the exempt keys
    /// (`phases[0].` is left out of the keys of a one-phase recipe).
    var resumeFields: [String: String] {
        guard let data = try? JSONEncoder().encode(self) else { return [:] }
        var out: [String: String] = [:]
        for (key, value) in flattenedJSON(data) {
            let pattern = key.replacingOccurrences(of: #"\[\d+\]"#, with: "", options: .regularExpression)
            guard !Recipe.trajectoryExempt.contains(where: { pattern == $0 || pattern.hasPrefix($0 + ".") }) else { continue }
            out[phases.count == 1 && key.hasPrefix("phases[0].") ? String(key.dropFirst("phases[0].".count)) : key] = value
        }
        return out
    }
}
