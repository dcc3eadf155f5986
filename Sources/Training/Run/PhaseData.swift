import Autograd
import Core
import Datasets
import Foundation
import Models

/// The data of one phase: the preprocessed training and held-out samples and
/// their loaders.
final class PhaseData {
    let trainSource: SampleSource
    let evalSource: SampleSource?
    let train: DataLoader
    let loaderConfig: DataLoaderConfig
    let cacheDirectory: String

    init(recipe: Recipe, phase: Recipe.Phase, model: MiniCPMV, log: @escaping (String) -> Void,
         restoring saved: String?) throws {
        let positions = model.config.llm.maxPositionEmbeddings
        guard phase.data.maxLength <= positions else {
            throw RecipeError(file: recipe.file, line: nil, message: "phase `\(phase.name)`: `data.max_length` "
                              + "\(phase.data.maxLength) is longer than the model's \(positions) positions "
                              + "(`max_position_embeddings`)")
        }
        let cache = phase.data.cache ?? "Checkpoints/.cache"
        let builder = try RunSetup.builder(phase.data, config: model.config)
        cacheDirectory = cache
        func load(_ files: [String]) throws -> SampleSource {
            let parts: [SampleSource] = try files.map { file -> SampleSource in
                if phase.data.textOnly { return try RunSetup.textOnlySamples(file, data: phase.data, builder: builder) }
                return try RunSetup.samples(file, data: phase.data, builder: builder, cacheDirectory: cache, log: log)
            }
            return parts.count == 1 ? parts[0] : ConcatenatedSource(parts)
        }
        trainSource = try load(phase.data.train)
        evalSource = try phase.data.eval.map(load)
        let padId = builder.tokenizer.id(of: "<|endoftext|>") ?? 0
        loaderConfig = RunSetup.loaderConfig(phase.data, seed: recipe.seed, padId: padId)
        train = try DataLoader(source: trainSource, config: loaderConfig)
        if let saved, !saved.isEmpty {
            let state: DataLoaderState
            do { state = try JSONDecoder().decode(DataLoaderState.self, from: Data(saved.utf8)) } catch {
                throw DataError.stateMismatch(reason: "the data cursor saved in the checkpoint is unreadable: \(error)")
            }
            try train.restore(state)
        }
    }

    var description: String {
        let stats = train.epochPlan().statistics
        return "\(trainSource.count) training samples\(evalSource.map { ", \($0.count) held out" } ?? ""); \(stats)"
    }

    func loaderStateJSON() -> String {
        String(decoding: (try? JSONEncoder().encode(train.state)) ?? Data(), as: UTF8.self)
    }

    /// A fresh, unshuffled loader over the held-out samples.
    func evalLoader() throws -> DataLoader? {
        guard let evalSource else { return nil }
        var c = loaderConfig
        c.shuffle = false
        return try DataLoader(source: evalSource, config: c)
    }
}
