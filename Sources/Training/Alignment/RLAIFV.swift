import Autograd
import Core
import Datasets
import Foundation
import SyntheticWorld

/// The RLAIF-V preference pipeline as three steps over JSONL files:
/// sample K answers per prompt, score each (divide and conquer: atomic claims
/// checked one by one; score = −wrong claims), and pair them into preference data.
public enum RLAIFV {
    /// What the score makes of a claim the checker can neither confirm nor refute
    /// ("At the top left there is white."). Counted as wrong by default: the
    /// labeler's question "does the image show this?" gets no yes, and a policy
    /// trained on preferences that ignore such claims learns to write them
    /// instead of claims that can be checked.
    public enum Unverifiable: String, CaseIterable, Sendable {
        case wrong, ignore
    }

    /// One prompt and its sampled answers (samples.jsonl).
    public struct Sampled: Codable {
        public var image: String
        public var question: String
        public var responses: [String]

        public init(image: String, question: String, responses: [String]) {
            self.image = image; self.question = question; self.responses = responses
        }
    }

    /// One prompt and its scored answers (scored.jsonl).
    public struct Scored: Codable {
        public var image: String
        public var question: String
        public var responses: [Response]

        public struct Response: Codable {
            public var text: String
            public var score: Double
            public var claims: [String]
            public var wrong: [String]
            /// Claims the checker could not read (absent in files written before it was recorded).
            public var unverifiable: [String]?
            public var tokens: Int
        }
    }

    /// K answers per image of `data` at `temperature`, from `checkpoint`.
    public static func sample(checkpoint: String, data: String, k: Int, temperature: Float, topP: Float = 1,
                              question: String?, limit: Int, seed: UInt64, maxTokens: Int = 96,
                              log: (String) -> Void = { _ in }) throws -> [Sampled] {
        let generator = try Generator(checkpoint: checkpoint)
        let records = try readRecords(URL(fileURLWithPath: data))
        var seen = Set<String>(), prompts: [(String, String)] = []
        for r in records {
            guard let image = r.images.first?.path, !seen.contains(image) else { continue }
            seen.insert(image)
            var q = question ?? generator.builder.captionPrompt
            if question == nil, case .preference(let p) = r { q = p.question }
            prompts.append((image, q))
        }
        var rng = RNG(seed: seed).derived("sampling")
        return try prompts.prefix(limit).enumerated().map { i, p in
            let answers = try (0..<k).map { _ in
                try generator.generate(question: p.1, images: [p.0], sampling: SamplingConfig(temperature: temperature, topP: topP),
                                       maxTokens: maxTokens, rng: &rng)
            }
            log("[\(i + 1)/\(min(limit, prompts.count))] \(p.0): \(k) answers")
            return Sampled(image: p.0, question: p.1, responses: answers)
        }
    }

    /// Scores every answer with `checker`: each claim is checked against the
    /// image; the score is minus the number of wrong claims, unverifiable ones
    /// included unless `unverifiable` is `.ignore`.
    public static func score(_ sampled: [Sampled], checker: ClaimChecker,
                             unverifiable policy: Unverifiable = .wrong) -> [Scored] {
        sampled.map { s in
            Scored(image: s.image, question: s.question, responses: s.responses.map { text in
                let claims = checker.claims(in: text)
                var wrong: [String] = [], unreadable: [String] = []
                for claim in claims {
                    switch checker.check(claim: claim, imageID: s.image) {
                    case .wrong: wrong.append(claim)
                    case .unverifiable: unreadable.append(claim)
                    case .correct: break
                    }
                }
                let penalised = wrong.count + (policy == .wrong ? unreadable.count : 0)
                return Scored.Response(text: text, score: -Double(penalised), claims: claims, wrong: wrong,
                                       unverifiable: unreadable,
                                       tokens: text.split(whereSeparator: \.isWhitespace).count)
            })
        }
    }

    /// Preference records from scored answers (chosen scores higher by at least
    /// the configured gap; at most N pairs per prompt; length filter).
    public static func pairs(_ scored: [Scored], config: PairingConfig) throws -> (records: [[String: String]], report: PairingReport) {
        let groups = scored.map { $0.responses.map { ScoredResponse(text: $0.text, score: $0.score, tokenCount: $0.tokens) } }
        let (pairs, report) = try buildPreferencePairs(groups, config: config)
        let records = pairs.map { p -> [String: String] in
            let s = scored[p.prompt]
            return ["image": s.image, "question": s.question,
                    "chosen": s.responses[p.chosen].text, "rejected": s.responses[p.rejected].text]
        }
        return (records, report)
    }

    // MARK: - Files

    public static func writeJSONL<T: Encodable>(_ items: [T], to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let lines = try items.map { String(decoding: try enc.encode($0), as: UTF8.self) }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent.isEmpty ? "."
                                                : (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    public static func readJSONL<T: Decodable>(_ type: T.Type, from path: String) throws -> [T] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw RecipeError(file: path, line: nil, message: "file not found or unreadable")
        }
        return try text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { i, line in
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
            do { return try JSONDecoder().decode(T.self, from: Data(line.utf8)) } catch {
                throw RecipeError(file: path, line: i + 1, message: "not a valid record: \(error)")
            }
        }
    }
}
