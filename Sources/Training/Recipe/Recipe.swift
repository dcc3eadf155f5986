import Foundation
import Core
import Datasets
import NN
import Optimizers

/// A training recipe: one row of the paper's stage table, as YAML.
///
/// Every value is typed: a misspelt choice is refused when the file is read
/// (RecipeParsing.swift), never turned into a default later. The README
/// documents every key; the coding keys are the YAML names, so the encoded
/// recipe is what the resume check compares (RunCheckpoint.swift).
public struct Recipe: Encodable, Equatable {
    public var name: String
    /// A preset name in Recipes/models/, or a path to a model YAML / config.json.
    public var model: String
    public var initialization: Initialization
    /// `init.adapter`: a PEFT LoRA folder (adapter_config.json + adapter_model.safetensors)
    /// folded into the initial weights.
    public var initAdapter: String?
    /// Modules that train: any of `Recipe.modules`; the rest are frozen.
    public var trainable: [String]
    /// LoRA fine-tuning: adapters on the layers `lora.targets` matches; nil trains whole modules.
    public var lora: LoRASpec?
    /// `memory.recompute: layers`: keep each layer's input only and recompute the layer in backward.
    public var recomputeLayers: Bool
    /// `memory.frozen: bf16`: frozen weights of linear layers and embeddings kept in bfloat16.
    public var frozenInBF16: Bool
    public var phases: [Phase]
    public var optimizer: OptimizerSpec
    public var checkpoint: CheckpointSpec
    public var evaluation: EvaluationSpec
    /// The DPO loss of preference phases (`DPOConfig()`'s defaults where the recipe is silent).
    public var dpo: DPOConfig
    public var seed: UInt64
    public var threads: Int?
    public var logEvery: Int
    /// The recipe file's text after overrides, and a hash of it.
    public var text: String
    public var file: String
    /// The `key=value` overrides applied to the file (`trainer run --set`).
    public var overrides: [String] = []

    /// The model's three parts, as `train:` names them.
    public static let modules = ["vpm", "resampler", "llm"]

    enum CodingKeys: String, CodingKey {
        case name, model, initialization = "init", trainable = "train", lora, phases, optimizer, checkpoint
        case evaluation = "eval", dpo, seed, threads, logEvery = "log_every"
    }

    public enum Initialization: Codable, Equatable {
        case random
        case checkpoint(String)
        case huggingFace([String])

        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .random: try c.encode("random")
            case .checkpoint(let path): try c.encode(["checkpoint": path])
            case .huggingFace(let dirs): try c.encode(["huggingface": dirs])
            }
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let path = try? c.decode([String: String].self)["checkpoint"] { self = .checkpoint(path) }
            else if let dirs = try? c.decode([String: [String]].self)["huggingface"] { self = .huggingFace(dirs) }
            else { self = .random }
        }
    }

    /// `lora:` — low-rank adapters on the linear layers `targets` matches (a regular
    /// expression over dotted paths, or `all-linear`: every linear layer of the LLM but
    /// the output head); the modules (or dotted paths) in `full` train in full beside them.
    public struct LoRASpec: Encodable, Equatable {
        public var rank: Int
        public var alpha: Double
        public var dropout: Double
        public var targets: String
        public var full: [String]

        public init(rank: Int, alpha: Double, dropout: Double, targets: String, full: [String]) {
            self.rank = rank; self.alpha = alpha; self.dropout = dropout; self.targets = targets; self.full = full
        }

        /// The official finetune's attention projections of the LLM.
        public static let attentionTargets = #"llm\..*layers\.\d+\.self_attn\.(q_proj|k_proj|v_proj|o_proj)"#
        public static let allLinearTargets = #"llm\.model\..*"#

        public var config: LoRAConfig {
            LoRAConfig(rank: rank, alpha: alpha, dropout: dropout,
                       targets: targets == "all-linear" ? LoRASpec.allLinearTargets : targets)
        }
    }

    public struct Phase: Encodable, Equatable {
        public var name: String
        public var data: DataSpec
        public var steps: Int
        public var schedule: ScheduleSpec
        /// Modules that train in this phase (the recipe's `train` unless the phase names its own).
        public var trainable: [String]

        enum CodingKeys: String, CodingKey { case name, data, steps, schedule, trainable = "train" }
    }

    public struct DataSpec: Encodable, Equatable {
        /// One format for every file, or nil (`format: auto`): each file's records decide
        /// (captions and conversations files mixed in one phase).
        public var format: DataFormat?
        /// Data files (several are concatenated).
        public var train: [String]
        public var eval: [String]?
        public var tokenizer: String
        public var template: ChatTemplate
        public var schema: PlaceholderSchema
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

        enum CodingKeys: String, CodingKey {
            case format, train, eval, tokenizer, template, schema, resolution, maxSlices = "max_slices"
            case scaleResolution = "scale_resolution", maxLength = "max_length", rows, packing, prompt, cache
            case textOnly = "text_only"
        }
    }

    public enum ScheduleKind: String, Codable, CaseIterable {
        case wsd, cosine, constant
    }

    public struct ScheduleSpec: Encodable, Equatable {
        public var kind: ScheduleKind
        public var warmup: Int
        public var warmupShape: WarmupShape
        public var decay: DecayShape
        public var decayFraction: Double
        public var decaySteps: Int?
        public var stableSteps: Int?
        public var minLRRatio: Double
        public var halfLife: Double?

        enum CodingKeys: String, CodingKey {
            case kind, warmup, warmupShape = "warmup_shape", decay, decayFraction = "decay_fraction"
            case decaySteps = "decay_steps", stableSteps = "stable_steps", minLRRatio = "min_lr_ratio"
            case halfLife = "half_life"
        }

        /// The MiniCPM schedule: warm-up, a stable phase, then an exponential decay over the last tenth.
        public static let minicpm = ScheduleSpec(kind: .wsd, warmup: 0, warmupShape: .linear, decay: .exponential,
                                                 decayFraction: 0.1, decaySteps: nil, stableSteps: nil,
                                                 minLRRatio: 0, halfLife: nil)
    }

    public struct OptimizerSpec: Encodable, Equatable {
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

        enum CodingKeys: String, CodingKey {
            case lr, weightDecay = "weight_decay", beta1, beta2, eps, clip, accumulation
            case lrMultipliers = "lr_multipliers", mup, decayNormsAndBiases = "decay_norms_and_biases"
        }
    }

    public struct CheckpointSpec: Encodable, Equatable {
        public var dir: String
        public var every: Int
        public var keep: Int
    }

    public struct EvaluationSpec: Encodable, Equatable {
        public var every: Int
        public var batches: Int
    }

    /// A short hash of the recipe text (stored in checkpoints).
    public var hash: String { String(format: "%016llx", FNV1a.hash(text)) }

    public var totalSteps: Int { phases.reduce(0) { $0 + $1.steps } }
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
