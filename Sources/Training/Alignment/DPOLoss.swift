import Foundation
import Autograd
import Core

/// Direct Preference Optimisation losses (Rafailov et al.), with TRL's loss
/// names, formulas and logged metrics.
///
/// Notation: π_c, π_r are the policy's summed completion log-probs of the chosen
/// and rejected answers, ref_c, ref_r the reference model's (precomputed once,
/// so the reference model never has to be resident while training), and
/// Δ = (π_c − ref_c) − (π_r − ref_r). With ε = label smoothing:
///
/// | kind           | per-example loss                                        |
/// |----------------|---------------------------------------------------------|
/// | `sigmoid`      | −log σ(βΔ)                                              |
/// | `hinge`        | max(0, 1 − βΔ)                                          |
/// | `ipo`          | (Δ̄ − 1/(2β))², each log-ratio divided by its length     |
/// | `robust`       | [−(1−ε) log σ(βΔ) + ε log σ(−βΔ)] / (1 − 2ε)            |
/// | `conservative` | −(1−ε) log σ(βΔ) − ε log σ(−βΔ)   (cDPO)                |
///
/// The batch loss is the mean over examples, plus optionally an SFT term on the
/// chosen answers (RPO-style): weight × (Σ NLL of chosen tokens) / (#chosen tokens).
public enum DPOLossKind: String, CaseIterable, Codable {
    case sigmoid, ipo, hinge, robust, conservative
}

public struct DPOConfig: Encodable, Equatable {
    public var kind: DPOLossKind
    /// β: strength of the KL constraint toward the reference (RLAIF-V uses 0.1).
    public var beta: Float
    /// ε, used by `robust` and `conservative`.
    public var labelSmoothing: Float
    /// Divide every log-prob (policy and reference) by its completion length
    /// before the loss, rewards and logged log-probs: per-token averages instead
    /// of sums. `ipo` normalises inside its loss either way.
    public var averageLogProbs: Bool
    /// Weight of the SFT (negative log-likelihood) term on the chosen answers; 0 = off.
    public var sftWeight: Float

    enum CodingKeys: String, CodingKey {
        case kind = "loss", beta, labelSmoothing = "label_smoothing", averageLogProbs = "average_logps"
        case sftWeight = "sft_weight"
    }

    public init(kind: DPOLossKind = .sigmoid, beta: Float = 0.1, labelSmoothing: Float = 0,
                averageLogProbs: Bool = false, sftWeight: Float = 0) {
        self.kind = kind; self.beta = beta; self.labelSmoothing = labelSmoothing
        self.averageLogProbs = averageLogProbs; self.sftWeight = sftWeight
    }
}

/// One batch of preference log-probs.
public struct DPOInputs {
    public var policyChosen: Tensor         // [B] summed log-probs, on the tape
    public var policyRejected: Tensor       // [B]
    public var referenceChosen: [Float]     // [B] precomputed, constants
    public var referenceRejected: [Float]   // [B]
    public var chosenLengths: [Int]         // [B] completion token counts
    public var rejectedLengths: [Int]       // [B]
    /// Σ over all chosen completion tokens of −log p (a scalar on the tape), and
    /// how many tokens that is; only needed when `sftWeight` > 0.
    public var chosenNLLSum: Tensor?
    public var chosenTokenCount: Int

    public init(policyChosen: Tensor, policyRejected: Tensor,
                referenceChosen: [Float], referenceRejected: [Float],
                chosenLengths: [Int], rejectedLengths: [Int],
                chosenNLLSum: Tensor? = nil, chosenTokenCount: Int = 0) {
        self.policyChosen = policyChosen; self.policyRejected = policyRejected
        self.referenceChosen = referenceChosen; self.referenceRejected = referenceRejected
        self.chosenLengths = chosenLengths; self.rejectedLengths = rejectedLengths
        self.chosenNLLSum = chosenNLLSum; self.chosenTokenCount = chosenTokenCount
    }
}

public struct DPOOutput {
    /// Mean loss over the batch (plus the SFT term), a scalar on the tape.
    public let loss: Tensor
    /// Per example: β(π_c − ref_c), β(π_r − ref_r), their difference, and 1/0 for chosen > rejected.
    public let rewardsChosen: [Double]
    public let rewardsRejected: [Double]
    public let rewardsMargins: [Double]
    public let rewardsAccuracies: [Double]
    /// Batch means under TRL's names: `rewards/chosen`, `rewards/rejected`,
    /// `rewards/accuracies`, `rewards/margins`, `logps/chosen`, `logps/rejected`,
    /// and `nll_loss` when the SFT term is on.
    public let metrics: [String: Double]
}

/// The DPO loss of `config.kind` and TRL's metrics for one batch.
public func dpoLoss(_ inputs: DPOInputs, config: DPOConfig) throws -> DPOOutput {
    try validate(inputs, config)
    let b = inputs.policyChosen.count
    let lenC = inputs.chosenLengths.map { Float(max($0, 1)) }      // clamped ≥ 1, as TRL
    let lenR = inputs.rejectedLengths.map { Float(max($0, 1)) }
    let perTokenC = Tensor(lenC, shape: [b]), perTokenR = Tensor(lenR, shape: [b])

    // Log-ratios log π/π_ref per example, optionally per token.   // [B]
    var refC = inputs.referenceChosen, refR = inputs.referenceRejected
    var piC = inputs.policyChosen.reshaped([b]), piR = inputs.policyRejected.reshaped([b])
    if config.averageLogProbs {
        piC = piC / perTokenC; piR = piR / perTokenR
        refC = zip(refC, lenC).map { $0 / $1 }; refR = zip(refR, lenR).map { $0 / $1 }
    }
    let ratioC = piC - Tensor(refC, shape: [b])                     // [B]
    let ratioR = piR - Tensor(refR, shape: [b])                     // [B]

    let perExample: Tensor                                           // [B]
    if config.kind == .ipo {
        // IPO regresses the per-token log-ratio gap onto 1/(2β).
        let gap = config.averageLogProbs ? ratioC - ratioR : ratioC / perTokenC - ratioR / perTokenR
        perExample = (gap - 1 / (2 * config.beta)).square()
    } else {
        perExample = preferenceLoss(config.beta * (ratioC - ratioR), config)
    }
    var loss = perExample.mean()

    var metrics: [String: Double] = [:]
    if config.sftWeight > 0, let nll = inputs.chosenNLLSum {
        let nllMean = nll.reshaped([]) / Float(inputs.chosenTokenCount)
        loss = loss + config.sftWeight * nllMean
        metrics["nll_loss"] = Double(nllMean.item)
    }
    return makeOutput(loss: loss, piC: piC.scalars, piR: piR.scalars, refC: refC, refR: refR,
                      beta: config.beta, metrics: metrics)
}

/// The logistic / hinge family on z = βΔ.   // [B] → [B]
private func preferenceLoss(_ z: Tensor, _ config: DPOConfig) -> Tensor {
    let eps = config.labelSmoothing
    switch config.kind {
    case .sigmoid:
        return -z.logSigmoid()
    case .hinge:
        return (1 - z).relu()
    case .conservative:
        // The label is flipped with probability ε: a mixture of both directions.
        return -(1 - eps) * z.logSigmoid() - eps * (-z).logSigmoid()
    case .robust:
        // Unbiased under label noise of rate ε (Chowdhury et al.).
        return ((1 - eps) * -z.logSigmoid() + eps * (-z).logSigmoid()) / (1 - 2 * eps)
    case .ipo:
        preconditionFailure("ipo is computed on per-token log-ratios")
    }
}

/// Rewards and batch means, in Double from the Float inputs (no tape).
private func makeOutput(loss: Tensor, piC: [Float], piR: [Float], refC: [Float], refR: [Float],
                        beta: Float, metrics extra: [String: Double]) -> DPOOutput {
    let beta = Double(beta)
    let rc = zip(piC, refC).map { beta * (Double($0) - Double($1)) }
    let rr = zip(piR, refR).map { beta * (Double($0) - Double($1)) }
    let margins = zip(rc, rr).map { $0 - $1 }
    let accuracies = zip(rc, rr).map { $0 > $1 ? 1.0 : 0.0 }
    func mean(_ v: [Double]) -> Double { v.isEmpty ? 0 : v.reduce(0, +) / Double(v.count) }
    var metrics = extra
    metrics["rewards/chosen"] = mean(rc)
    metrics["rewards/rejected"] = mean(rr)
    metrics["rewards/accuracies"] = mean(accuracies)
    metrics["rewards/margins"] = mean(margins)
    metrics["logps/chosen"] = mean(piC.map(Double.init))
    metrics["logps/rejected"] = mean(piR.map(Double.init))
    return DPOOutput(loss: loss, rewardsChosen: rc, rewardsRejected: rr, rewardsMargins: margins,
                     rewardsAccuracies: accuracies, metrics: metrics)
}

private func validate(_ inputs: DPOInputs, _ config: DPOConfig) throws {
    let b = inputs.policyChosen.count
    let sizes: [(String, Int)] = [
        ("policyRejected", inputs.policyRejected.count),
        ("referenceChosen", inputs.referenceChosen.count),
        ("referenceRejected", inputs.referenceRejected.count),
        ("chosenLengths", inputs.chosenLengths.count),
        ("rejectedLengths", inputs.rejectedLengths.count),
    ]
    if b == 0 { throw UsageError("DPO loss", "batch sizes disagree: empty batch") }
    if inputs.policyChosen.rank > 1 || inputs.policyRejected.rank > 1 {
        throw UsageError("DPO loss", "batch sizes disagree: policy log-probs must be [B], got \(inputs.policyChosen.shape) and \(inputs.policyRejected.shape)")
    }
    for (name, n) in sizes where n != b {
        throw UsageError("DPO loss", "batch sizes disagree: policyChosen has \(b) examples, \(name) has \(n)")
    }
    guard config.beta > 0, config.beta.isFinite else {
        throw UsageError("DPO loss", "invalid configuration: beta must be positive, got \(config.beta)")
    }
    guard config.labelSmoothing >= 0, config.labelSmoothing < 0.5 else {
        throw UsageError("DPO loss", "invalid configuration: label smoothing must be in [0, 0.5), got \(config.labelSmoothing)")
    }
    if config.sftWeight > 0 && (inputs.chosenNLLSum == nil || inputs.chosenTokenCount <= 0) {
        throw UsageError("DPO loss", "sftWeight > 0 needs chosenNLLSum and a positive chosenTokenCount")
    }
}
