import Foundation

/// An attribute a description states about a synthetic image.
public enum SeeingAttribute: String, CaseIterable, Codable, Sendable {
    case color, shape, size, position, count, background
}

/// How well descriptions see their images, summed over any number of them:
/// per-attribute accuracy, objects wholly right, recall and the Object
/// HalBench-style hallucination rates (response and mention level).
public struct SeeingScore: Equatable, Sendable {
    /// Stated attributes, and how many of them are right, by attribute.
    public var checked: [SeeingAttribute: Int] = [:]
    public var right: [SeeingAttribute: Int] = [:]
    /// Descriptions scored, and those with at least one hallucinated object.
    public var responses = 0
    public var hallucinatingResponses = 0
    /// Object mentions, and those naming an object the image does not have.
    public var mentions = 0
    public var hallucinatedMentions = 0
    /// Objects in the images; those some mention refers to; those some mention
    /// gets wholly right (shape, colour, size and position).
    public var objects = 0
    public var recalled = 0
    public var whollyRight = 0
    /// Shapes named for small objects, and how many are right (what 448 px exists for).
    public var smallShapesChecked = 0
    public var smallShapesRight = 0

    public init() {}

    /// Right / checked for one attribute; nil when the descriptions never stated it.
    public func accuracy(_ a: SeeingAttribute) -> Double? { ratio(right[a, default: 0], checked[a, default: 0]) }
    public var mentionHallucinationRate: Double? { ratio(hallucinatedMentions, mentions) }
    public var responseHallucinationRate: Double? { ratio(hallucinatingResponses, responses) }
    public var recall: Double? { ratio(recalled, objects) }
    public var whollyRightRate: Double? { ratio(whollyRight, objects) }
    public var smallShapeAccuracy: Double? { ratio(smallShapesRight, smallShapesChecked) }

    func ratio(_ a: Int, _ b: Int) -> Double? { b > 0 ? Double(a) / Double(b) : nil }

    mutating func count(_ a: SeeingAttribute, _ isRight: Bool) {
        checked[a, default: 0] += 1
        if isRight { right[a, default: 0] += 1 }
    }

    public mutating func add(_ o: SeeingScore) {
        for a in SeeingAttribute.allCases {
            checked[a, default: 0] += o.checked[a, default: 0]
            right[a, default: 0] += o.right[a, default: 0]
        }
        responses += o.responses; hallucinatingResponses += o.hallucinatingResponses
        mentions += o.mentions; hallucinatedMentions += o.hallucinatedMentions
        objects += o.objects; recalled += o.recalled; whollyRight += o.whollyRight
        smallShapesChecked += o.smallShapesChecked; smallShapesRight += o.smallShapesRight
    }
}

extension SyntheticWorldChecker {
    /// What a description of a shapes image gets right. Each object mention is
    /// compared with the object it agrees with most (the one in the named cell
    /// on a tie), attribute by attribute. As in Object HalBench, a mention is
    /// hallucinated when the image has no object of the kind it names: no
    /// object of its shape (or, for "a red shape", of its colour). Nil for
    /// images without ground truth and for documents.
    public func seeing(description: String, imageID: String) -> SeeingScore? {
        guard let truth = truth(for: imageID), truth.kind == .shapes else { return nil }
        let objects = truth.objects ?? []
        var s = SeeingScore()
        s.responses = 1
        s.objects = objects.count
        var recalled = Set<Int>(), whole = Set<Int>()
        for claim in Self.claims(in: description) {
            let c = SyntheticClaims.parse(claim)
            switch c.kind {
            case .count where c.shape == nil && c.color == nil && c.size == nil:
                s.count(.count, c.number == objects.count)
            case .background:
                s.count(.background, evaluate(c, truth).verdict == .correct)
            case .object:
                guard c.shape != nil || c.color != nil || c.size != nil || c.position != nil else { continue }
                s.mentions += 1
                if let shape = c.shape, !objects.contains(where: { $0.shape == shape }) {
                    s.hallucinatedMentions += 1
                } else if c.shape == nil, let color = c.color, !objects.contains(where: { $0.color == color }) {
                    s.hallucinatedMentions += 1
                }
                guard let k = Self.closest(c, objects) else { continue }
                let o = objects[k]
                if let v = c.color { s.count(.color, v == o.color) }
                if let v = c.shape {
                    s.count(.shape, v == o.shape)
                    if o.size == .small { s.smallShapesChecked += 1; s.smallShapesRight += v == o.shape ? 1 : 0 }
                }
                if let v = c.size { s.count(.size, v == o.size) }
                if let v = c.position { s.count(.position, v == o.position) }
                recalled.insert(k)
                if c.color == o.color && c.shape == o.shape && c.size == o.size && c.position == o.position {
                    whole.insert(k)
                }
            default: continue
            }
        }
        s.hallucinatingResponses = s.hallucinatedMentions > 0 ? 1 : 0
        s.recalled = recalled.count
        s.whollyRight = whole.count
        return s
    }

    /// The index of the object that agrees with most stated attributes; on a
    /// tie, the one in the named cell, then the first.
    static func closest(_ c: SyntheticParsedClaim, _ objects: [SyntheticObject]) -> Int? {
        func agreement(_ o: SyntheticObject) -> Int {
            var n = 0
            if c.shape == o.shape { n += 2 }
            if c.color == o.color { n += 2 }
            if c.size == o.size { n += 2 }
            if c.position == o.position { n += 2 }
            return n + (c.position == o.position ? 1 : 0)
        }
        return objects.indices.max { agreement(objects[$0]) < agreement(objects[$1]) }
    }
}
