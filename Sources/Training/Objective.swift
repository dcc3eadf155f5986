import Autograd
import Core
import Datasets
import Foundation
import Models

/// What a phase optimises: next-token prediction, or DPO on preference pairs.
/// Pretraining, SFT and DPO differ only here and in their data format.
enum PhaseObjective {
    case languageModel
    case dpo(DPOConfig)

    init(data: Recipe.DataSpec, dpo: DPOConfig) {
        self = data.format == .preference ? .dpo(dpo) : .languageModel
    }

    /// Forward and backward over the micro-batches; gradients are left in the parameters.
    func step(model: MiniCPMV, batches: [PackedBatch], data: PhaseData) throws -> StepResult {
        let inputTokens = batches.reduce(0) { $0 + $1.tokenCount }
        let images = batches.reduce(0) { $0 + Set($1.segments.filter { !$0.slices.isEmpty }.map(\.id)).count }
        switch self {
        case .languageModel:
            let (loss, tokens) = try languageModelStep(model: model, batches: batches)
            return StepResult(loss: loss, gradNorm: 0, lr: 0, tokens: tokens, inputTokens: inputTokens, images: images)
        case .dpo(let config):
            var loss = 0.0, metrics: [String: Double] = [:], tokens = 0
            for b in batches {
                let out = try dpoBatch(model: model, batch: b, config: config, reference: data.referenceTrain ?? [])
                (out.output.loss * (1 / Float(batches.count))).backward()
                loss += Double(out.output.loss.item) / Double(batches.count)
                for (k, v) in out.output.metrics { metrics[k, default: 0] += v / Double(batches.count) }
                tokens += out.tokens
            }
            return StepResult(loss: loss, gradNorm: 0, lr: 0, tokens: tokens, inputTokens: inputTokens,
                              images: images, metrics: metrics)
        }
    }

    /// Held-out loss over the next `batches` batches of `loader`, without a graph:
    /// per supervised token, or per preference pair.
    func heldOutLoss(model: MiniCPMV, loader: DataLoader, batches: Int, data: PhaseData) throws -> Double? {
        switch self {
        case .languageModel:
            return try Training.heldOutLoss(model, loader, batches: batches).loss
        case .dpo(let config):
            return try noGrad {
                var total = 0.0, pairs = 0
                for _ in 0..<batches {
                    let b = try loader.next()
                    let out = try dpoBatch(model: model, batch: b, config: config, reference: data.referenceEval ?? [])
                    total += Double(out.output.loss.item) * Double(b.groups.count); pairs += b.groups.count
                }
                return pairs > 0 ? total / Double(pairs) : nil
            }
        }
    }

    /// The DPO loss of a batch of pairs: summed completion log-probs of chosen and
    /// rejected under the policy (on the tape) against the precomputed reference.
    private func dpoBatch(model: MiniCPMV, batch b: PackedBatch, config: DPOConfig,
                          reference: [Float]) throws -> (output: DPOOutput, tokens: Int) {
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
}
