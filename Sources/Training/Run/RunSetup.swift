import Autograd
import Core
import Checkpointing
import Datasets
import Foundation
import Tokenizers
import Models
import NN

/// Builds what a recipe names: the model (from a preset, a checkpoint or
/// Hugging Face weights) and the data loaders of a phase.
public enum RunSetup {
    /// The model config a recipe names: a file, or a preset from `models/` beside the
    /// recipe file (the shipped presets are Recipes/models/), else from Recipes/models/
    /// under the working directory.
    public static func modelConfig(_ recipe: Recipe) throws -> MiniCPMVConfig {
        let beside = ((recipe.file as NSString).deletingLastPathComponent as NSString).appendingPathComponent("models")
        let directory = FileManager.default.fileExists(atPath: (beside as NSString).appendingPathComponent(recipe.model + ".yaml"))
            ? beside : "Recipes/models"
        return try MiniCPMVConfig.preset(recipe.model, directory: directory)
    }

    /// The model with its initial weights, and a line saying where they came from.
    /// With `memory.frozen: bf16` the weights the first phase freezes are narrowed
    /// before they are read, so a real-size base never exists in float32.
    public static func model(_ recipe: Recipe) throws -> (MiniCPMV, String) {
        let frozen: ((String) -> Bool)? = recipe.frozenInBF16
            ? { !LoRARun.trains($0, modules: recipe.phases[0].trainable, lora: recipe.lora) } : nil
        switch recipe.initialization {
        case .random:
            let config = try modelConfig(recipe)
            return (MiniCPMV(config: config, seed: recipe.seed), "random (seed \(recipe.seed))")
        case .checkpoint(let path):
            let model = try ModelStore.model(checkpoint: path, seed: recipe.seed, bf16: frozen)
            if let adapter = recipe.initAdapter { try PEFTAdapter.fold(adapter, into: model) }
            let wanted = try modelConfig(recipe)
            if wanted != model.config {
                throw CheckpointError(file: path, message: "holds a different model than the recipe's `model: \(recipe.model)`: "
                                      + configDifferences(model.config, wanted).joined(separator: "; "))
            }
            return (model, "checkpoint \(path)" + (recipe.initAdapter.map { " with the adapters of \($0) folded in" } ?? ""))
        case .huggingFace(let dirs):
            let model = try ModelStore.model(huggingFace: dirs, seed: recipe.seed, bf16: frozen).model
            if let adapter = recipe.initAdapter { try PEFTAdapter.fold(adapter, into: model) }
            return (model, "Hugging Face weights from \(dirs.joined(separator: " + "))"
                    + (recipe.initAdapter.map { " with the adapters of \($0) folded in" } ?? ""))
        }
    }

    /// Which config fields differ, as "field: a → b".
    static func configDifferences(_ a: MiniCPMVConfig, _ b: MiniCPMVConfig) -> [String] {
        let fa = flattenedJSON(Data(((try? a.jsonString()) ?? "").utf8))
        let fb = flattenedJSON(Data(((try? b.jsonString()) ?? "").utf8))
        let keys = Set(fa.keys).union(fb.keys).sorted()
        let diffs = keys.filter { fa[$0] != fb[$0] }.map { "\($0): \(fa[$0] ?? "–") → \(fb[$0] ?? "–")" }
        return diffs.isEmpty ? ["(configs differ)"] : Array(diffs.prefix(8))
    }

    /// Freezes every parameter outside `modules` (and, with `lora`, outside the adapters
    /// and `lora.full`); returns (trainable, frozen) parameter counts.
    @discardableResult
    public static func applyTrainable(_ modules: [String], lora: Recipe.LoRASpec? = nil,
                                      to model: MiniCPMV) -> (trainable: Int, frozen: Int) {
        var t = 0, f = 0
        for (path, p) in model.namedParameters() {
            p.isTrainable = LoRARun.trains(path, modules: modules, lora: lora)
            if p.isTrainable { t += p.count } else { f += p.count }
        }
        return (t, f)
    }

    // MARK: - Data

    /// The sample builder of a phase: tokenizer, chat template, slicing and placeholders.
    public static func builder(_ data: Recipe.DataSpec, config: MiniCPMVConfig) throws -> SampleBuilder {
        let tokenizer = try Tokenizer(contentsOf: data.tokenizer)
        guard tokenizer.vocabSize <= config.llm.vocabSize else {
            throw RecipeError(file: data.tokenizer, line: nil,
                              message: "the tokenizer has \(tokenizer.vocabSize) tokens but the model's vocabulary is \(config.llm.vocabSize)")
        }
        try data.template.check(tokenizer: tokenizer)
        var slicing = Datasets.SliceConfig(maxSliceNums: data.maxSlices, scaleResolution: data.scaleResolution,
                                  patchSize: config.vision.patchSize, neverSplit: false)
        if let r = data.resolution { slicing.scaleResolution = r; slicing.neverSplit = true }
        try slicing.validate()
        let images = ImagePreprocessor(slicing: slicing,
                                       placeholders: PlaceholderStyle(schema: data.schema, queryCount: config.queryNum))
        return try SampleBuilder(tokenizer: tokenizer, template: data.template, images: images, captionPrompt: data.prompt)
    }

    /// The preprocessed samples of a data file, through the shard cache.
    public static func samples(_ file: String, data: Recipe.DataSpec, builder: SampleBuilder,
                               cacheDirectory: String, log: @escaping (String) -> Void) throws -> ShardReader {
        guard FileManager.default.fileExists(atPath: file) else {
            throw RecipeError(file: file, line: nil, message: "data file not found")
        }
        let cache = ShardCache(directory: URL(fileURLWithPath: cacheDirectory), log: log)
        let (shard, outcome) = try cache.samples(of: URL(fileURLWithPath: file), format: data.format, builder: builder)
        switch outcome {
        case .hit: log("data: \(file): \(shard.count) samples from the cache")
        case .built: log("data: \(shard.report)")
        case .rebuilt(let reason): log("data: \(shard.report) (cache rebuilt: \(reason))")
        }
        if data.format == nil && shard.groupSize > 1 {
            throw RecipeError(file: file, line: nil,
                              message: "holds preference records; `format: auto` mixes captions and conversations only")
        }
        guard shard.count > 0 else {
            throw RecipeError(file: file, line: nil, message: "no usable samples (\(shard.report.skipped.count) skipped)")
        }
        return shard
    }

    /// The samples of a data file with the images left out: captions become a
    /// prompt and its answer, conversations lose their image markers. Built in
    /// memory (text is cheap to tokenise).
    public static func textOnlySamples(_ file: String, data: Recipe.DataSpec, builder: SampleBuilder) throws -> InMemorySamples {
        guard FileManager.default.fileExists(atPath: file) else {
            throw RecipeError(file: file, line: nil, message: "data file not found")
        }
        let records = try readRecords(URL(fileURLWithPath: file))
        var samples: [TrainingSample] = []
        for record in records {
            let conversation: ConversationRecord
            switch record {
            case .caption(let r):
                conversation = ConversationRecord(location: r.location, id: r.id, images: [],
                                                  turns: [DialogueTurn(role: .user, content: data.prompt),
                                                          DialogueTurn(role: .assistant, content: r.caption)])
            case .conversation(let r):
                conversation = ConversationRecord(location: r.location, id: r.id, images: [], turns: r.textTurns)
            case .preference(let r):
                throw RecipeError(file: file, line: nil, message: "`text_only` does not apply to preference data (record \(r.id))")
            }
            samples += try builder.samples(.conversation(conversation))
        }
        return InMemorySamples(samples)
    }

    /// The loader configuration of a phase.
    public static func loaderConfig(_ data: Recipe.DataSpec, seed: UInt64, padId: Int32, shuffle: Bool = true) -> DataLoaderConfig {
        DataLoaderConfig(maxLength: data.maxLength,
                         batch: data.format == .preference ? .groups(data.rows) : .rows(data.rows),
                         seed: seed, shuffle: shuffle, packing: data.packing, padId: padId)
    }
}
