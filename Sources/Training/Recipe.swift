import Foundation
import Core
import Yams

/// A training recipe: one row of the paper's stage table, as YAML.
///
/// The README documents every key. Unknown keys, wrong types and missing files
/// are errors that name the key and its line.
public struct Recipe {
    public var name: String
    /// A preset name in Recipes/models/, or a path to a model YAML / config.json.
    public var model: String
    public var initialization: Initialization
    /// Modules that train: any of "vpm", "resampler", "llm"; the rest are frozen.
    public var trainable: [String]
    public var phases: [Phase]
    public var optimizer: OptimizerSpec
    public var checkpoint: CheckpointSpec
    public var evaluation: EvaluationSpec
    public var dpo: DPOSpec?
    public var seed: UInt64
    public var threads: Int?
    public var logEvery: Int
    /// The recipe file's text after overrides, and a hash of it.
    public var text: String
    public var file: String
    /// The `key=value` overrides applied to the file (`trainer run --set`).
    public var overrides: [String] = []

    public enum Initialization: Equatable {
        case random
        case checkpoint(String)
        case huggingFace([String])
    }

    public struct Phase {
        public var name: String
        public var data: DataSpec
        public var steps: Int
        public var schedule: ScheduleSpec
        /// Modules that train in this phase (the recipe's `train` unless the phase names its own).
        public var trainable: [String]
    }

    public struct DataSpec: Equatable {
        /// captions | conversations | preference, or auto: each file's own format (captions and
        /// conversations files mixed in one phase).
        public var format: String
        /// Data files (several are concatenated).
        public var train: [String]
        public var eval: [String]?
        public var tokenizer: String
        public var template: String          // chatml | llama3 | minicpm
        public var schema: String            // 2.0 | 2.5 | 2.6
        public var resolution: Int?          // fixed square size without slicing
        public var maxSlices: Int            // adaptive slicing when resolution is nil
        public var scaleResolution: Int
        public var maxLength: Int
        public var rows: Int
        public var packing: Bool
        public var prompt: String
        public var cache: String?
        /// Train on the text alone (images dropped): language-model warm-up.
        public var textOnly: Bool
    }

    public struct ScheduleSpec: Equatable {
        public var kind: String              // wsd | cosine | constant
        public var warmup: Int
        public var warmupShape: String
        public var decay: String
        public var decayFraction: Double
        public var decaySteps: Int?
        public var stableSteps: Int?
        public var minLRRatio: Double
        public var halfLife: Double?
    }

    public struct OptimizerSpec: Equatable {
        public var lr: Double
        public var weightDecay: Double
        public var beta1: Double
        public var beta2: Double
        public var eps: Double
        public var clip: Double?
        public var accumulation: Int
        public var lrMultipliers: [String: Double]
        public var mup: Bool
        public var decayNormsAndBiases: Bool
    }

    public struct CheckpointSpec: Equatable {
        public var dir: String
        public var every: Int
        public var keep: Int
    }

    public struct EvaluationSpec: Equatable {
        public var every: Int
        public var batches: Int
    }

    public struct DPOSpec: Equatable {
        public var beta: Double
        public var loss: String
        public var labelSmoothing: Double
        public var averageLogps: Bool
        public var sftWeight: Double
        public var reference: String         // precomputed | model
    }

    /// A short hash of the recipe text (stored in checkpoints).
    public var hash: String { fnv1aHex(text) }

    public var totalSteps: Int { phases.reduce(0) { $0 + $1.steps } }
}

extension Recipe {
    static let modules = ["vpm", "resampler", "llm"]

    /// Loads a recipe file with `key=value` overrides (dotted keys) applied first.
    public static func load(_ path: String, overrides: [String] = []) throws -> Recipe {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw RecipeError(file: path, line: nil, message: FileManager.default.fileExists(atPath: path)
                              ? "cannot read the recipe file" : "recipe file not found")
        }
        return try parse(text, file: path, overrides: overrides)
    }

    public static func parse(_ yaml: String, file: String, overrides: [String] = []) throws -> Recipe {
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
            recipe = try Recipe(fields: YAMLFields(root, file: file, path: ""), text: text, file: file)
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
            try i.rejectUnknown(known: ["checkpoint", "huggingface"])
        } else {
            initialization = .random
        }
        trainable = try f.strings("train") ?? Recipe.modules
        for m in trainable where !Recipe.modules.contains(m) {
            throw f.error("train", "names an unknown module `\(m)` (known: vpm, resampler, llm)")
        }
        let seed = try f.int("seed", default: 1234)
        guard seed >= 0 else { throw f.error("seed", "must be a non-negative integer, got \(seed)") }
        self.seed = UInt64(seed)
        threads = try f.int("threads")
        logEvery = try f.int("log_every", default: 1)
        optimizer = try Recipe.optimizer(f.object("optimizer"), f)
        checkpoint = try Recipe.checkpoint(f.object("checkpoint"), name: name)
        evaluation = try Recipe.evaluation(f.object("eval"))
        dpo = try f.object("dpo").map(Recipe.dpoSpec)

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
                let train = try p.strings("train") ?? baseTrainable
                for m in train where !Recipe.modules.contains(m) {
                    throw p.error("train", "names an unknown module `\(m)` (known: vpm, resampler, llm)")
                }
                let phase = Phase(name: try p.string("name", default: "phase\(i + 1)"),
                                  data: try Recipe.data(dataFields, file: file),
                                  steps: steps,
                                  schedule: try Recipe.schedule(p.object("schedule") ?? baseSchedule),
                                  trainable: train)
                try p.rejectUnknown(known: ["name", "data", "steps", "schedule", "train"])
                return phase
            }
        } else {
            guard let baseData else { throw f.missing("data") }
            guard let baseSteps else { throw f.missing("steps") }
            phases = [Phase(name: name, data: try Recipe.data(baseData, file: file), steps: baseSteps,
                            schedule: try Recipe.schedule(baseSchedule), trainable: trainable)]
        }
        for p in phases {
            func fail(_ message: String) -> RecipeError { RecipeError(file: file, line: nil, message: "phase `\(p.name)`: " + message) }
            guard p.steps > 0 else { throw fail("`steps` must be positive") }
            let s = p.schedule
            guard s.warmup >= 0, s.warmup <= p.steps else {
                throw fail("`schedule.warmup` (\(s.warmup)) must lie between 0 and the phase's \(p.steps) steps")
            }
            guard s.decayFraction >= 0, s.decayFraction <= 1 else {
                throw fail("`schedule.decay_fraction` (\(s.decayFraction)) must lie in [0, 1]")
            }
            if s.kind == "wsd", s.decaySteps == nil, s.decayFraction > 0,
               Int((Double(p.steps) * s.decayFraction).rounded()) == 0 {
                throw fail("`schedule.decay_fraction` \(s.decayFraction) of \(p.steps) steps rounds to no decay step; "
                           + "raise it or set `decay_fraction: 0`")
            }
            if let d = s.decaySteps, d < 0 || d > p.steps { throw fail("`schedule.decay_steps` (\(d)) must lie in 0...\(p.steps)") }
        }
        try f.rejectUnknown(known: ["name", "model", "init", "train", "seed", "threads", "log_every", "optimizer",
                                    "checkpoint", "eval", "dpo", "data", "steps", "schedule", "phases"])
    }

    static func data(_ d: YAMLFields, file: String) throws -> DataSpec {
        let format = try d.string("format", default: "captions")
        guard ["captions", "conversations", "preference", "auto"].contains(format) else {
            throw d.error("format", "must be captions, conversations, preference or auto, got `\(format)`")
        }
        let spec = DataSpec(
            format: format,
            train: try d.strings("train") ?? { throw d.missing("train") }(),
            eval: try d.strings("eval"),
            tokenizer: try d.requiredString("tokenizer"),
            template: try d.string("template", default: "chatml"),
            schema: try d.string("schema", default: "2.6"),
            resolution: try d.int("resolution"),
            maxSlices: try d.int("max_slices", default: 9),
            scaleResolution: try d.int("scale_resolution", default: 448),
            maxLength: try d.int("max_length", default: 512),
            rows: try d.int("rows", default: 2),
            packing: try d.bool("packing", default: true),
            prompt: try d.string("prompt", default: "Describe the image."),
            cache: try d.string("cache"),
            textOnly: try d.bool("text_only", default: false))
        guard ["chatml", "llama3", "minicpm"].contains(spec.template) else {
            throw d.error("template", "must be chatml, llama3 or minicpm, got `\(spec.template)`")
        }
        guard ["2.0", "2.5", "2.6"].contains(spec.schema) else {
            throw d.error("schema", "must be 2.0, 2.5 or 2.6, got `\(spec.schema)`")
        }
        guard spec.maxLength > 0, spec.rows > 0 else { throw d.error("max_length", "and `rows` must be positive") }
        try d.rejectUnknown(known: ["format", "train", "eval", "tokenizer", "template", "schema", "resolution",
                                    "max_slices", "scale_resolution", "max_length", "rows", "packing", "prompt", "cache",
                                    "text_only"])
        return spec
    }

    static func schedule(_ s: YAMLFields?) throws -> ScheduleSpec {
        var spec = ScheduleSpec(kind: "wsd", warmup: 0, warmupShape: "linear", decay: "exponential",
                                decayFraction: 0.1, decaySteps: nil, stableSteps: nil, minLRRatio: 0, halfLife: nil)
        guard let s else { return spec }
        spec.kind = try s.string("kind", default: spec.kind)
        spec.warmup = try s.int("warmup", default: 0)
        spec.warmupShape = try s.string("warmup_shape", default: spec.warmupShape)
        spec.decay = try s.string("decay", default: spec.decay)
        spec.decayFraction = try s.double("decay_fraction", default: spec.decayFraction)
        spec.decaySteps = try s.int("decay_steps")
        spec.stableSteps = try s.int("stable_steps")
        spec.minLRRatio = try s.double("min_lr_ratio", default: 0)
        spec.halfLife = try s.double("half_life")
        guard ["wsd", "cosine", "constant"].contains(spec.kind) else {
            throw s.error("kind", "must be wsd, cosine or constant, got `\(spec.kind)`")
        }
        guard ["linear", "cosine", "1-sqrt"].contains(spec.warmupShape) else {
            throw s.error("warmup_shape", "must be linear, cosine or 1-sqrt")
        }
        guard ["exponential", "linear", "cosine", "1-sqrt"].contains(spec.decay) else {
            throw s.error("decay", "must be exponential, linear, cosine or 1-sqrt")
        }
        try s.rejectUnknown(known: ["kind", "warmup", "warmup_shape", "decay", "decay_fraction", "decay_steps",
                                    "stable_steps", "min_lr_ratio", "half_life"])
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
        try o.rejectUnknown(known: ["lr", "weight_decay", "betas", "eps", "clip", "accumulation", "lr_multipliers",
                                    "mup", "decay_norms_and_biases"])
        return spec
    }

    static func checkpoint(_ c: YAMLFields?, name: String) throws -> CheckpointSpec {
        let spec = CheckpointSpec(dir: try c?.string("dir") ?? "Checkpoints/\(name)",
                                  every: try c?.int("every") ?? 0,
                                  keep: try c?.int("keep") ?? 3)
        if let c, spec.every < 0 { throw c.error("every", "must be a number of steps ≥ 0 (0: only at the end)") }
        if let c, spec.keep <= 0 { throw c.error("keep", "must be at least 1") }
        try c?.rejectUnknown(known: ["dir", "every", "keep"])
        return spec
    }

    static func evaluation(_ e: YAMLFields?) throws -> EvaluationSpec {
        let spec = EvaluationSpec(every: try e?.int("every") ?? 0, batches: try e?.int("batches") ?? 4)
        if let e, spec.every < 0 { throw e.error("every", "must be a number of steps ≥ 0 (0: no evaluation)") }
        if let e, spec.batches <= 0 { throw e.error("batches", "must be at least 1") }
        try e?.rejectUnknown(known: ["every", "batches"])
        return spec
    }

    static func dpoSpec(_ d: YAMLFields) throws -> DPOSpec {
        let spec = DPOSpec(beta: try d.double("beta", default: 0.1),
                           loss: try d.string("loss", default: "sigmoid"),
                           labelSmoothing: try d.double("label_smoothing", default: 0),
                           averageLogps: try d.bool("average_logps", default: false),
                           sftWeight: try d.double("sft_weight", default: 0),
                           reference: try d.string("reference", default: "precomputed"))
        guard ["sigmoid", "ipo", "hinge", "robust", "conservative"].contains(spec.loss) else {
            throw d.error("loss", "must be sigmoid, ipo, hinge, robust or conservative, got `\(spec.loss)`")
        }
        guard ["precomputed", "model"].contains(spec.reference) else {
            throw d.error("reference", "must be precomputed or model")
        }
        try d.rejectUnknown(known: ["beta", "loss", "label_smoothing", "average_logps", "sft_weight", "reference"])
        return spec
    }
}

extension Recipe {
    /// The command that runs this recipe again with the same overrides, e.g. to resume it.
    public func command(_ extra: String) -> String {
        func quoted(_ s: String) -> String {
            s.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,+@".contains($0) } ? s
                : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }
        return (["trainer", "run", quoted(file)] + overrides.flatMap { ["--set", quoted($0)] } + [extra])
            .joined(separator: " ")
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

func fnv1aHex(_ s: String) -> String {
    var h = FNV1a()
    h.add(s)
    return h.hex
}
