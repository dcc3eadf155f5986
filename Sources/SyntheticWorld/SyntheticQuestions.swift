import Core
import Foundation

/// One question about an image with a short answer (SFT Part-1) and a
/// sentence answer (follow-up turns of SFT Part-2).
public struct SyntheticQA: Equatable, Sendable {
    public var question: String
    public var shortAnswer: String
    public var longAnswer: String
}

/// Questions about shapes and documents, answered from the ground truth.
public enum SyntheticQuestions {
    /// Up to `count` questions of distinct kinds about the image.
    public static func questions(_ truth: SyntheticImageTruth, count: Int, rng: inout RNG) -> [SyntheticQA] {
        let kinds = truth.kind == .document ? 4 : 7
        var out: [SyntheticQA] = []
        for kind in rng.permutation(kinds) where out.count < count {
            let qa = truth.kind == .document ? documentQuestion(kind, truth, rng: &rng)
                                             : shapesQuestion(kind, truth, rng: &rng)
            if let qa { out.append(qa) }
        }
        return out
    }

    static func number(_ n: Int) -> String { syntheticNumberWord(n).syntheticCapitalized + "." }

    static func shapesQuestion(_ kind: Int, _ truth: SyntheticImageTruth, rng: inout RNG) -> SyntheticQA? {
        let objects = truth.objects ?? []
        if objects.isEmpty && kind != 0 { return nil }
        let o = objects.isEmpty ? SyntheticObject(shape: .circle, color: .red, size: .small, position: .center)
            : objects[rng.below(objects.count)]
        let the = "the \(o.color.rawValue) \(o.shape.rawValue)"
        switch kind {
        case 0:
            let n = objects.count
            return SyntheticQA(question: "How many shapes are there?", shortAnswer: number(n),
                               longAnswer: n == 1 ? "There is one shape." : "There are \(syntheticNumberWord(n)) shapes.")
        case 1:
            // Only for a shape that occurs once, so "the circle" names one object.
            let unique = objects.filter { u in objects.filter { $0.shape == u.shape }.count == 1 }
            guard !unique.isEmpty else { return nil }
            let u = unique[rng.below(unique.count)]
            return SyntheticQA(question: "What color is the \(u.shape.rawValue)?",
                               shortAnswer: u.color.rawValue.syntheticCapitalized + ".",
                               longAnswer: "The \(u.shape.rawValue) is \(u.color.rawValue).")
        case 2:
            return SyntheticQA(question: "Where is \(the)?", shortAnswer: o.position.phrase.syntheticCapitalized + ".",
                               longAnswer: "\(the.syntheticCapitalized) is \(o.position.phrase).")
        case 3:
            return SyntheticQA(question: "Is \(the) small or large?", shortAnswer: o.size.rawValue.syntheticCapitalized + ".",
                               longAnswer: "\(the.syntheticCapitalized) is \(o.size.rawValue).")
        case 4:
            return whatIsAt(truth, rng: &rng)
        case 5:
            return isThere(truth, rng: &rng)
        default:
            return howManyOfShape(truth, rng: &rng)
        }
    }

    /// "What is at the top left?" about an occupied cell (two times in three) or an empty one.
    static func whatIsAt(_ truth: SyntheticImageTruth, rng: inout RNG) -> SyntheticQA {
        let objects = truth.objects ?? []
        let empty = SyntheticPosition.allCases.filter { truth.object(at: $0) == nil }
        if rng.below(3) == 0, !empty.isEmpty {
            let p = empty[rng.below(empty.count)]
            return SyntheticQA(question: "What is \(p.phrase)?", shortAnswer: "Nothing.",
                               longAnswer: "There is nothing \(p.phrase).")
        }
        let o = objects[rng.below(objects.count)]
        let phrase = SyntheticLanguage.objectPhrase(o, withSize: true)
        return SyntheticQA(question: "What is \(o.position.phrase)?", shortAnswer: phrase.syntheticCapitalized + ".",
                           longAnswer: SyntheticLanguage.objectSentence(o, form: 0))
    }

    /// "Is there a green star?": half the time about an object that is there.
    static func isThere(_ truth: SyntheticImageTruth, rng: inout RNG) -> SyntheticQA {
        let objects = truth.objects ?? []
        if rng.below(2) == 0 {
            let o = objects[rng.below(objects.count)]
            let phrase = SyntheticLanguage.objectPhrase(o, withSize: false)
            return SyntheticQA(question: "Is there \(phrase) in the image?", shortAnswer: "Yes.",
                               longAnswer: "Yes, there is \(phrase) \(o.position.phrase).")
        }
        var shape: SyntheticShape, color: SyntheticColor
        repeat {
            shape = SyntheticShape.allCases[rng.below(SyntheticShape.allCases.count)]
            color = SyntheticColor.allCases[rng.below(SyntheticColor.allCases.count)]
        } while objects.contains { $0.shape == shape && $0.color == color }
        let phrase = SyntheticLanguage.article(for: color.rawValue) + " \(color.rawValue) \(shape.rawValue)"
        return SyntheticQA(question: "Is there \(phrase) in the image?", shortAnswer: "No.",
                           longAnswer: "No, there is no \(color.rawValue) \(shape.rawValue) in the image.")
    }

    /// "How many circles are there?" about a shape that is there or not, equally often.
    static func howManyOfShape(_ truth: SyntheticImageTruth, rng: inout RNG) -> SyntheticQA {
        let objects = truth.objects ?? []
        let present = Set(objects.map(\.shape))
        let absent = SyntheticShape.allCases.filter { !present.contains($0) }
        let pool = rng.below(2) == 0 || absent.isEmpty ? objects.map(\.shape) : absent
        let shape = pool[rng.below(pool.count)]
        let n = objects.filter { $0.shape == shape }.count
        let long = n == 0 ? "There are no \(shape.plural)."
            : n == 1 ? "There is one \(shape.rawValue)." : "There are \(syntheticNumberWord(n)) \(shape.plural)."
        return SyntheticQA(question: "How many \(shape.plural) are there?", shortAnswer: number(n), longAnswer: long)
    }

    static func documentQuestion(_ kind: Int, _ truth: SyntheticImageTruth, rng: inout RNG) -> SyntheticQA? {
        let lines = truth.lines ?? []
        let words = lines.flatMap { $0.split(separator: " ").map(String.init) }
        if words.isEmpty && kind != 2 { return nil }
        switch kind {
        case 0:
            return SyntheticQA(question: "What is written in the image?", shortAnswer: lines.joined(separator: "\n"),
                               longAnswer: SyntheticLanguage.documentDescription(truth))
        case 1:
            let k = rng.below(lines.count)
            let q = lines.count == 1 ? "What does the line say?" : "What does the \(syntheticOrdinal(k)) line say?"
            let long = lines.count == 1 ? "It reads \"\(lines[k])\"."
                : "The \(syntheticOrdinal(k)) line reads \"\(lines[k])\"."
            return SyntheticQA(question: q, shortAnswer: lines[k], longAnswer: long)
        case 2:
            let n = lines.count
            return SyntheticQA(question: "How many lines of text are there?", shortAnswer: number(n),
                               longAnswer: "There \(n == 1 ? "is one line" : "are \(syntheticNumberWord(n)) lines") of text.")
        default:
            return SyntheticQA(question: "What is the first word?", shortAnswer: words[0],
                               longAnswer: "The first word is \"\(words[0])\".")
        }
    }

    /// Text-only questions about the world's vocabulary (samples without an image).
    static let textOnly: [(String, String)] = [
        ("How many corners does a triangle have?", "Three."),
        ("How many corners does a square have?", "Four."),
        ("How many points does a star have?", "Five."),
        ("Which shape has no corners?", "A circle."),
        ("What color do you get when you mix red and yellow?", "Orange."),
        ("What color do you get when you mix blue and yellow?", "Green."),
        ("What color do you get when you mix red and blue?", "Purple."),
        ("What color do you get when you mix red and white?", "Pink."),
        ("What is a square turned on its corner called?", "A diamond."),
        ("What comes after the number nine?", "Ten."),
    ]
}
