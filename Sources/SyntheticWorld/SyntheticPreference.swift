import Core
import Foundation

/// A preference pair: a faithful description and the same description with
/// one or two hallucinations planted in it.
public struct SyntheticPreferencePair: Equatable, Sendable {
    public var question: String
    public var chosen: String
    public var rejected: String
    /// What was changed, e.g. "color of the circle at the top left: red -> blue".
    public var hallucinations: [String]
    /// How many claims of `rejected` are false (each edited object or line,
    /// plus the count sentence when an object was added).
    public var wrongClaims: Int
}

/// Builds rejected answers by editing the ground truth (recolour, reshape,
/// resize, move or add an object; change a printed word) and describing the
/// edited scene with the same sentence choices as the faithful one.
public enum SyntheticPreference {
    public static let shapesQuestion = "Describe the image in detail."
    public static let documentQuestion = "Read the text in the image."

    public static func pair(_ truth: SyntheticImageTruth, rng: inout RNG) -> SyntheticPreferencePair {
        truth.kind == .document ? documentPair(truth, rng: &rng) : shapesPair(truth, rng: &rng)
    }

    static func shapesPair(_ truth: SyntheticImageTruth, rng: inout RNG) -> SyntheticPreferencePair {
        var textRNG = rng.derived("description")
        var sameRNG = textRNG
        let chosen = SyntheticLanguage.description(truth, rng: &textRNG)
        var edited = truth
        var notes: [String] = []
        var touched: Set<SyntheticPosition> = []
        var added = false
        for _ in 0..<(1 + rng.below(2)) {
            if let note = editObject(&edited, touched: &touched, added: &added, rng: &rng) { notes.append(note) }
        }
        let rejected = SyntheticLanguage.description(edited, rng: &sameRNG)
        return SyntheticPreferencePair(question: shapesQuestion, chosen: chosen, rejected: rejected,
                                       hallucinations: notes, wrongClaims: notes.count + (added ? 1 : 0))
    }

    /// One hallucination on an object not edited before (or a new object in an empty cell).
    static func editObject(_ truth: inout SyntheticImageTruth, touched: inout Set<SyntheticPosition>,
                           added: inout Bool, rng: inout RNG) -> String? {
        var objects = truth.objects ?? []
        let free = objects.indices.filter { !touched.contains(objects[$0].position) }
        let empty = SyntheticPosition.allCases.filter { p in !objects.contains { $0.position == p } }
        // Kinds: 0 colour, 1 shape, 2 size, 3 move, 4 add. Every object is
        // edited at most once, so each edit falsifies exactly one object claim.
        var kinds = free.isEmpty ? [] : empty.isEmpty ? [0, 1, 2] : [0, 1, 2, 3]
        if !added && !empty.isEmpty { kinds.append(4) }
        guard !kinds.isEmpty else { return nil }
        let kind = kinds[rng.below(kinds.count)]
        defer { truth.objects = objects.sorted { rowMajor($0.position) < rowMajor($1.position) } }
        if kind == 4 {
            let p = empty[rng.below(empty.count)]
            let o = newObject(at: p, avoiding: objects, rng: &rng)
            objects.append(o)
            touched.insert(p)
            added = true
            return "added \(SyntheticLanguage.objectPhrase(o, withSize: true)) \(p.phrase)"
        }
        let i = free[rng.below(free.count)]
        let before = objects[i]
        switch kind {
        case 0:
            objects[i].color = otherValue(before.color, rng: &rng) { c in
                !objects.contains { $0.shape == before.shape && $0.color == c } }
        case 1:
            objects[i].shape = otherValue(before.shape, rng: &rng) { s in
                !objects.contains { $0.shape == s && $0.color == before.color } }
        case 2:
            objects[i].size = before.size == .small ? .large : .small
        default:
            objects[i].position = empty[rng.below(empty.count)]
        }
        touched.insert(objects[i].position)
        touched.insert(before.position)
        return "\(SyntheticLanguage.objectPhrase(before, withSize: true)) \(before.position.phrase) became "
            + "\(SyntheticLanguage.objectPhrase(objects[i], withSize: true)) \(objects[i].position.phrase)"
    }

    static func rowMajor(_ p: SyntheticPosition) -> Int { p.row * 3 + p.column }

    static func newObject(at p: SyntheticPosition, avoiding objects: [SyntheticObject],
                          rng: inout RNG) -> SyntheticObject {
        var shape: SyntheticShape, color: SyntheticColor
        repeat {
            shape = SyntheticShape.allCases[rng.below(SyntheticShape.allCases.count)]
            color = SyntheticColor.allCases[rng.below(SyntheticColor.allCases.count)]
        } while objects.contains { $0.shape == shape && $0.color == color }
        return SyntheticObject(shape: shape, color: color, size: SyntheticSize.allCases[rng.below(2)], position: p)
    }

    /// A value of the enum other than `value` that satisfies `allowed`.
    static func otherValue<T: CaseIterable & Equatable>(_ value: T, rng: inout RNG,
                                                        allowed: (T) -> Bool) -> T {
        let pool = T.allCases.filter { $0 != value && allowed($0) }
        return pool[rng.below(pool.count)]
    }

    /// Replaces one or two words of distinct lines by other words (or numbers by other numbers).
    static func documentPair(_ truth: SyntheticImageTruth, rng: inout RNG) -> SyntheticPreferencePair {
        var edited = truth
        var lines = truth.lines ?? []
        var notes: [String] = []
        let edits = min(1 + rng.below(2), lines.count)
        for k in Array(rng.permutation(lines.count).prefix(edits)) {
            var tokens = lines[k].split(separator: " ").map(String.init)
            if tokens.isEmpty { continue }
            let t = rng.below(tokens.count)
            let old = tokens[t]
            tokens[t] = replacement(for: old, rng: &rng)
            lines[k] = tokens.joined(separator: " ")
            notes.append("\(syntheticOrdinal(k)) line: \(old) -> \(tokens[t])")
        }
        edited.lines = lines
        return SyntheticPreferencePair(question: documentQuestion,
                                       chosen: SyntheticLanguage.documentDescription(truth),
                                       rejected: SyntheticLanguage.documentDescription(edited),
                                       hallucinations: notes, wrongClaims: notes.count)
    }

    static func replacement(for token: String, rng: inout RNG) -> String {
        if let n = Int(token) {
            // A different number with the same digit count reads as a plausible misreading.
            let width = token.count
            let base = width == 1 ? 0 : Int(pow(10, Double(width - 1)))
            var m = n
            while m == n { m = base + rng.below(Int(pow(10, Double(width))) - base) }
            return String(m)
        }
        var w = token
        while w == token { w = syntheticDocumentWords[rng.below(syntheticDocumentWords.count)] }
        return w
    }
}
