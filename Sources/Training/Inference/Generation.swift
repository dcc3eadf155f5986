import Autograd
import Core
import Checkpointing
import Datasets
import Foundation
import Models

/// Text generation from a checkpoint: the prompt (with image slices) is run once
/// to fill a KV cache, then one token at a time is sampled and fed back.
public final class Generator {
    public let model: MiniCPMV
    public let builder: SampleBuilder
    let stopIds: Set<Int32>

    /// Loads the model of a checkpoint; the tokenizer, chat template and image
    /// settings come from the recipe stored in it (its last phase), unless given.
    public init(checkpoint: String, tokenizer: String? = nil, slicing: Recipe.DataSpec? = nil) throws {
        let file = try ModelStore.open(checkpoint)
        defer { file.close() }
        model = try ModelStore.model(in: file)
        model.isTraining = false
        var spec: Recipe.DataSpec
        if let slicing {
            spec = slicing
        } else if file.exists("recipe/text") {
            let recipe = try Recipe.parse(try file.readString("recipe/text"), file: "\(checkpoint):/recipe/text", stored: true)
            spec = recipe.phases.last!.data
        } else {
            guard let tokenizer else {
                throw CheckpointError(file: checkpoint, message: "holds no recipe; pass --tokenizer")
            }
            guard let schema = PlaceholderSchema(rawValue: model.config.version) else {
                throw CheckpointError(file: checkpoint, message: "unknown MiniCPM-V version \(model.config.version)")
            }
            spec = Recipe.DataSpec(format: .captions, train: [], eval: nil, tokenizer: tokenizer, template: .chatml,
                                   schema: schema, resolution: nil, maxSlices: 9, scaleResolution: 448,
                                   maxLength: 2048, rows: 1, packing: true, prompt: "Describe the image.", cache: nil,
                                   textOnly: false)
        }
        if let tokenizer { spec.tokenizer = tokenizer }
        builder = try RunSetup.builder(spec, config: model.config)
        let t = builder.tokenizer
        stopIds = Set([builder.template.endOfTurnToken, "<|endoftext|>", "</s>"].compactMap { t.id(of: $0) })
    }

    /// The answer to `question` about the images (paths), streamed through `onText`.
    public func generate(question: String, images: [String], sampling: SamplingConfig = .greedy,
                         maxTokens: Int = 128, rng: inout RNG, onText: ((String) -> Void)? = nil) throws -> String {
        let prompt = try builder.prompt(question: question, images: images)
        let ids = prompt.inputIds
        return try noGrad {
            let cache = model.llm.makeCache()
            let input = modelInput(prompt)
            try input.validate(for: model.config)
            let hidden = model.llm.hiddenStates(embeddings: model.inputEmbeddings(input),
                                                positions: input.positionIds, cache: cache)     // [1, T, D]
            var logits = model.llm.logits(hidden: hidden.slice(axis: 1, ids.count - 1, ids.count))  // [1, 1, V]
            var out: [Int32] = [], shown = ""
            for _ in 0..<maxTokens {
                let next = Int32(try sampleToken(logits, config: sampling, rng: &rng))
                if stopIds.contains(next) { break }
                out.append(next)
                let text = builder.tokenizer.decode(out)
                if let onText, text.count > shown.count, !text.hasSuffix("\u{FFFD}") {
                    onText(String(text.dropFirst(shown.count))); shown = text
                }
                guard ids.count + out.count < model.config.llm.maxPositionEmbeddings else { break }
                logits = model.llm(ids: [next], batch: 1, positions: [Int32(ids.count + out.count - 1)], cache: cache)
            }
            let text = builder.tokenizer.decode(out)
            if let onText, text.count > shown.count { onText(String(text.dropFirst(shown.count))) }
            return text
        }
    }
}
