import Autograd
import Core
import Datasets
import Foundation
import Models

/// The data of one phase: the preprocessed training and held-out samples and
/// their loaders, plus (for preference data) the reference log-probs.
final class PhaseData {
    let spec: Recipe.DataSpec
    let builder: SampleBuilder
    let trainSource: SampleSource
    let evalSource: SampleSource?
    let train: DataLoader
    let loaderConfig: DataLoaderConfig
    /// Σ log p of each completion under the reference model, by sample index.
    var referenceTrain: [Float]?
    var referenceEval: [Float]?
    let cacheDirectory: String

    init(recipe: Recipe, phase: Recipe.Phase, model: MiniCPMV, log: @escaping (String) -> Void,
         restoring saved: String?) throws {
        spec = phase.data
        let positions = model.config.llm.maxPositionEmbeddings
        guard phase.data.maxLength <= positions else {
            throw RecipeError(file: recipe.file, line: nil, message: "phase `\(phase.name)`: `data.max_length` "
                              + "\(phase.data.maxLength) is longer than the model's \(positions) positions "
                              + "(`max_position_embeddings`)")
        }
        let cache = phase.data.cache ?? "Checkpoints/.cache"
        let builder = try RunSetup.builder(phase.data, config: model.config)
        cacheDirectory = cache
        self.builder = builder
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

    /// Held-out loss over the first `batches` batches (no graph, no update).
    func evaluate(model: MiniCPMV, batches: Int, objective: PhaseObjective) throws -> Double? {
        guard let loader = try evalLoader() else { return nil }
        let n = min(batches, max(1, loader.epochPlan().batches))
        return try objective.heldOutLoss(model: model, loader: loader, batches: n, data: self)
    }

    // MARK: - Reference log-probs (DPO)

    /// Computes Σ log p of every completion under the current model (the frozen
    /// reference), once, and keeps them in the data cache keyed by the data and
    /// the weights; a resumed run gets them from its checkpoint instead.
    func prepareReference(model: MiniCPMV, log: (String) -> Void) throws {
        if referenceTrain != nil { return }
        let key = String(format: "%016llx", weightsFingerprint(model)) + "-" + shardKey(trainSource)
            + "-" + (evalSource.map(shardKey) ?? "none")
        let file = (cacheDirectory as NSString).appendingPathComponent("reference-\(key).bin")
        if let cached = readFloats(file), cached.count == trainSource.count + (evalSource?.count ?? 0) {
            referenceTrain = Array(cached[..<trainSource.count])
            referenceEval = Array(cached[trainSource.count...])
            log("dpo: reference log-probs from the cache (\(file))")
            return
        }
        let start = Date()
        referenceTrain = try referenceLogProbs(model: model, source: trainSource)
        referenceEval = try evalSource.map { try referenceLogProbs(model: model, source: $0) } ?? []
        writeFloats(referenceTrain! + referenceEval!, to: file)
        log(String(format: "dpo: reference log-probs of %d completions computed in %.1fs → %@",
                   referenceTrain!.count + referenceEval!.count, Date().timeIntervalSince(start), file))
    }

    private func referenceLogProbs(model: MiniCPMV, source: SampleSource) throws -> [Float] {
        var out = [Float](repeating: 0, count: source.count)
        var c = loaderConfig
        c.shuffle = false
        let loader = try DataLoader(source: source, config: c)
        let batches = loader.epochPlan().batches
        try noGrad {
            for _ in 0..<batches {
                let b = try loader.next()
                let lp = try model.sequenceLogProbs(modelInput(b))
                for (k, seg) in lp.segmentIds.enumerated() where seg >= 0 {
                    out[b.segments[Int(seg)].sourceIndex] = lp.sums.pointer[k]
                }
            }
        }
        return out
    }

    private func shardKey(_ s: SampleSource) -> String {
        if let r = s as? ShardReader { return String(r.key.prefix(16)) }
        if let c = s as? ConcatenatedSource { return c.parts.map(shardKey).joined(separator: "+") }
        return "memory\(s.count)"
    }
}

/// A 64-bit FNV-1a over every parameter's bits: identifies the reference weights.
func weightsFingerprint(_ model: MiniCPMV) -> UInt64 {
    var h = FNV1a()
    for (path, p) in model.namedParameters() {
        h.add(path)
        let v = p.value.pointer
        for i in 0..<p.value.count { h.add(UInt64(v[i].bitPattern)) }
    }
    return h.value
}

func readFloats(_ path: String) -> [Float]? {
    guard let d = FileManager.default.contents(atPath: path), d.count % 4 == 0 else { return nil }
    return d.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
}

func writeFloats(_ values: [Float], to path: String) {
    try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                             withIntermediateDirectories: true)
    let data = values.withUnsafeBufferPointer { Data(buffer: $0) }
    try? data.write(to: URL(fileURLWithPath: path), options: .atomic)
}
