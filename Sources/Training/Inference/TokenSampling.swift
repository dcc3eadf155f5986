import Foundation
import Autograd
import Core

/// Next-token selection from one row of logits: greedy, temperature, top-k and
/// top-p (nucleus), in that order of application (as Hugging Face's
/// `generate` applies its logits processors).
///
/// - temperature ≤ 0 is greedy: the arg-max, the lowest index among equal maxima.
///   It draws nothing from the RNG.
/// - Otherwise p ∝ exp((x − max x)/T) in Double; top-k keeps the k most likely
///   tokens (k = 0: all); top-p then keeps the smallest prefix, in descending
///   probability, whose mass reaches p (at least one token; p ≥ 1: all). Equal
///   probabilities are ordered by lower token id, so the kept set is deterministic.
/// - A sampled token costs exactly one `RNG.uniformDouble()` draw, so a fixed
///   seed gives the same tokens on every run and after a resume.
public struct SamplingConfig: Equatable, Codable {
    public var temperature: Float
    public var topK: Int
    public var topP: Float

    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1) {
        self.temperature = temperature; self.topK = topK; self.topP = topP
    }

    public static let greedy = SamplingConfig(temperature: 0)
    public var isGreedy: Bool { temperature <= 0 }
}

/// The index of the largest logit (lowest index among ties).
public func greedyToken(_ logits: [Float]) throws -> Int {
    try checkLogits(logits)
    var best = 0
    for i in 1..<logits.count where logits[i] > logits[best] { best = i }
    return best
}

/// The distribution a sample is drawn from: kept tokens with their renormalised
/// probabilities, most likely first. Greedy gives the arg-max with probability 1.
public func samplingDistribution(_ logits: [Float], config: SamplingConfig) throws -> [(token: Int, probability: Double)] {
    try checkConfig(config)
    if config.isGreedy { return [(try greedyToken(logits), 1)] }
    try checkLogits(logits)
    let t = Double(config.temperature)
    let m = Double(logits.max()!)
    var order = Array(logits.indices)
    var weights = logits.map { Foundation.exp((Double($0) - m) / t) }
    order.sort { weights[$0] > weights[$1] || (weights[$0] == weights[$1] && $0 < $1) }
    if config.topK > 0 && config.topK < order.count { order.removeSubrange(config.topK...) }
    let first = order[0]                                             // weight 1: the maximum
    order.removeAll { weights[$0] == 0 && $0 != first }              // masked or underflowed
    var total = order.reduce(0.0) { $0 + weights[$1] }
    if config.topP < 1 {
        var mass = 0.0, keep = 0
        let p = Double(config.topP) * total
        while keep < order.count && (keep == 0 || mass < p) { mass += weights[order[keep]]; keep += 1 }
        order.removeSubrange(keep...)
        total = mass
    }
    for i in order { weights[i] /= total }
    return order.map { ($0, weights[$0]) }
}

/// Picks the next token from one row of logits.
public func sampleToken(_ logits: [Float], config: SamplingConfig, rng: inout RNG) throws -> Int {
    try checkConfig(config)
    if config.isGreedy { return try greedyToken(logits) }
    let dist = try samplingDistribution(logits, config: config)
    let u = rng.uniformDouble()
    var cumulative = 0.0
    for (token, p) in dist {
        cumulative += p
        if u < cumulative { return token }
    }
    return dist.last!.token        // u within rounding of 1
}

/// Picks the next token from row `row` (default: the last) of logits [V] or [N, V].
public func sampleToken(_ logits: Tensor, row: Int? = nil, config: SamplingConfig, rng: inout RNG) throws -> Int {
    let v = logits.shape.last ?? 0
    guard v > 0 else { throw UsageError("sampling", "empty logits row") }
    let rows = logits.count / v
    let r = row ?? rows - 1
    guard r >= 0 && r < rows else { throw UsageError("sampling", "row \(r) requested from logits with \(rows) rows") }
    let values = Array(UnsafeBufferPointer(start: logits.pointer + r * v, count: v))
    return try sampleToken(values, config: config, rng: &rng)
}

private func checkLogits(_ logits: [Float]) throws {
    if logits.isEmpty { throw UsageError("sampling", "empty logits row") }
    for (i, x) in logits.enumerated() where x.isNaN || x == .infinity {
        throw UsageError("sampling", "logit \(i) is \(x) (only −inf may mask a token)")
    }
    if logits.allSatisfy({ $0 == -.infinity }) { throw UsageError("sampling", "every logit is −inf, no token can be chosen") }
}

private func checkConfig(_ c: SamplingConfig) throws {
    if c.temperature.isNaN || c.temperature == .infinity {
        throw UsageError("sampling", "temperature must be finite, got \(c.temperature)")
    }
    if c.topK < 0 { throw UsageError("sampling", "top-k must be ≥ 0 (0 = off), got \(c.topK)") }
    if !(c.topP > 0) { throw UsageError("sampling", "top-p must be in (0, 1], got \(c.topP)") }
}
