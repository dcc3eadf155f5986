import Core
import Foundation

/// The sentences the synthetic world speaks: captions, detailed descriptions
/// and transcriptions, from a handful of templates. Everything they say is
/// true of the ground truth, and everything they say can be checked by
/// `SyntheticWorldChecker`.
public enum SyntheticLanguage {
    /// "a large red circle", "an orange star".
    public static func objectPhrase(_ o: SyntheticObject, withSize: Bool) -> String {
        let words = (withSize ? [o.size.rawValue] : []) + [o.color.rawValue, o.shape.rawValue]
        return article(for: words[0]) + " " + words.joined(separator: " ")
    }

    static func article(for word: String) -> String {
        "aeiou".contains(word.first ?? "x") ? "an" : "a"
    }

    /// "a, b and c".
    static func list(_ items: [String]) -> String {
        items.count < 2 ? items.joined() : items.dropLast().joined(separator: ", ") + " and " + items.last!
    }

    static func shapesNoun(_ n: Int) -> String { n == 1 ? "shape" : "shapes" }

    /// A short caption for pretraining, e.g.
    /// "A red circle at the top left and a small blue square in the center."
    public static func caption(_ truth: SyntheticImageTruth, rng: inout RNG) -> String {
        let objects = truth.objects ?? []
        let withSize = rng.below(2) == 0
        let items = list(objects.map { objectPhrase($0, withSize: withSize) + " " + $0.position.phrase })
        let n = objects.count
        switch rng.below(4) {
        case 0: return items.syntheticCapitalized + "."
        case 1: return "\(syntheticNumberWord(n).syntheticCapitalized) \(shapesNoun(n)): \(items)."
        case 2: return n == 1 ? "There is \(items)." : "There are \(syntheticNumberWord(n)) shapes: \(items)."
        default: return "A picture of \(items)."
        }
    }

    /// A detailed description: the count, the background, then one sentence
    /// per object with all its attributes. The sentence form of each object
    /// depends only on its cell, so two descriptions of nearly the same scene
    /// differ only where the scenes differ.
    public static func description(_ truth: SyntheticImageTruth, rng: inout RNG) -> String {
        if truth.kind == .document { return documentDescription(truth) }
        let objects = truth.objects ?? []
        let n = objects.count
        var sentences: [String] = []
        switch rng.below(2) {
        case 0: sentences.append("The image shows \(syntheticNumberWord(n)) \(shapesNoun(n)).")
        default: sentences.append(n == 1 ? "There is one shape in the image."
                                         : "There are \(syntheticNumberWord(n)) shapes in the image.")
        }
        sentences.append("The background is \(truth.background.rawValue).")
        for o in objects {
            var form = rng.derived(o.position.rawValue)
            sentences.append(objectSentence(o, form: form.below(3)))
        }
        return sentences.joined(separator: " ")
    }

    /// One object with every attribute, in one of three sentence forms.
    static func objectSentence(_ o: SyntheticObject, form: Int) -> String {
        let phrase = objectPhrase(o, withSize: true)
        switch form {
        case 0: return "\(o.position.phrase.syntheticCapitalized) there is \(phrase)."
        case 1: return "\(phrase.syntheticCapitalized) is \(o.position.phrase)."
        default: return "There is \(phrase) \(o.position.phrase)."
        }
    }

    /// 'A document with two lines of printed text. The first line reads "RED CAT". …'
    public static func documentDescription(_ truth: SyntheticImageTruth) -> String {
        let lines = truth.lines ?? []
        let n = lines.count
        var sentences = ["A document with \(syntheticNumberWord(n)) \(n == 1 ? "line" : "lines") of printed text."]
        if n == 1 {
            sentences.append("It reads \"\(lines[0])\".")
        } else {
            for (k, line) in lines.enumerated() {
                sentences.append("The \(syntheticOrdinal(k)) line reads \"\(line)\".")
            }
        }
        return sentences.joined(separator: " ")
    }

    /// The transcription used as an OCR caption: the lines, one per text line.
    public static func transcription(_ truth: SyntheticImageTruth) -> String {
        (truth.lines ?? []).joined(separator: "\n")
    }
}
