/// The regular expressions of the GPT-2 family of byte-level tokenizers, matched by a hand-written
/// scanner instead of a regex engine.
///
/// Hugging Face `tokenizers` runs these patterns with Oniguruma: leftmost-first alternation, greedy
/// quantifiers with backtracking, Unicode classes (`\p{L}`, `\p{N}`, `\s` = White_Space) and Unicode
/// case folding under `(?i:)`. The scanner below reproduces that behaviour alternative by
/// alternative; every position of any text matches one of the alternatives, so the pieces tile the
/// text and there are never gaps between matches.
enum SplitPattern: Equatable {
    /// Qwen2: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    case qwen2
    /// Llama 3: as Qwen2 but `\p{N}{1,3}`.
    case llama3
    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2

    static let qwen2Regex =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let llama3Regex =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let gpt2Regex =
        #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    /// The pattern a regex string denotes, or nil when it is not one this scanner implements.
    init?(regex: String) {
        switch regex {
        case Self.qwen2Regex: self = .qwen2
        case Self.llama3Regex: self = .llama3
        case Self.gpt2Regex: self = .gpt2
        default: return nil
        }
    }

    var regex: String {
        switch self {
        case .qwen2: return Self.qwen2Regex
        case .llama3: return Self.llama3Regex
        case .gpt2: return Self.gpt2Regex
        }
    }

    /// Splits `text` into the pieces the regex matches, in order (concatenated they give `text`).
    func split(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        var pieces: [String] = []
        var start = 0
        while start < scalars.count {
            let end = matchEnd(scalars, start)
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars[start..<end])
            pieces.append(String(view))
            start = end
        }
        return pieces
    }

    /// End (exclusive) of the match that starts at `i`; always > i.
    func matchEnd(_ s: [Unicode.Scalar], _ i: Int) -> Int {
        switch self {
        case .qwen2: return Self.llamaFamilyMatch(s, i, maxDigits: 1)
        case .llama3: return Self.llamaFamilyMatch(s, i, maxDigits: 3)
        case .gpt2: return Self.gpt2Match(s, i)
        }
    }

    // MARK: - Qwen2 / Llama 3

    private static func llamaFamilyMatch(_ s: [Unicode.Scalar], _ i: Int, maxDigits: Int) -> Int {
        let n = s.count
        if let end = contraction(s, i, caseInsensitive: true) { return end }
        let c = PreTokenScalarClass(s[i])
        // [^\r\n\p{L}\p{N}]?\p{L}+ — the optional prefix is tried first (greedy).
        if c != .letter, c != .number, !isLineBreak(s[i]), i + 1 < n, PreTokenScalarClass(s[i + 1]) == .letter {
            return run(s, from: i + 1, of: .letter)
        }
        if c == .letter { return run(s, from: i, of: .letter) }
        // \p{N} or \p{N}{1,3}
        if c == .number {
            var j = i + 1
            while j < n, j - i < maxDigits, PreTokenScalarClass(s[j]) == .number { j += 1 }
            return j
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        if let end = punctuationRun(s, i) {
            var j = end
            while j < n, isLineBreak(s[j]) { j += 1 }
            return j
        }
        // What remains is whitespace: \s*[\r\n]+ | \s+(?!\S) | \s+
        let runEnd = run(s, from: i, of: .space)
        // \s*[\r\n]+: \s* backtracks from the end of the run to the last line break in it, and
        // [\r\n]+ then takes just that one character (anything after it is not a line break).
        var p = runEnd - 1
        while p >= i {
            if isLineBreak(s[p]) { return p + 1 }
            p -= 1
        }
        return whitespaceNotBeforeText(runEnd: runEnd, i, n)
    }

    // MARK: - GPT-2

    private static func gpt2Match(_ s: [Unicode.Scalar], _ i: Int) -> Int {
        let n = s.count
        if let end = contraction(s, i, caseInsensitive: false) { return end }
        // ` ?\p{L}+`, ` ?\p{N}+`: an optional single space (U+0020) before the run.
        let hasSpace = s[i] == " " && i + 1 < n
        for cls in [PreTokenScalarClass.letter, .number] {
            if hasSpace, PreTokenScalarClass(s[i + 1]) == cls { return run(s, from: i + 1, of: cls) }
            if PreTokenScalarClass(s[i]) == cls { return run(s, from: i, of: cls) }
        }
        if let end = punctuationRun(s, i) { return end }
        let runEnd = run(s, from: i, of: .space)
        return whitespaceNotBeforeText(runEnd: runEnd, i, n)
    }

    // MARK: - Shared alternatives

    /// `'s|'t|'re|'ve|'m|'ll|'d`, optionally case-insensitive. Oniguruma folds with Unicode case
    /// folding, so under `(?i:)` the long s (U+017F) matches `s` as well.
    private static func contraction(_ s: [Unicode.Scalar], _ i: Int, caseInsensitive: Bool) -> Int? {
        guard s[i] == "'", i + 1 < s.count else { return nil }
        func letter(_ k: Int) -> Unicode.Scalar? {
            guard k < s.count else { return nil }
            let c = s[k]
            guard caseInsensitive else { return c }
            if c == "\u{017F}" { return "s" }
            if c.value >= 65, c.value <= 90 { return Unicode.Scalar(c.value + 32) }
            return c
        }
        switch letter(i + 1) {
        case "s", "t", "m", "d": return i + 2
        case "r", "v": return letter(i + 2) == "e" ? i + 3 : nil
        case "l": return letter(i + 2) == "l" ? i + 3 : nil
        default: return nil
        }
    }

    /// ` ?[^\s\p{L}\p{N}]+`: end of the match at `i`, or nil.
    private static func punctuationRun(_ s: [Unicode.Scalar], _ i: Int) -> Int? {
        var j = i
        if s[i] == " ", i + 1 < s.count, PreTokenScalarClass(s[i + 1]) == .other { j = i + 1 }
        guard PreTokenScalarClass(s[j]) == .other else { return nil }
        return run(s, from: j, of: .other)
    }

    /// `\s+(?!\S)|\s+` for a whitespace run [i, runEnd): the whole run at the end of the text,
    /// else the run minus its last character (which then leads the next piece, e.g. " word"),
    /// else (a single whitespace before text) the run itself.
    private static func whitespaceNotBeforeText(runEnd: Int, _ i: Int, _ n: Int) -> Int {
        if runEnd == n { return runEnd }
        if runEnd - 1 > i { return runEnd - 1 }
        return runEnd
    }

    private static func run(_ s: [Unicode.Scalar], from i: Int, of cls: PreTokenScalarClass) -> Int {
        var j = i
        while j < s.count, PreTokenScalarClass(s[j]) == cls { j += 1 }
        return j
    }

    @inline(__always)
    private static func isLineBreak(_ c: Unicode.Scalar) -> Bool { c == "\n" || c == "\r" }
}

/// The four classes the split patterns distinguish: `\p{L}`, `\p{N}`, `\s` and everything else.
enum PreTokenScalarClass: UInt8 {
    case letter, number, space, other

    private static let ascii: [PreTokenScalarClass] = (0..<128).map { v in
        classifySlow(Unicode.Scalar(UInt8(v)))
    }

    @inline(__always)
    init(_ c: Unicode.Scalar) {
        self = c.value < 128 ? PreTokenScalarClass.ascii[Int(c.value)] : PreTokenScalarClass.classifySlow(c)
    }

    private static func classifySlow(_ c: Unicode.Scalar) -> PreTokenScalarClass {
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return c.properties.isWhitespace ? .space : .other
        }
    }
}
