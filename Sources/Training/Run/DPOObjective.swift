import Autograd
import Core
import Checkpointing
import Datasets
import Foundation
import Models

/// DPO on preference pairs against a frozen reference: the starting weights of
/// the phase. The reference log-probs (Σ log p of every completion) are computed
/// once, kept in the data cache keyed by the data and the weights, and written into
/// every checkpoint of the phase, so no second model sits in memory and a resumed
/// run reads them back instead of recomputing them from moved weights.
final class DPOObjective: Objective {
    let config: DPOConfig
    /// Σ log p of each completion under the reference, by sample index.
    let referenceTrain: [Float]
    let referenceEval: [Float]

    /// `resume`: the checkpoint this phase continues from (mid-phase), which holds the reference.
    init(config: DPOConfig, data: PhaseData, model: MiniCPMV, resume: String?, log: (String) -> Void) throws {
        self.config = config
        if let resume {
            let f = try ModelStore.open(resume)
            defer { f.close() }
            if f.exists("state/reference_logps/train") {
                referenceTrain = try f.readFloats("state/reference_logps/train").values
                referenceEval = try f.readFloats("state/reference_logps/eval").values
                return
            }
        }
        (referenceTrain, referenceEval) = try DPOObjective.reference(model: model, data: data, log: log)
    }

    func step(model: MiniCPMV, batches: [PackedBatch]) throws -> StepResult {
        var loss = 0.0, metrics: [String: Double] = [:], tokens = 0
        for b in batches {
            let out = try dpoBatch(model: model, batch: b, reference: referenceTrain)
            (out.output.loss * (1 / Float(batches.count))).backward()
            loss += Double(out.output.loss.item) / Double(batches.count)
            for (k, v) in out.output.metrics { metrics[k, default: 0] += v / Double(batches.count) }
            tokens += out.tokens
        }
        return StepResult(batches, loss: loss, tokens: tokens, metrics: metrics)
    }

    /// Held-out DPO loss per preference pair.
    func heldOutLoss(model: MiniCPMV, loader: DataLoader, batches: Int) throws -> Double? {
        try noGrad {
            var total = 0.0, pairs = 0
            for _ in 0..<batches {
                let b = try loader.next()
                let out = try dpoBatch(model: model, batch: b, reference: referenceEval)
                total += Double(out.output.loss.item) * Double(b.groups.count); pairs += b.groups.count
            }
            return pairs > 0 ? total / Double(pairs) : nil
        }
    }

    func save(into f: HDF5File) throws {
        try f.write("state/reference_logps/train", floats: referenceTrain, shape: [referenceTrain.count])
        try f.write("state/reference_logps/eval", floats: referenceEval, shape: [referenceEval.count])
    }

    /// The DPO loss of a batch of pairs: summed completion log-probs of chosen and
    /// rejected under the policy (on the tape) against the precomputed reference.
    private func dpoBatch(model: MiniCPMV, batch b: PackedBatch, reference: [Float]) throws -> (output: DPOOutput, tokens: Int) {
        let lp = try model.sequenceLogProbs(modelInput(b))
        var position: [Int32: Int] = [:]
        for (k, seg) in lp.segmentIds.enumerated() where seg >= 0 { position[seg] = k }
        var chosen: [Int32] = [], rejected: [Int32] = []
        var refC: [Float] = [], refR: [Float] = [], lenC: [Int] = [], lenR: [Int] = []
        for g in b.groups where g.count == 2 {
            guard let c = position[Int32(g[0])], let r = position[Int32(g[1])] else { continue }
            chosen.append(Int32(c)); rejected.append(Int32(r))
            let sc = b.segments[g[0]], sr = b.segments[g[1]]
            guard sc.sourceIndex < reference.count, sr.sourceIndex < reference.count else {
                throw DataError.stateMismatch(reason: "DPO: no reference log-probs for sample \(sc.id)")
            }
            refC.append(reference[sc.sourceIndex]); refR.append(reference[sr.sourceIndex])
            lenC.append(lp.tokenCounts[c]); lenR.append(lp.tokenCounts[r])
        }
        let sums = lp.sums.reshaped([lp.sums.count, 1])
        let pc = sums.indexSelect(chosen).reshaped([chosen.count])
        let pr = sums.indexSelect(rejected).reshaped([rejected.count])
        let inputs = DPOInputs(policyChosen: pc, policyRejected: pr, referenceChosen: refC, referenceRejected: refR,
                               chosenLengths: lenC, rejectedLengths: lenR,
                               chosenNLLSum: config.sftWeight > 0 ? -pc.sum() : nil,
                               chosenTokenCount: lenC.reduce(0, +))
        return (try dpoLoss(inputs, config: config), lenC.reduce(0, +) + lenR.reduce(0, +))
    }

    // MARK: - Reference log-probs

    /// The reference log-probs of the phase's training and held-out completions under
    /// `model`, from the data cache when these weights and data were seen before.
    static func reference(model: MiniCPMV, data: PhaseData, log: (String) -> Void) throws -> (train: [Float], eval: [Float]) {
        let key = String(format: "%016llx", weightsFingerprint(model)) + "-" + shardKey(data.trainSource)
            + "-" + (data.evalSource.map(shardKey) ?? "none")
        let file = (data.cacheDirectory as NSString).appendingPathComponent("reference-\(key).bin")
        let trainCount = data.trainSource.count
        if let cached = readFloats(file), cached.count == trainCount + (data.evalSource?.count ?? 0) {
            log("dpo: reference log-probs from the cache (\(file))")
            return (Array(cached[..<trainCount]), Array(cached[trainCount...]))
        }
        let start = Date()
        let train = try logProbs(model: model, source: data.trainSource, config: data.loaderConfig)
        let eval = try data.evalSource.map { try logProbs(model: model, source: $0, config: data.loaderConfig) } ?? []
        writeFloats(train + eval, to: file)
        log(String(format: "dpo: reference log-probs of %d completions computed in %.1fs → %@",
                   train.count + eval.count, Date().timeIntervalSince(start), file))
        return (train, eval)
    }

    private static func logProbs(model: MiniCPMV, source: SampleSource, config: DataLoaderConfig) throws -> [Float] {
        var out = [Float](repeating: 0, count: source.count)
        var c = config
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

    private static func shardKey(_ s: SampleSource) -> String {
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
        for x in p.floats { h.add(UInt64(x.bitPattern)) }
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
