import Foundation

/// Preference pairs from scored samples, as in RLAIF-V: for each prompt, K
/// responses are sampled and each is scored by −(number of wrong claims); a
/// pair (chosen, rejected) needs chosen.score − rejected.score ≥ `minScoreGap`.
///
/// Per prompt, deterministically:
/// 1. Candidates are all ordered pairs (i, j) with score_i − score_j ≥ `minScoreGap`,
///    whose texts differ (after trimming whitespace), and whose lengths pass the
///    limits: longer/shorter ≤ `maxLengthRatio` (a 0-token response counts as 1)
///    and |len_i − len_j| ≤ `maxLengthGap`. Long-vs-short pairs teach length,
///    not faithfulness, which is why they are skipped.
/// 2. Candidates are ranked by larger score gap, then smaller token-length gap,
///    then lower chosen index, then lower rejected index.
/// 3. Up to `maxPairsPerPrompt` are taken in that order, first only pairs that
///    share no response with a pair already taken (more distinct responses per
///    prompt), then, if fewer than the limit were found, the remaining candidates
///    in the same order.
public struct ScoredResponse: Equatable, Codable {
    public var text: String
    /// Higher is better; RLAIF-V uses −(wrong claims).
    public var score: Double
    public var tokenCount: Int

    public init(text: String, score: Double, tokenCount: Int) {
        self.text = text; self.score = score; self.tokenCount = tokenCount
    }

    public init(text: String, wrongClaims: Int, tokenCount: Int) {
        self.init(text: text, score: -Double(wrongClaims), tokenCount: tokenCount)
    }
}

public struct PreferencePair: Equatable, Codable {
    /// Index of the prompt (its group of responses).
    public let prompt: Int
    /// Indices of the two responses within that prompt's group.
    public let chosen: Int
    public let rejected: Int
    public let scoreGap: Double
}

public struct PairingConfig: Equatable, Codable {
    public var minScoreGap: Double
    public var maxPairsPerPrompt: Int
    /// Longest allowed ratio of token lengths (longer / shorter); nil = no limit.
    public var maxLengthRatio: Double?
    /// Largest allowed difference in token lengths; nil = no limit.
    public var maxLengthGap: Int?

    public init(minScoreGap: Double = 1, maxPairsPerPrompt: Int = 2, maxLengthRatio: Double? = 2,
                maxLengthGap: Int? = nil) {
        self.minScoreGap = minScoreGap; self.maxPairsPerPrompt = maxPairsPerPrompt
        self.maxLengthRatio = maxLengthRatio; self.maxLengthGap = maxLengthGap
    }
}

/// What happened to the ordered pairs with a large enough score gap.
public struct PairingReport: Equatable {
    public var prompts = 0
    public var promptsWithPairs = 0
    public var candidates = 0
    public var skippedIdentical = 0
    public var skippedLength = 0
    public var skippedOverLimit = 0
    public var pairs = 0

    public init(prompts: Int = 0, promptsWithPairs: Int = 0, candidates: Int = 0, skippedIdentical: Int = 0,
                skippedLength: Int = 0, skippedOverLimit: Int = 0, pairs: Int = 0) {
        self.prompts = prompts; self.promptsWithPairs = promptsWithPairs; self.candidates = candidates
        self.skippedIdentical = skippedIdentical; self.skippedLength = skippedLength
        self.skippedOverLimit = skippedOverLimit; self.pairs = pairs
    }
}

/// Pairs for every prompt group, in prompt order, and a tally of what was skipped.
public func buildPreferencePairs(_ groups: [[ScoredResponse]], config: PairingConfig = PairingConfig()) throws
    -> (pairs: [PreferencePair], report: PairingReport) {
    try check(config)
    var report = PairingReport(prompts: groups.count)
    var pairs: [PreferencePair] = []
    for (p, responses) in groups.enumerated() {
        try check(responses, prompt: p)
        let ranked = candidates(responses, prompt: p, config: config, report: &report)
        let taken = select(ranked, limit: config.maxPairsPerPrompt)
        report.skippedOverLimit += ranked.count - taken.count
        if !taken.isEmpty { report.promptsWithPairs += 1 }
        pairs += taken
    }
    report.pairs = pairs.count
    return (pairs, report)
}

/// Ordered pairs passing the score, identity and length rules, ranked (rule 2).
private func candidates(_ r: [ScoredResponse], prompt: Int, config: PairingConfig,
                        report: inout PairingReport) -> [PreferencePair] {
    var out: [PreferencePair] = []
    for i in r.indices {
        for j in r.indices where i != j && r[i].score - r[j].score >= config.minScoreGap {
            report.candidates += 1
            if r[i].text.trimmingCharacters(in: .whitespacesAndNewlines)
                == r[j].text.trimmingCharacters(in: .whitespacesAndNewlines) {
                report.skippedIdentical += 1; continue
            }
            if !lengthsCompatible(r[i].tokenCount, r[j].tokenCount, config) { report.skippedLength += 1; continue }
            out.append(PreferencePair(prompt: prompt, chosen: i, rejected: j, scoreGap: r[i].score - r[j].score))
        }
    }
    func lengthGap(_ p: PreferencePair) -> Int { abs(r[p.chosen].tokenCount - r[p.rejected].tokenCount) }
    return out.sorted { a, b in
        if a.scoreGap != b.scoreGap { return a.scoreGap > b.scoreGap }
        if lengthGap(a) != lengthGap(b) { return lengthGap(a) < lengthGap(b) }
        return (a.chosen, a.rejected) < (b.chosen, b.rejected)
    }
}

private func lengthsCompatible(_ a: Int, _ b: Int, _ config: PairingConfig) -> Bool {
    if let gap = config.maxLengthGap, abs(a - b) > gap { return false }
    if let ratio = config.maxLengthRatio, Double(max(a, b)) / Double(max(min(a, b), 1)) > ratio { return false }
    return true
}

/// Rule 3: disjoint pairs first, then the rest, up to `limit`.
private func select(_ ranked: [PreferencePair], limit: Int) -> [PreferencePair] {
    var taken: [PreferencePair] = [], used = Set<Int>()
    for pair in ranked where taken.count < limit && !used.contains(pair.chosen) && !used.contains(pair.rejected) {
        taken.append(pair); used.insert(pair.chosen); used.insert(pair.rejected)
    }
    for pair in ranked where taken.count < limit && !taken.contains(pair) { taken.append(pair) }
    return taken
}

private func check(_ config: PairingConfig) throws {
    if !(config.minScoreGap > 0) || !config.minScoreGap.isFinite {
        throw UsageError("preference pairs", "minScoreGap must be positive, got \(config.minScoreGap)")
    }
    if config.maxPairsPerPrompt < 0 {
        throw UsageError("preference pairs", "maxPairsPerPrompt must be ≥ 0, got \(config.maxPairsPerPrompt)")
    }
    if let r = config.maxLengthRatio, !(r >= 1) {
        throw UsageError("preference pairs", "maxLengthRatio must be ≥ 1, got \(r)")
    }
    if let g = config.maxLengthGap, g < 0 {
        throw UsageError("preference pairs", "maxLengthGap must be ≥ 0, got \(g)")
    }
}

private func check(_ responses: [ScoredResponse], prompt: Int) throws {
    for (i, r) in responses.enumerated() {
        if !r.score.isFinite { throw UsageError("preference pairs", "prompt \(prompt), response \(i): score \(r.score) is not finite") }
        if r.tokenCount < 0 { throw UsageError("preference pairs", "prompt \(prompt), response \(i): token count \(r.tokenCount) is negative") }
    }
}
