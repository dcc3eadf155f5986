import Foundation

/// A word, a punctuation mark, or a quoted string of a description.
struct SyntheticClaimToken {
    var text: String
    var range: Range<String.Index>
    var quoted: Bool
    var isWord: Bool { quoted || text.first.map { $0.isLetter || $0.isNumber } == true }
}

/// What one atomic claim asserts, in the vocabulary of the synthetic world.
struct SyntheticParsedClaim {
    enum Kind { case object, count, text, lineCount, background, empty, none }
    var kind: Kind = .none
    var shape: SyntheticShape?
    var color: SyntheticColor?
    var size: SyntheticSize?
    var position: SyntheticPosition?
    var number: Int?
    var quoted: String?
    /// Index of the line or word a quote refers to; -1 = the last one.
    var ordinal: Int?
    var unit: String?
    var background: String?
}

/// Splitting descriptions into atomic claims (one per object, count, line or
/// background) and reading each claim back into a `SyntheticParsedClaim`.
enum SyntheticClaims {
    static let shapeWords: [String: SyntheticShape] = {
        var m: [String: SyntheticShape] = ["rhombus": .diamond]
        for s in SyntheticShape.allCases { m[s.rawValue] = s }
        return m
    }()
    static let pluralShapeWords: [String: SyntheticShape] = {
        var m: [String: SyntheticShape] = [:]
        for s in SyntheticShape.allCases { m[s.plural] = s }
        return m
    }()
    static let genericNouns: Set<String> = ["shape", "object"]
    static let genericPlurals: Set<String> = ["shapes", "objects"]
    static let colorWords: [String: SyntheticColor] = {
        var m: [String: SyntheticColor] = ["violet": .purple]
        for c in SyntheticColor.allCases { m[c.rawValue] = c }
        return m
    }()
    static let sizeWords: [String: SyntheticSize] = [
        "small": .small, "little": .small, "tiny": .small, "large": .large, "big": .large, "huge": .large,
    ]
    static let positionWords: Set<String> = ["top", "upper", "bottom", "lower", "left", "right",
                                             "center", "centre", "middle"]
    static let ordinals = ["first", "second", "third", "fourth", "fifth"]
    /// Words that may stand between an article and its noun ("a large red circle").
    static let modifierWords: Set<String> = ["a", "an", "the", "another", "one", "no"]

    static func isNoun(_ w: String) -> Bool {
        shapeWords[w] != nil || pluralShapeWords[w] != nil || genericNouns.contains(w) || genericPlurals.contains(w)
    }

    // MARK: tokens

    /// Lowercased words, punctuation marks, and quoted strings as single tokens
    /// (straight or curly double quotes).
    static func tokenize(_ s: String) -> [SyntheticClaimToken] {
        var tokens: [SyntheticClaimToken] = []
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            if c == "\"" || c == "\u{201C}" || c == "\u{201D}" {
                let contentStart = s.index(after: i)
                let close = s[contentStart...].firstIndex { $0 == "\"" || $0 == "\u{201D}" || $0 == "\u{201C}" }
                let end = close.map { s.index(after: $0) } ?? s.endIndex
                let content = String(s[contentStart..<(close ?? s.endIndex)])
                tokens.append(SyntheticClaimToken(text: content, range: i..<end, quoted: true))
                i = end
            } else if c.isLetter || c.isNumber {
                var j = i
                while j < s.endIndex, s[j].isLetter || s[j].isNumber { j = s.index(after: j) }
                tokens.append(SyntheticClaimToken(text: s[i..<j].lowercased(), range: i..<j, quoted: false))
                i = j
            } else {
                if !c.isWhitespace || c == "\n" {
                    tokens.append(SyntheticClaimToken(text: String(c), range: i..<s.index(after: i), quoted: false))
                }
                i = s.index(after: i)
            }
        }
        return tokens
    }

    // MARK: splitting

    /// The atomic claims of a description, each a substring of it.
    static func split(_ description: String) -> [String] {
        let tokens = tokenize(description)
        var clauses: [[SyntheticClaimToken]] = [[]]
        for (k, t) in tokens.enumerated() {
            // Sentence and clause boundaries; "3.5" keeps its point.
            let boundary = !t.quoted && ([".", "!", "?", ";", ":", ",", "\n"].contains(t.text) || t.text == "and")
            let decimal = t.text == "." && k > 0 && k + 1 < tokens.count
                && Int(tokens[k - 1].text) != nil && Int(tokens[k + 1].text) != nil
            if boundary && !decimal {
                clauses.append([])
            } else {
                clauses[clauses.count - 1].append(t)
            }
        }
        clauses = mergePositionOnly(clauses.filter { $0.contains { $0.isWord } })
        return clauses.flatMap(splitAtNouns).map { claim in
            String(description[claim.first!.range.lowerBound..<claim.last!.range.upperBound])
        }
    }

    /// "At the top left, there is a red circle": a clause that only names a
    /// place belongs to the next clause.
    static func mergePositionOnly(_ clauses: [[SyntheticClaimToken]]) -> [[SyntheticClaimToken]] {
        var out: [[SyntheticClaimToken]] = []
        var pending: [SyntheticClaimToken] = []
        for (k, clause) in clauses.enumerated() {
            let positionOnly = parse(clause).kind == .none && clause.contains { positionWords.contains($0.text) }
            if positionOnly && k + 1 < clauses.count {
                pending += clause
            } else {
                out.append(pending + clause)
                pending = []
            }
        }
        return out
    }

    /// "a red circle next to a blue square" → one claim per noun phrase. Each
    /// claim after the first starts at the article/adjectives before its noun.
    static func splitAtNouns(_ clause: [SyntheticClaimToken]) -> [[SyntheticClaimToken]] {
        let nouns = clause.indices.filter { !clause[$0].quoted && isNoun(clause[$0].text) }
        guard nouns.count > 1 else { return [clause] }
        var starts = [0]
        for n in nouns.dropFirst() {
            var b = n
            while b > starts.last! + 1, isModifier(clause[b - 1].text) { b -= 1 }
            if b > starts.last! { starts.append(b) }
        }
        return starts.indices.map { k in
            Array(clause[starts[k]..<(k + 1 < starts.count ? starts[k + 1] : clause.count)])
        }.filter { $0.contains { $0.isWord } }
    }

    static func isModifier(_ w: String) -> Bool {
        modifierWords.contains(w) || colorWords[w] != nil || sizeWords[w] != nil || syntheticNumberValue(w) != nil
    }

    // MARK: parsing

    static func parse(_ claim: String) -> SyntheticParsedClaim { parse(tokenize(claim)) }

    static func parse(_ tokens: [SyntheticClaimToken]) -> SyntheticParsedClaim {
        var p = SyntheticParsedClaim()
        let words = tokens.filter { !$0.quoted && $0.isWord }.map(\.text)
        p.position = position(words)
        if let q = tokens.first(where: \.quoted) {
            p.kind = .text
            p.quoted = q.text
            p.unit = words.contains("word") ? "word" : words.contains("line") ? "line" : nil
            p.ordinal = words.contains("last") ? -1 : words.compactMap { ordinals.firstIndex(of: $0) }.first
            return p
        }
        if words.contains("line") || words.contains("lines") {
            p.number = words.compactMap(syntheticNumberValue).first
            p.kind = p.number == nil ? .none : .lineCount
            return p
        }
        if words.contains("background") {
            p.background = words.first { ["white", "gray", "grey", "beige"].contains($0) }
            p.kind = p.background == nil ? .none : .background
            return p
        }
        guard let n = words.firstIndex(where: isNoun) else {
            p.kind = words.contains("nothing") && p.position != nil ? .empty : .none
            return p
        }
        let noun = words[n]
        p.shape = shapeWords[noun] ?? pluralShapeWords[noun]
        let before = words[..<n], after = words[(n + 1)...]
        p.color = before.reversed().compactMap { colorWords[$0] }.first ?? after.compactMap { colorWords[$0] }.first
        p.size = before.reversed().compactMap { sizeWords[$0] }.first ?? after.compactMap { sizeWords[$0] }.first
        let plural = pluralShapeWords[noun] != nil || genericPlurals.contains(noun)
        // "There is one shape": a count, unless a place makes it an object claim.
        let oneGeneric = genericNouns.contains(noun) && before.contains("one") && p.position == nil
        if plural || before.contains("no") || oneGeneric {
            p.number = before.reversed().compactMap(syntheticNumberValue).first
            p.kind = p.number == nil ? .none : .count
        } else {
            p.kind = .object
        }
        return p
    }

    /// The grid cell named by the words: a vertical part (top/bottom) and a
    /// horizontal part (left/right); a missing part means the middle row or column.
    static func position(_ words: [String]) -> SyntheticPosition? {
        let row: Int? = words.contains { $0 == "top" || $0 == "upper" } ? 0
            : words.contains { $0 == "bottom" || $0 == "lower" } ? 2 : nil
        let column: Int? = words.contains("left") ? 0 : words.contains("right") ? 2 : nil
        if row == nil, column == nil {
            return words.contains { ["center", "centre", "middle"].contains($0) } ? .center : nil
        }
        return SyntheticPosition(row: row ?? 1, column: column ?? 1)
    }
}
