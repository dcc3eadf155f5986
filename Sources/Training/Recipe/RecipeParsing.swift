import Foundation
import Datasets
import Optimizers
import Yams

/// YAML → `Recipe`: every key read through `YAMLFields`, so that wrong types,
/// unknown choices and unknown keys (typos) are errors naming the key and its line.
extension Recipe {
    /// Loads a recipe file with `key=value` overrides (dotted keys) applied first.
    public static func load(_ path: String, overrides: [String] = []) throws -> Recipe {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw RecipeError(file: path, line: nil, message: FileManager.default.fileExists(atPath: path)
                              ? "cannot read the recipe file" : "recipe file not found")
        }
        return try parse(text, file: path, overrides: overrides)
    }

    /// `stored`: the text comes from a checkpoint, where keys retired since it was
    /// written are skipped rather than refused.
    public static func parse(_ yaml: String, file: String, overrides: [String] = [], stored: Bool = false) throws -> Recipe {
        var root: Node
        do {
            guard let n = try Yams.compose(yaml: yaml) else {
                throw RecipeError(file: file, line: nil, message: "the recipe is empty")
            }
            root = n
        } catch let e as RecipeError {
            throw e
        } catch let e as YamlError {
            throw RecipeError(file: file, line: yamlErrorLine(e), message: "invalid YAML: \(e)")
        }
        for o in overrides { root = try applyOverride(o, to: root, file: file) }
        let text = overrides.isEmpty ? yaml : ((try? Yams.serialize(node: root)) ?? yaml)
        var recipe: Recipe
        do {
            recipe = try Recipe(fields: YAMLFields(root, file: file, path: "", stored: stored), text: text, file: file)
        } catch let e as RecipeError {
            // A value that came from `--set` is blamed on the override, not on a line of the file.
            if let o = overrides.last(where: { e.message.contains("`\($0.prefix { $0 != "=" })`") }) {
                throw RecipeError(file: "\(file): --set \(o)", line: nil, message: e.message)
            }
            throw e
        }
        recipe.overrides = overrides
        return recipe
    }

    init(fields f: YAMLFields, text: String, file: String) throws {
        self.text = text
        self.file = file
        name = try f.requiredString("name")
        model = try f.requiredString("model")
        if let i = try f.object("init") {
            if let c = try i.string("checkpoint") { initialization = .checkpoint(c) }
            else if let h = try i.strings("huggingface") { initialization = .huggingFace(h) }
            else { initialization = .random }
            initAdapter = try i.string("adapter")
            if initAdapter != nil, initialization == .random {
                throw i.error("adapter", "needs the base model it adapts: `init.checkpoint` or `init.huggingface`")
            }
            try i.rejectUnread()
        } else {
            initialization = .random
        }
        lora = try f.object("lora").map(Recipe.lora)
        if lora != nil, initialization == .random {
            throw f.error("lora", "adapts a base model: give it with `init.checkpoint` or `init.huggingface`")
        }
        recomputeLayers = false
        frozenInBF16 = false
        if let m = try f.object("memory") {
            switch try m.string("frozen", default: "float32") {
            case "float32": frozenInBF16 = false
            case "bf16": frozenInBF16 = true
            case let other: throw m.error("frozen", "must be float32 or bf16, got `\(other)`")
            }
            switch try m.string("recompute", default: "none") {
            case "none": recomputeLayers = false
            case "layers": recomputeLayers = true
            case let other: throw m.error("recompute", "must be none or layers, got `\(other)`")
            }
            try m.rejectUnread()
        }
        // With adapters, only what `train` or `lora.full` names trains in full.
        trainable = try Recipe.modules(f, "train") ?? (lora == nil ? Recipe.modules : [])
        let seed = try f.int("seed", default: 1234)
        guard seed >= 0 else { throw f.error("seed", "must be a non-negative integer, got \(seed)") }
        self.seed = UInt64(seed)
        threads = try f.int("threads")
        logEvery = try f.int("log_every", default: 1)
        optimizer = try Recipe.optimizer(f.object("optimizer"), f)
        checkpoint = try Recipe.checkpoint(f.object("checkpoint"), name: name)
        evaluation = try Recipe.evaluation(f.object("eval"))
        dpo = try f.object("dpo").map(Recipe.dpo) ?? DPOConfig()

        // A single phase from top-level data/steps/schedule, or a list of phases
        // that inherit those and override what they name.
        let baseData = try f.object("data")
        let baseSteps = try f.int("steps")
        let baseSchedule = try f.object("schedule")
        let baseTrainable = trainable
        if let list = try f.objects("phases") {
            guard !list.isEmpty else { throw f.error("phases", "must list at least one phase") }
            phases = try list.enumerated().map { i, p in
                let steps = try p.int("steps") ?? baseSteps
                guard let steps else { throw p.missing("steps") }
                let dataFields = try p.object("data") ?? baseData
                guard let dataFields else { throw p.missing("data") }
                let phase = Phase(name: try p.string("name", default: "phase\(i + 1)"),
                                  data: try Recipe.data(dataFields),
                                  steps: steps,
                                  schedule: try Recipe.schedule(p.object("schedule") ?? baseSchedule),
                                  trainable: try Recipe.modules(p, "train") ?? baseTrainable)
                try p.rejectUnread()
                return phase
            }
        } else {
            guard let baseData else { throw f.missing("data") }
            guard let baseSteps else { throw f.missing("steps") }
            phases = [Phase(name: name, data: try Recipe.data(baseData), steps: baseSteps,
                            schedule: try Recipe.schedule(baseSchedule), trainable: trainable)]
        }
        for p in phases { try Recipe.check(p, file: file) }
        try f.rejectUnread()
    }

    /// A list of model parts (`train:` of the recipe or of a phase).
    static func modules(_ f: YAMLFields, _ key: String) throws -> [String]? {
        guard let names = try f.strings(key) else { return nil }
        for m in names where !Recipe.modules.contains(m) {
            throw f.error(key, "names an unknown module `\(m)` (known: \(Recipe.modules.joined(separator: ", ")))")
        }
        return names
    }

    /// What only the phase as a whole can tell: the schedule fits its steps.
    static func check(_ p: Phase, file: String) throws {
        func fail(_ message: String) -> RecipeError { RecipeError(file: file, line: nil, message: "phase `\(p.name)`: " + message) }
        guard p.steps > 0 else { throw fail("`steps` must be positive") }
        let s = p.schedule
        guard s.warmup >= 0, s.warmup <= p.steps else {
            throw fail("`schedule.warmup` (\(s.warmup)) must lie between 0 and the phase's \(p.steps) steps")
        }
        guard s.decayFraction >= 0, s.decayFraction <= 1 else {
            throw fail("`schedule.decay_fraction` (\(s.decayFraction)) must lie in [0, 1]")
        }
        if s.kind == .wsd, s.decaySteps == nil, s.decayFraction > 0,
           Int((Double(p.steps) * s.decayFraction).rounded()) == 0 {
            throw fail("`schedule.decay_fraction` \(s.decayFraction) of \(p.steps) steps rounds to no decay step; "
                       + "raise it or set `decay_fraction: 0`")
        }
        if let d = s.decaySteps, d < 0 || d > p.steps { throw fail("`schedule.decay_steps` (\(d)) must lie in 0...\(p.steps)") }
        if p.data.format == .regions {
            // The regions objective reaches only the vision encoder: anything else would sit idle.
            guard p.trainable == ["vpm"] else {
                throw fail("a regions phase trains the vision encoder only (`train: [vpm]`), not \(p.trainable)")
            }
            guard !p.data.textOnly else { throw fail("`text_only` does not apply to regions data") }
        }
    }

    static func lora(_ l: YAMLFields) throws -> LoRASpec {
        let spec = LoRASpec(rank: try l.int("rank", default: 64),
                            alpha: try l.double("alpha", default: 64),
                            dropout: try l.double("dropout", default: 0.05),
                            targets: try l.string("targets", default: LoRASpec.attentionTargets),
                            full: try l.strings("full") ?? ["resampler"])
        guard spec.rank > 0 else { throw l.error("rank", "must be a positive integer, got \(spec.rank)") }
        guard spec.alpha.isFinite, spec.alpha > 0 else { throw l.error("alpha", "must be a finite number > 0, got \(spec.alpha)") }
        guard spec.dropout >= 0, spec.dropout < 1 else { throw l.error("dropout", "must lie in [0, 1), got \(spec.dropout)") }
        guard spec.config.targetPattern != nil else {
            throw l.error("targets", "is not a regular expression (or `all-linear`): \(spec.targets)")
        }
        for m in spec.full where !Recipe.modules.contains(where: { m == $0 || m.hasPrefix($0 + ".") }) {
            throw l.error("full", "names `\(m)`, which is not a module or a dotted path under vpm, resampler or llm")
        }
        try l.rejectUnread()
        return spec
    }

    static func data(_ d: YAMLFields) throws -> DataSpec {
        let format: DataFormat?
        switch try d.string("format", default: "captions") {
        case "auto": format = nil
        case let name:
            guard let f = DataFormat(rawValue: name) else {
                throw d.error("format", "must be captions, conversations, preference, regions or auto, got `\(name)`")
            }
            format = f
        }
        let spec = DataSpec(
            format: format,
            train: try d.strings("train") ?? { throw d.missing("train") }(),
            eval: try d.strings("eval"),
            tokenizer: try d.requiredString("tokenizer"),
            template: try d.choice("template", default: ChatTemplate.chatml),
            schema: try d.choice("schema", default: PlaceholderSchema.v2_6),
            resolution: try d.int("resolution"),
            maxSlices: try d.int("max_slices", default: 9),
            scaleResolution: try d.int("scale_resolution", default: 448),
            maxLength: try d.int("max_length", default: 512),
            rows: try d.int("rows", default: 2),
            packing: try d.bool("packing", default: true),
            prompt: try d.string("prompt", default: "Describe the image."),
            cache: try d.string("cache"),
            textOnly: try d.bool("text_only", default: false))
        guard spec.maxLength > 0, spec.rows > 0 else { throw d.error("max_length", "and `rows` must be positive") }
        try d.rejectUnread()
        return spec
    }

    static func schedule(_ s: YAMLFields?) throws -> ScheduleSpec {
        var spec = ScheduleSpec.minicpm
        guard let s else { return spec }
        spec.kind = try s.choice("kind", default: spec.kind)
        spec.warmup = try s.int("warmup", default: spec.warmup)
        spec.warmupShape = try s.choice("warmup_shape", default: spec.warmupShape)
        spec.decay = try s.choice("decay", default: spec.decay)
        spec.decayFraction = try s.double("decay_fraction", default: spec.decayFraction)
        spec.decaySteps = try s.int("decay_steps")
        spec.stableSteps = try s.int("stable_steps")
        spec.minLRRatio = try s.double("min_lr_ratio", default: spec.minLRRatio)
        spec.halfLife = try s.double("half_life")
        try s.rejectUnread()
        return spec
    }

    static func optimizer(_ o: YAMLFields?, _ root: YAMLFields) throws -> OptimizerSpec {
        guard let o else { throw root.missing("optimizer") }
        let betas = try o.doubles("betas") ?? [0.9, 0.95]
        guard betas.count == 2 else { throw o.error("betas", "must be two numbers [β1, β2]") }
        let clip = try o.double("clip")
        let spec = OptimizerSpec(
            lr: try o.double("lr") ?? { throw o.missing("lr") }(),
            weightDecay: try o.double("weight_decay", default: 0.1),
            beta1: betas[0], beta2: betas[1],
            eps: try o.double("eps", default: 1e-8),
            clip: clip,
            accumulation: try o.int("accumulation", default: 1),
            lrMultipliers: try o.numberMap("lr_multipliers") ?? [:],
            mup: try o.bool("mup", default: false),
            decayNormsAndBiases: try o.bool("decay_norms_and_biases", default: false))
        for k in spec.lrMultipliers.keys where !Recipe.modules.contains(k) {
            throw o.error("lr_multipliers", "names an unknown module `\(k)`")
        }
        guard spec.accumulation >= 1 else { throw o.error("accumulation", "must be at least 1") }
        guard spec.lr.isFinite, spec.lr >= 0 else { throw o.error("lr", "must be a finite number ≥ 0, got \(spec.lr)") }
        guard (0..<1).contains(spec.beta1), (0..<1).contains(spec.beta2) else {
            throw o.error("betas", "must both lie in [0, 1), got [\(spec.beta1), \(spec.beta2)]")
        }
        guard spec.eps.isFinite, spec.eps > 0 else { throw o.error("eps", "must be a finite number > 0, got \(spec.eps)") }
        guard spec.weightDecay.isFinite, spec.weightDecay >= 0 else {
            throw o.error("weight_decay", "must be a finite number ≥ 0, got \(spec.weightDecay)")
        }
        if let c = clip, !(c.isFinite && c > 0) { throw o.error("clip", "must be a finite number > 0, got \(c)") }
        try o.rejectUnread()
        return spec
    }

    static func checkpoint(_ c: YAMLFields?, name: String) throws -> CheckpointSpec {
        let spec = CheckpointSpec(dir: try c?.string("dir") ?? "Checkpoints/\(name)",
                                  every: try c?.int("every") ?? 0,
                                  keep: try c?.int("keep") ?? 3)
        if let c, spec.every < 0 { throw c.error("every", "must be a number of steps ≥ 0 (0: only at the end)") }
        if let c, spec.keep <= 0 { throw c.error("keep", "must be at least 1") }
        try c?.rejectUnread()
        return spec
    }

    static func evaluation(_ e: YAMLFields?) throws -> EvaluationSpec {
        let spec = EvaluationSpec(every: try e?.int("every") ?? 0, batches: try e?.int("batches") ?? 4)
        if let e, spec.every < 0 { throw e.error("every", "must be a number of steps ≥ 0 (0: no evaluation)") }
        if let e, spec.batches <= 0 { throw e.error("batches", "must be at least 1") }
        try e?.rejectUnread()
        return spec
    }

    /// The `dpo:` section; what it leaves out keeps `DPOConfig`'s defaults.
    static func dpo(_ d: YAMLFields) throws -> DPOConfig {
        let base = DPOConfig()
        let spec = DPOConfig(kind: try d.choice("loss", default: base.kind),
                             beta: Float(try d.double("beta", default: Double(base.beta))),
                             labelSmoothing: Float(try d.double("label_smoothing", default: Double(base.labelSmoothing))),
                             averageLogProbs: try d.bool("average_logps", default: base.averageLogProbs),
                             sftWeight: Float(try d.double("sft_weight", default: Double(base.sftWeight))))
        try d.rejectUnread()
        return spec
    }
}

/// Applies `a.b.c=value` to a YAML tree (creating mappings as needed).
func applyOverride(_ override: String, to root: Node, file: String) throws -> Node {
    guard let eq = override.firstIndex(of: "="), eq != override.startIndex else {
        throw RecipeError(file: file, line: nil, message: "override `\(override)` must look like key=value")
    }
    let keys = override[..<eq].split(separator: ".").map(String.init)
    let raw = String(override[override.index(after: eq)...])
    let value = (try? Yams.compose(yaml: raw)).flatMap { $0 } ?? Node(raw)
    func set(_ node: Node, _ keys: ArraySlice<String>) throws -> Node {
        guard let k = keys.first else { return value }
        guard case .mapping(var m) = node else {
            throw RecipeError(file: file, line: node.mark?.line,
                              message: "override `\(override)`: `\(k)` is not inside a mapping")
        }
        let child = m[Node(k)] ?? Node.mapping(Node.Mapping([]))
        m[Node(k)] = try set(child, keys.dropFirst())
        return .mapping(m)
    }
    return try set(root, keys[...])
}

func yamlErrorLine(_ e: YamlError) -> Int? {
    switch e {
    case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
        return mark.line
    default:
        return nil
    }
}
