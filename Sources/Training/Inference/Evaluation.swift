import Autograd
import Core
import Checkpointing
import Datasets
import Foundation
import SyntheticWorld
import Models

/// What `trainer eval` measures on a held-out file.
public struct EvaluationReport: Codable {
    public var checkpoint: String
    public var data: String
    /// Mean cross-entropy per supervised token (captions and conversations).
    public var heldOutLoss: Double?
    public var lossTokens: Int = 0
    /// The same loss with every sample's image taken from another sample, and its
    /// ratio to the loss with the right images: 1 means the model ignores the image.
    public var swappedLoss: Double?
    public var swapRatio: Double?
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
    /// Synthetic world, descriptions of shapes images (`SeeingScore`): share of
    /// stated attributes that are right, by attribute.
    public var colorAccuracy: Double?
    public var shapeAccuracy: Double?
    public var sizeAccuracy: Double?
    public var positionAccuracy: Double?
    public var countAccuracy: Double?
    public var backgroundAccuracy: Double?
    /// Shapes named for small objects that are right (what 448 px is for).
    public var smallShapeAccuracy: Double?
    /// Objects some mention gets wholly right / objects present.
    public var objectsWhollyRight: Double?
    /// Objects some mention refers to / objects present.
    public var recall: Double?
    /// Object HalBench-style: hallucinated object mentions / object mentions,
    /// and answers with any hallucinated object / answers.
    public var mentionHallucinationRate: Double?
    public var responseHallucinationRate: Double?
    /// Documents: character edits / reference characters of the readings.
    public var characterErrorRate: Double?
    public var readings: Int = 0
    /// Questions of a conversations file: answers equal to a reference answer
    /// (case and punctuation ignored) / questions asked.
    public var answerAccuracy: Double?
    public var questions: Int = 0
    /// Questions and loss samples left out because their image could not be read.
    public var skippedImages: Int = 0
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

    mutating func write(_ s: SeeingScore) {
        guard s.responses > 0 else { return }
        colorAccuracy = s.accuracy(.color); shapeAccuracy = s.accuracy(.shape); sizeAccuracy = s.accuracy(.size)
        positionAccuracy = s.accuracy(.position); countAccuracy = s.accuracy(.count)
        backgroundAccuracy = s.accuracy(.background); smallShapeAccuracy = s.smallShapeAccuracy
        objectsWhollyRight = s.whollyRightRate; recall = s.recall
        mentionHallucinationRate = s.mentionHallucinationRate; responseHallucinationRate = s.responseHallucinationRate
    }

    public var summary: String {
        var parts: [String] = []
        if let l = heldOutLoss { parts.append(String(format: "held-out loss %.4f (%d tokens)", l, lossTokens)) }
        if let l = swappedLoss, let r = swapRatio {
            parts.append(String(format: "with swapped images %.4f (ratio %.2f)", l, r))
        }
        if let b = bleu4 { parts.append(String(format: "BLEU-4 %.4f", b)) }
        if let c = ciderD { parts.append(String(format: "CIDEr-D %.4f", c)) }
        if let a = attributeAccuracy { parts.append(String(format: "attribute accuracy %.3f", a)) }
        if let h = hallucinationRate { parts.append(String(format: "hallucination rate %.3f", h)) }
        if let r = responsesWithHallucination { parts.append(String(format: "answers with a hallucination %.3f", r)) }
        if let c = claimsPerAnswer { parts.append(String(format: "%.2f checked claims per answer", c)) }
        if let u = unverifiablePerAnswer, u > 0 { parts.append(String(format: "%.2f unverifiable", u)) }
        let seeing: [(String, Double?)] = [
            ("colour", colorAccuracy), ("shape", shapeAccuracy), ("size", sizeAccuracy),
            ("position", positionAccuracy), ("count", countAccuracy), ("background", backgroundAccuracy),
            ("small shapes", smallShapeAccuracy), ("objects wholly right", objectsWhollyRight),
            ("recall", recall), ("mention hallucination", mentionHallucinationRate),
            ("response hallucination", responseHallucinationRate),
        ]
        for case let (name, value?) in seeing { parts.append(name + String(format: " %.3f", value)) }
        if let c = characterErrorRate { parts.append(String(format: "CER %.3f (%d readings)", c, readings)) }
        if let a = answerAccuracy { parts.append(String(format: "answers right %.3f (%d questions)", a, questions)) }
        if skippedImages > 0 { parts.append("\(skippedImages) skipped for unreadable images") }
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
    /// At most this many questions are answered (and loss batches are capped similarly).
    public var limit: Int = 64
    public var maxTokens: Int = 96
    public var metadata: String?
    public var skipLoss = false
    /// Only the losses: no answers are generated.
    public var skipAnswers = false
    /// Write every generated answer, with the checker's verdicts, to this JSONL file.
    public var answers: String?
    /// The tokenizer, for a checkpoint without a recipe inside (imported weights).
    public var tokenizer: String?
    public var log: (String) -> Void = { _ in }
    public init() {}
}

/// One question about one image, with the file's answers to it.
struct EvaluationItem {
    var image: String
    var question: String
    var references: [String]
    /// A question of a conversation (scored by exact match), not a caption prompt.
    var isQuestion: Bool
}

/// One line of `trainer eval --answers`: the answer and the checker's reading of it.
struct AnswerLine: Encodable {
    struct Claim: Encodable {
        var claim: String
        var verdict: String
        var reason: String?
    }
    var image: String
    var question: String
    var answer: String
    var claims: [Claim]?
}

public enum Evaluation {
    public static func run(checkpoint: String, data: String, options: EvaluationOptions = EvaluationOptions()) throws -> EvaluationReport {
        let url = URL(fileURLWithPath: data)
        guard FileManager.default.fileExists(atPath: data) else {
            throw RecipeError(file: data, line: nil, message: "data file not found")
        }
        let records = try readRecords(url)
        guard !records.isEmpty else { throw RecipeError(file: data, line: nil, message: "the file holds no records") }
        let generator = try Generator(checkpoint: checkpoint, tokenizer: options.tokenizer)
        var report = EvaluationReport(checkpoint: checkpoint, data: data)
        if !options.skipLoss { try lossFigures(records, generator: generator, into: &report, limit: options.limit) }
        if options.skipAnswers { return report }

        let items = Array(self.items(records, captionPrompt: options.prompt ?? generator.builder.captionPrompt,
                                     prompt: options.prompt).prefix(options.limit))
        guard !items.isEmpty else {
            if report.heldOutLoss == nil {
                throw RecipeError(file: data, line: nil, message: "nothing to evaluate: no record gave a sample or a question")
            }
            return report
        }
        let metadataPath = options.metadata ?? url.deletingLastPathComponent().appendingPathComponent("metadata.jsonl").path
        let checker = FileManager.default.fileExists(atPath: metadataPath)
            ? try SyntheticWorldChecker(metadata: URL(fileURLWithPath: metadataPath)) : nil

        var answered: [(item: EvaluationItem, answer: String)] = [], lines: [String] = []
        var tally = ClaimTally(), seeing = SeeingScore()
        var edits = 0, characters = 0, matched = 0
        var rng = RNG(seed: 0)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for (i, item) in items.enumerated() {
            let answer: String
            do {
                answer = try generator.generate(question: item.question, images: [item.image],
                                                maxTokens: options.maxTokens, rng: &rng)
            } catch let e as ImageError {
                report.skippedImages += 1
                options.log("[\(i + 1)/\(items.count)] skipped: \(e)")
                continue
            }
            answered.append((item, answer))
            var example = EvaluationReport.Example(image: item.image, question: item.question, answer: answer)
            var line = AnswerLine(image: item.image, question: item.question, answer: answer)
            if let checker, let truth = checker.truth(for: item.image) {
                let s = checker.score(description: answer, imageID: item.image)
                tally.add(s)
                example.wrongClaims = s.wrong
                line.claims = zip(s.claims, s.verdicts).map { claim, verdict in
                    switch verdict {
                    case .correct: return .init(claim: claim, verdict: "correct")
                    case .unverifiable: return .init(claim: claim, verdict: "unverifiable")
                    case .wrong(let why): return .init(claim: claim, verdict: "wrong", reason: why)
                    }
                }
                if let see = checker.seeing(description: answer, imageID: item.image) { seeing.add(see) }
                if truth.kind == .document {
                    let e = ReadingMetrics.characterErrors(answer: answer,
                                                          reference: (truth.lines ?? []).joined(separator: " "))
                    edits += e.edits; characters += e.length; report.readings += 1
                }
            }
            if item.isQuestion {
                report.questions += 1
                if item.references.contains(where: { ReadingMetrics.sameAnswer($0, answer) }) { matched += 1 }
            }
            lines.append(String(decoding: try encoder.encode(line), as: UTF8.self))
            if report.examples.count < 8 { report.examples.append(example) }
            options.log("[\(i + 1)/\(items.count)] \(item.image) \(item.question.debugDescription): \(answer)")
        }
        report.generated = answered.count
        if answered.count >= 2 {
            let scores = try evaluateCaptions(candidates: answered.map(\.answer), references: answered.map(\.item.references))
            report.bleu4 = scores.bleu4
            report.ciderD = scores.ciderD
        }
        tally.write(into: &report)
        report.write(seeing)
        if characters > 0 { report.characterErrorRate = Double(edits) / Double(characters) }
        if report.questions > 0 { report.answerAccuracy = Double(matched) / Double(report.questions) }
        if answered.isEmpty && report.heldOutLoss == nil {
            throw RecipeError(file: data, line: nil, message: "nothing to evaluate: no record gave a sample or a question"
                              + (report.skippedImages > 0 ? " (\(report.skippedImages) unreadable images)" : ""))
        }
        if let path = options.answers {
            do {
                try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            } catch {
                throw RecipeError(file: path, line: nil, message: "cannot write the answers: \(error.localizedDescription)")
            }
        }
        return report
    }

    /// The questions to answer, in file order: one per captioned image (asked
    /// `captionPrompt`, with every caption of the image as references), one
    /// per distinct question about an image in conversations and preference pairs.
    static func items(_ records: [DataRecord], captionPrompt: String, prompt: String?) -> [EvaluationItem] {
        var items: [EvaluationItem] = [], index: [String: Int] = [:]
        func add(_ image: String, _ question: String, _ reference: String, isQuestion: Bool) {
            let key = image + "\u{0}" + question
            if let k = index[key] { items[k].references.append(reference); return }
            index[key] = items.count
            items.append(EvaluationItem(image: image, question: question, references: [reference], isQuestion: isQuestion))
        }
        for r in records {
            switch r {
            case .caption(let c):
                add(c.image.path, captionPrompt, c.caption, isQuestion: false)
            case .conversation(let c):
                let turns = c.textTurns
                guard c.images.count == 1, let q = turns.first(where: { $0.role == .user }),
                      let a = turns.first(where: { $0.role == .assistant }) else { continue }
                let question = prompt ?? q.content
                add(c.images[0].path, question, a.content, isQuestion: prompt == nil)
            case .preference(let p):
                guard p.images.count == 1 else { continue }
                add(p.images[0].path, prompt ?? p.question, p.chosen, isQuestion: false)
            }
        }
        return items
    }

    /// The held-out loss with the right images and with swapped ones.
    static func lossFigures(_ records: [DataRecord], generator: Generator, into report: inout EvaluationReport,
                            limit: Int) throws {
        let lm = Array(records.filter { if case .preference = $0 { return false } else { return true } }.prefix(limit * 4))
        var skipped = 0
        guard let right = try meanLoss(lm, generator: generator, skipped: &skipped) else {
            report.skippedImages += skipped
            return
        }
        report.skippedImages += skipped
        report.heldOutLoss = right.loss
        report.lossTokens = right.tokens
        if let swapped = try meanLoss(swappedImages(lm), generator: generator, skipped: &skipped) {
            report.swappedLoss = swapped.loss
            report.swapRatio = swapped.loss / right.loss
        }
    }

    /// Each one-image record paired with the image of the next record that
    /// shows a different image (cyclically); records without one image stay.
    public static func swappedImages(_ records: [DataRecord]) -> [DataRecord] {
        func image(_ r: DataRecord) -> ImageReference? {
            switch r {
            case .caption(let c): return c.image
            case .conversation(let c): return c.images.count == 1 ? c.images[0] : nil
            case .preference: return nil
            }
        }
        let withImage = records.indices.filter { image(records[$0]) != nil }
        var out = records
        for (k, i) in withImage.enumerated() {
            let own = image(records[i])!
            guard let j = (1..<max(withImage.count, 1)).lazy.map({ withImage[(k + $0) % withImage.count] })
                .first(where: { image(records[$0])!.path != own.path }) else { continue }
            var other = image(records[j])!
            other.marker = own.marker
            switch out[i] {
            case .caption(var c): c.image = other; out[i] = .caption(c)
            case .conversation(var c): c.images = [other]; out[i] = .conversation(c)
            case .preference: break
            }
        }
        return out
    }

    /// Mean token cross-entropy over the records' samples; nil when none has a supervised token.
    /// Records whose image cannot be read are left out and counted in `skipped`.
    static func meanLoss(_ records: [DataRecord], generator: Generator, skipped: inout Int) throws -> (loss: Double, tokens: Int)? {
        var samples: [TrainingSample] = []
        for r in records {
            do { samples += try generator.builder.samples(r) } catch is ImageError { skipped += 1 }
        }
        guard !samples.isEmpty else { return nil }
        let source = InMemorySamples(samples)
        let maxLength = max(samples.map(\.length).max()!, 64)
        let loader = try DataLoader(source: source, config: DataLoaderConfig(maxLength: maxLength, batch: .rows(1),
                                                                             seed: 0, shuffle: false))
        let (loss, tokens) = try heldOutLoss(generator.model, loader, batches: loader.epochPlan().batches)
        return loss.map { ($0, tokens) }
    }
}
