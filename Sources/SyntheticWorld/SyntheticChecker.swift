import Foundation

/// The verdict on one atomic claim about an image.
public enum ClaimVerdict: Equatable, Sendable {
    case correct
    /// A hallucinated object or a wrong attribute, count or text; the reason says which.
    case wrong(String)
    /// The claim says nothing the ground truth can confirm or refute.
    case unverifiable

    public var isWrong: Bool { if case .wrong = self { return true } else { return false } }
}

/// The RLAIF-V labeler's role, plugged in: split an answer into atomic claims
/// (divide), then judge each claim about its image (conquer).
public protocol ClaimChecker {
    /// The atomic claims of an answer, each a substring of it.
    func claims(in answer: String) -> [String]
    func check(claim: String, imageID: String) -> ClaimVerdict
}

extension ClaimChecker {
    /// By default every sentence is one claim.
    public func claims(in answer: String) -> [String] {
        answer.split(whereSeparator: { ".!?\n".contains($0) })
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

/// The verdicts on every claim of a description.
public struct DescriptionScore: Equatable, Sendable {
    public var claims: [String] = []
    public var verdicts: [ClaimVerdict] = []
    /// Object claims that match no object of the image at all.
    public var hallucinatedObjects = 0
    /// Attributes (shape, colour, size, position) stated about objects that exist, and how many are right.
    public var attributesChecked = 0
    public var attributesCorrect = 0

    public init() {}

    public var correct: Int { verdicts.filter { $0 == .correct }.count }
    public var wrong: Int { verdicts.filter(\.isWrong).count }
    public var unverifiable: Int { verdicts.filter { $0 == .unverifiable }.count }
    /// Share of stated attributes that are right; nil when no attribute was stated.
    public var attributeAccuracy: Double? {
        attributesChecked == 0 ? nil : Double(attributesCorrect) / Double(attributesChecked)
    }
    /// Whether any claim is false.
    public var hallucinated: Bool { wrong > 0 }
    /// The RLAIF-V score: minus the number of wrong claims.
    public var score: Int { -wrong }
}

/// Checks descriptions of synthetic images against their ground truth
/// (`metadata.jsonl`): splits a description into atomic claims, reads each
/// one in the world's vocabulary, and compares it with the image.
public struct SyntheticWorldChecker: ClaimChecker {
    /// Ground truth by image id and by image path.
    private let byKey: [String: SyntheticImageTruth]

    public init(truths: [SyntheticImageTruth]) {
        byKey = Dictionary(truths.map { ($0.id, $0) } + truths.map { ($0.image, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// The ground truth of an image given its id ("shapes-0001"), its path as
    /// written in the data files ("images/shapes-0001.png"), or any path ending
    /// in its file name.
    public func truth(for image: String) -> SyntheticImageTruth? {
        if let t = byKey[image] { return t }
        let name = (image as NSString).lastPathComponent
        return byKey[(name as NSString).deletingPathExtension]
    }

    /// Loads the ground truth from a `metadata.jsonl` written by `SyntheticWorld.generate`.
    public init(metadata url: URL) throws {
        self.init(truths: try SyntheticWorld.readMetadata(url))
    }

    /// The atomic claims of a description, each a substring of it: sentences, and
    /// the items of a list of objects.
    public static func claims(in description: String) -> [String] {
        SyntheticClaims.split(description)
    }

    public func claims(in answer: String) -> [String] { Self.claims(in: answer) }

    /// `imageID` may be an id or an image path (see `truth(for:)`).
    public func check(claim: String, imageID: String) -> ClaimVerdict {
        guard let truth = truth(for: imageID) else { return .unverifiable }
        return evaluate(SyntheticClaims.parse(claim), truth).verdict
    }

    /// Splits `description` into claims and checks each against image `imageID`.
    public func score(description: String, imageID: String) -> DescriptionScore {
        var s = DescriptionScore()
        s.claims = Self.claims(in: description)
        let truth = truth(for: imageID)
        for claim in s.claims {
            guard let truth else { s.verdicts.append(.unverifiable); continue }
            let e = evaluate(SyntheticClaims.parse(claim), truth)
            s.verdicts.append(e.verdict)
            s.hallucinatedObjects += e.hallucinatedObject ? 1 : 0
            s.attributesChecked += e.checked
            s.attributesCorrect += e.right
        }
        return s
    }

    struct Evaluation {
        var verdict: ClaimVerdict
        var hallucinatedObject = false
        var checked = 0
        var right = 0
    }

    func evaluate(_ c: SyntheticParsedClaim, _ truth: SyntheticImageTruth) -> Evaluation {
        switch c.kind {
        case .object: return checkObject(c, truth.objects ?? [])
        case .count:
            let n = (truth.objects ?? []).filter { matches($0, c) }.count
            return Evaluation(verdict: n == c.number ? .correct : .wrong("there are \(n), not \(c.number!)"))
        case .empty:
            let o = truth.object(at: c.position!)
            return Evaluation(verdict: o == nil ? .correct : .wrong("there is a \(o!.shape.rawValue) \(c.position!.phrase)"))
        case .lineCount:
            let n = truth.lines?.count ?? 0
            return Evaluation(verdict: n == c.number ? .correct : .wrong("there are \(n) lines, not \(c.number!)"))
        case .background:
            let name = c.background == "grey" ? "gray" : c.background!
            return Evaluation(verdict: name == truth.background.rawValue ? .correct
                                  : .wrong("the background is \(truth.background.rawValue)"))
        case .text: return Evaluation(verdict: checkText(c, truth.lines ?? []))
        case .none: return Evaluation(verdict: .unverifiable)
        }
    }

    /// Whether object `o` has every attribute the claim states (position aside).
    func matches(_ o: SyntheticObject, _ c: SyntheticParsedClaim) -> Bool {
        (c.shape == nil || c.shape == o.shape) && (c.color == nil || c.color == o.color)
            && (c.size == nil || c.size == o.size)
    }

    /// An object claim is matched to the object in the cell it names (or, with
    /// no cell named, to the best-matching object); every stated attribute is compared.
    func checkObject(_ c: SyntheticParsedClaim, _ objects: [SyntheticObject]) -> Evaluation {
        func attributeCount(_ o: SyntheticObject) -> (checked: Int, right: Int, wrong: [String]) {
            var wrong: [String] = []
            var checked = 0
            if let s = c.shape { checked += 1; if s != o.shape { wrong.append("shape is \(o.shape.rawValue)") } }
            if let k = c.color { checked += 1; if k != o.color { wrong.append("color is \(o.color.rawValue)") } }
            if let z = c.size { checked += 1; if z != o.size { wrong.append("size is \(o.size.rawValue)") } }
            if let p = c.position { checked += 1; if p != o.position { wrong.append("it is \(o.position.phrase)") } }
            return (checked, checked - wrong.count, wrong)
        }
        func judged(_ o: SyntheticObject) -> Evaluation {
            let a = attributeCount(o)
            let verdict: ClaimVerdict = a.wrong.isEmpty ? .correct
                : .wrong("the \(o.color.rawValue) \(o.shape.rawValue): " + a.wrong.joined(separator: ", "))
            return Evaluation(verdict: verdict, checked: a.checked, right: a.right)
        }
        // "The first shape": no shape, colour, size or place, nothing to check
        // (only an image with no shapes at all makes it wrong).
        let statesNothing = c.shape == nil && c.color == nil && c.size == nil && c.position == nil
        if statesNothing && !objects.isEmpty { return Evaluation(verdict: .unverifiable) }
        if let p = c.position, let o = objects.first(where: { $0.position == p }) { return judged(o) }
        // No object in the named cell (or no cell named): the closest object of the same shape, if any.
        let candidates = objects.filter { c.shape == nil || $0.shape == c.shape }
        guard let best = candidates.max(by: { attributeCount($0).right < attributeCount($1).right }) else {
            let what = c.shape?.rawValue ?? "object"
            return Evaluation(verdict: .wrong("there is no \(what)" + (c.position.map { " " + $0.phrase } ?? "")),
                              hallucinatedObject: true)
        }
        if c.position == nil || matches(best, c) { return judged(best) }
        // A cell was named, it is empty, and no object of that description exists elsewhere either.
        return Evaluation(verdict: .wrong("nothing is \(c.position!.phrase)"), hallucinatedObject: true)
    }

    /// A quoted text matches the line or word it names, or any line (or run
    /// of whole words) when it names none. Case and spacing are ignored.
    func checkText(_ c: SyntheticParsedClaim, _ lines: [String]) -> ClaimVerdict {
        func norm(_ s: String) -> [String] {
            s.uppercased().split { !$0.isLetter && !$0.isNumber && !"-+:/'".contains($0) }.map(String.init)
        }
        let quote = norm(c.quoted ?? "")
        if lines.isEmpty { return .wrong("the image has no text") }
        let words = lines.flatMap(norm)
        if let unit = c.unit, let ordinal = c.ordinal {
            let items = unit == "word" ? words.map { [$0] } : lines.map(norm)
            let k = ordinal < 0 ? items.count - 1 : ordinal
            guard k >= 0, k < items.count else { return .wrong("there is no such \(unit)") }
            return items[k] == quote ? .correct : .wrong("the \(unit) reads \"\(items[k].joined(separator: " "))\"")
        }
        guard !quote.isEmpty else { return .unverifiable }
        let found = words.count >= quote.count
            && (0...(words.count - quote.count)).contains { Array(words[$0..<($0 + quote.count)]) == quote }
        return found ? .correct : .wrong("\"\(c.quoted!)\" is not in the text")
    }
}
