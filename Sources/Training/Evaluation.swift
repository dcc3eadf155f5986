import Autograd
import Checkpointing
import Datasets
import Foundation
import Models

/// What `trainer eval` measures on a held-out file.
public struct EvaluationReport: Codable {
    public var checkpoint: String
    public var data: String
    /// Mean cross-entropy per supervised token (captions and conversations).
    public var heldOutLoss: Double?
    public var lossTokens: Int = 0
    /// Generated answers scored.
    public var generated: Int = 0
    public var bleu4: Double?
    public var ciderD: Double?
    /// Synthetic world: correct attributes / attributes checked.
    public var attributeAccuracy: Double?
    /// Synthetic world: wrong claims / checked claims (objects or attributes the image does not have).
    public var hallucinationRate: Double?
    /// Synthetic world: share of answers with at least one wrong claim.
    public var responsesWithHallucination: Double?
    /// Synthetic world: checked claims per answer (an answer that says nothing has no hallucination either).
    public var claimsPerAnswer: Double?
    /// Synthetic world: claims per answer the checker could not read (outside the
    /// rate; many of them mean the answers dodge the checker rather than hallucinate less).
    public var unverifiablePerAnswer: Double?
    public var examples: [Example] = []

    public init(checkpoint: String, data: String) {
        self.checkpoint = checkpoint; self.data = data
    }

    public struct Example: Codable {
        public var image: String
        public var question: String
        public var answer: String
        public var wrongClaims: Int?
    }

    public var summary: String {
        var parts: [String] = []
        if let l = heldOutLoss { parts.append(String(format: "held-out loss %.4f (%d tokens)", l, lossTokens)) }
        if let b = bleu4 { parts.append(String(format: "BLEU-4 %.4f", b)) }
        if let c = ciderD { parts.append(String(format: "CIDEr-D %.4f", c)) }
        if let a = attributeAccuracy { parts.append(String(format: "attribute accuracy %.3f", a)) }
        if let h = hallucinationRate { parts.append(String(format: "hallucination rate %.3f", h)) }
        if let r = responsesWithHallucination { parts.append(String(format: "answers with a hallucination %.3f", r)) }
        if let c = claimsPerAnswer { parts.append(String(format: "%.2f checked claims per answer", c)) }
        if let u = unverifiablePerAnswer, u > 0 { parts.append(String(format: "%.2f unverifiable", u)) }
        return parts.joined(separator: ", ") + " (\(generated) answers generated)"
    }
}

/// The synthetic world's claim figures summed over scored answers.
public struct ClaimTally {
    public private(set) var answers = 0, wrong = 0, checked = 0, unverifiable = 0, hallucinating = 0
    public private(set) var attributesChecked = 0, attributesCorrect = 0

    public init() {}

    public mutating func add(_ s: DescriptionScore) {
        answers += 1
        wrong += s.wrong; checked += s.correct + s.wrong; unverifiable += s.unverifiable
        hallucinating += s.hallucinated ? 1 : 0
        attributesChecked += s.attributesChecked; attributesCorrect += s.attributesCorrect
    }

    /// The rates of `EvaluationReport`; left nil when nothing was scored.
    public func write(into report: inout EvaluationReport) {
        guard answers > 0 else { return }
        let n = Double(answers)
        report.hallucinationRate = checked > 0 ? Double(wrong) / Double(checked) : nil
        report.responsesWithHallucination = Double(hallucinating) / n
        report.claimsPerAnswer = Double(checked) / n
        report.unverifiablePerAnswer = Double(unverifiable) / n
        report.attributeAccuracy = attributesChecked > 0 ? Double(attributesCorrect) / Double(attributesChecked) : nil
    }
}

public struct EvaluationOptions {
    /// Question asked for caption data (default: the recipe's caption prompt).
    public var prompt: String?
    /// At most this many images are described (and loss batches are capped similarly).
    public var limit: Int = 64
    public var maxTokens: Int = 96
    public var metadata: String?
    public var skipLoss = false
    public var log: (String) -> Void = { _ in }
    public init() {}
}

public enum Evaluation {
    public static func run(checkpoint: String, data: String, options: EvaluationOptions = EvaluationOptions()) throws -> EvaluationReport {
        let generator = try Generator(checkpoint: checkpoint)
        var report = EvaluationReport(checkpoint: checkpoint, data: data)
        let url = URL(fileURLWithPath: data)
        guard FileManager.default.fileExists(atPath: data) else {
            throw RecipeError(file: data, line: nil, message: "data file not found")
        }
        let records = try readRecords(url)
        if !options.skipLoss { try heldOutLoss(records, generator: generator, into: &report, limit: options.limit) }

        // One question per image, with the file's answers for it as references.
        var order: [String] = [], questions: [String: String] = [:], references: [String: [String]] = [:]
        for r in records {
            switch r {
            case .caption(let c):
                if references[c.image.path] == nil { order.append(c.image.path) }
                questions[c.image.path] = options.prompt ?? generator.builder.captionPrompt
                references[c.image.path, default: []].append(c.caption)
            case .conversation(let c):
                guard c.images.count == 1, let q = c.turns.first(where: { $0.role == .user }),
                      let a = c.turns.first(where: { $0.role == .assistant }) else { continue }
                let path = c.images[0].path
                if references[path] == nil { order.append(path) }
                questions[path] = options.prompt ?? q.content.replacingOccurrences(of: "<image>\n", with: "")
                    .replacingOccurrences(of: "<image>", with: "")
                references[path, default: []].append(a.content)
            case .preference(let p):
                guard p.images.count == 1 else { continue }
                let path = p.images[0].path
                if references[path] == nil { order.append(path) }
                questions[path] = options.prompt ?? p.question
                references[path, default: []].append(p.chosen)
            }
        }
        let images = Array(order.prefix(options.limit))
        guard !images.isEmpty else { return report }
        let metadataPath = options.metadata ?? url.deletingLastPathComponent().appendingPathComponent("metadata.jsonl").path
        let checker = FileManager.default.fileExists(atPath: metadataPath)
            ? try SyntheticWorldChecker(metadata: URL(fileURLWithPath: metadataPath)) : nil

        var answers: [String] = []
        var tally = ClaimTally()
        var rng = RNG(seed: 0)
        for (i, image) in images.enumerated() {
            let answer = try generator.generate(question: questions[image]!, images: [image], maxTokens: options.maxTokens, rng: &rng)
            answers.append(answer)
            var example = EvaluationReport.Example(image: image, question: questions[image]!, answer: answer)
            if let checker, checker.truth(for: image) != nil {
                let s = checker.score(description: answer, imageID: image)
                tally.add(s)
                example.wrongClaims = s.wrong
            }
            if report.examples.count < 8 { report.examples.append(example) }
            options.log("[\(i + 1)/\(images.count)] \(image): \(answer)")
        }
        report.generated = answers.count
        if answers.count >= 2 {
            let scores = try evaluateCaptions(candidates: answers, references: images.map { references[$0]! })
            report.bleu4 = scores.bleu4
            report.ciderD = scores.ciderD
        }
        tally.write(into: &report)
        return report
    }

    /// Mean token cross-entropy over the file's samples (text formats).
    static func heldOutLoss(_ records: [DataRecord], generator: Generator, into report: inout EvaluationReport,
                            limit: Int) throws {
        let lm = records.filter { if case .preference = $0 { return false } else { return true } }
        guard !lm.isEmpty else { return }
        var samples: [TrainingSample] = []
        for r in lm.prefix(limit * 4) {
            if let s = try? generator.builder.samples(r) { samples += s }
        }
        guard !samples.isEmpty else { return }
        let source = InMemorySamples(samples)
        let maxLength = max(samples.map(\.length).max()!, 64)
        let loader = try DataLoader(source: source, config: DataLoaderConfig(maxLength: maxLength, batch: .rows(1),
                                                                             seed: 0, shuffle: false))
        var total = 0.0, tokens = 0
        try noGrad {
            for _ in 0..<loader.epochPlan().batches {
                let b = try loader.next()
                let (loss, n) = try generator.model.loss(modelInput(b))
                total += Double(loss.item); tokens += n
            }
        }
        report.heldOutLoss = tokens > 0 ? total / Double(tokens) : nil
        report.lossTokens = tokens
    }
}
