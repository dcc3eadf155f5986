import Foundation

/// BLEU-1…4 and CIDEr-D as the COCO caption evaluation code (pycocoevalcap)
/// computes them, over its PTB-style tokenisation.
///
/// - Tokenisation: lowercase, Penn-Treebank splitting (clitics, brackets, quotes,
///   trailing punctuation), then the tokens `'' ' `` ` -LRB- -RRB- -LCB- -RCB-
///   . ? ! , : - -- ... ;` are dropped. pycocoevalcap compares these names after
///   lowercasing, so the bracket tokens survive as `-lrb-` etc.; that is kept.
/// - BLEU: corpus-level, clipped n-gram counts against the maximum count in any
///   reference, effective reference length = the reference length closest to the
///   candidate's (ties → the shorter), brevity penalty exp(1 − r/c) when c < r,
///   and the scorer's smoothing constants (1e-15 on matches, 1e-9 on totals).
/// - CIDEr-D: n = 1…4, tf-idf n-gram vectors with document frequencies from the
///   references of the whole corpus, candidate weights clipped by the reference's,
///   Gaussian length penalty exp(−δ²/2σ²) with σ = 6, mean over n, mean over
///   references, ×10; the corpus score is the mean over images. The scorer
///   measures δ in bigrams (max(words − 1, 0)); that equals the word-count
///   difference whenever both captions are non-empty, and an empty one scores 0.
public struct CaptionScores: Equatable {
    /// Corpus BLEU-1, BLEU-2, BLEU-3, BLEU-4.
    public let bleu: [Double]
    public let ciderD: Double
    public let ciderDPerImage: [Double]

    public var bleu4: Double { bleu[3] }
}

/// Scores one candidate caption per image against that image's references.
public func evaluateCaptions(candidates: [String], references: [[String]]) throws -> CaptionScores {
    let cands = candidates.map(ptbTokenize)
    let refs = references.map { $0.map(ptbTokenize) }
    let cider = try ciderD(candidates: cands, references: refs)
    return CaptionScores(bleu: try bleu(candidates: cands, references: refs),
                         ciderD: cider.score, ciderDPerImage: cider.perImage)
}

// MARK: - Tokenisation

/// Tokens pycocoevalcap drops after PTB tokenisation (compared after lowercasing).
public let ptbPunctuation: Set<String> = ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
                                          ".", "?", "!", ",", ":", "-", "--", "...", ";"]

/// PTB-style tokens of a caption, lowercased, punctuation tokens removed.
///
/// Follows Stanford's PTBTokenizer (`-lowerCase`) on the constructs captions use:
/// `don't` → `do n't`, `cat's` → `cat 's`, `cannot` → `can not`, `(x)` →
/// `-lrb- x -rrb-`, `$5` → `$ 5`, `20%` → `20 %`, runs like `!!!` stay one token;
/// numbers (`3.5`, `1,000`), hyphenated words and acronyms (`u.s.`) stay whole; a
/// final period is split off unless the word is an acronym, one letter or a
/// common abbreviation (`mr.`, `dr.`, `etc.`, …).
public func ptbTokenize(_ text: String) -> [String] {
    let normalised = normaliseCaption(text)
    var tokens: [String] = []
    for chunk in normalised.split(whereSeparator: { $0.isWhitespace }) {
        tokens += tokenizeChunk(String(chunk))
    }
    return tokens.filter { !ptbPunctuation.contains($0) }
}

/// Lowercase and fold typographic quotes, dashes and ellipses to ASCII.
private func normaliseCaption(_ text: String) -> String {
    var s = text.lowercased()
    for (from, to) in [("\u{2018}", "'"), ("\u{2019}", "'"), ("\u{201C}", "\""), ("\u{201D}", "\""),
                       ("\u{2013}", " -- "), ("\u{2014}", " -- "), ("\u{2026}", " ... ")] {
        s = s.replacingOccurrences(of: from, with: to)
    }
    return s
}

private let openBrackets: [Character: String] = ["(": "-lrb-", "[": "-lsb-", "{": "-lcb-"]
private let closeBrackets: [Character: String] = [")": "-rrb-", "]": "-rsb-", "}": "-rcb-"]
private let abbreviations: Set<String> = ["mr", "mrs", "ms", "dr", "st", "vs", "etc", "jr", "sr", "mt",
                                          "ft", "prof", "inc", "ltd", "corp", "approx"]
/// Whole words the PTB lexer splits in two.
private let splitWords: [String: [String]] = [
    "cannot": ["can", "not"], "gonna": ["gon", "na"], "gotta": ["got", "ta"], "wanna": ["wan", "na"],
    "lemme": ["lem", "me"], "gimme": ["gim", "me"], "'tis": ["'t", "is"], "'twas": ["'t", "was"],
]
private let clitics = ["'s", "'m", "'d", "'re", "'ve", "'ll"]

/// One whitespace-separated chunk → tokens: leading symbols, the core word
/// (split at clitics), trailing symbols.
private func tokenizeChunk(_ chunk: String) -> [String] {
    var s = Substring(chunk)
    var head: [String] = [], tail: [String] = []
    while let (token, rest) = leadingSymbol(s) { head.append(token); s = rest }
    while let (token, rest) = trailingSymbol(s) { tail.insert(token, at: 0); s = rest }
    return head + splitCore(String(s)) + tail
}

private func leadingSymbol(_ s: Substring) -> (String, Substring)? {
    guard let c = s.first else { return nil }
    if let b = openBrackets[c] { return (b, s.dropFirst()) }
    if c == "\"" { return ("``", s.dropFirst()) }
    if c == "`" { return ("`", s.dropFirst()) }
    if c == "$" && s.count > 1 { return ("$", s.dropFirst()) }
    if s.hasPrefix("...") { return ("...", s.dropFirst(3)) }
    if s.hasPrefix("--") { return ("--", s.dropFirst(2)) }
    if c == "-" && s.count > 1 && !(s.dropFirst().first!.isNumber) { return ("-", s.dropFirst()) }
    if c == "'" && s.count > 1 {
        // A leading apostrophe is an opening quote unless it starts a word
        // the lexer knows ('90s, 'n', 'tis).
        let next = s.dropFirst().first!
        if next.isNumber || s == "'n'" || splitWords[String(s)] != nil || clitics.contains(String(s)) { return nil }
        return ("`", s.dropFirst())
    }
    return nil
}

private func trailingSymbol(_ s: Substring) -> (String, Substring)? {
    guard let c = s.last, s.count > 0 else { return nil }
    if let b = closeBrackets[c] { return (b, s.dropLast()) }
    if c == "\"" { return ("''", s.dropLast()) }
    if c == "!" || c == "?" {
        // A run such as "!!!" or "?!" is one token in PTB (and is not dropped).
        let run = s.reversed().prefix { $0 == "!" || $0 == "?" }.count
        return (String(s.suffix(run)), s.dropLast(run))
    }
    if c == "," || c == ";" || c == ":" || c == "%" { return (String(c), s.dropLast()) }
    if s.hasSuffix("..") {
        let run = s.reversed().prefix { $0 == "." }.count
        return ("...", s.dropLast(run))
    }
    if s.hasSuffix("--") { return ("--", s.dropLast(2)) }
    if c == "-" && s.count > 1 { return ("-", s.dropLast()) }
    if c == "'" && s.count > 1 && s != "'n'" { return ("'", s.dropLast()) }
    if c == "." { return periodSplit(s) }
    return nil
}

/// Splits a final period off unless the word keeps it (acronym, single letter, abbreviation).
private func periodSplit(_ s: Substring) -> (String, Substring)? {
    let stem = s.dropLast()
    if stem.isEmpty { return nil }
    // Acronyms are letters joined by periods (u.s., p.m., e.g.); "2.0." still splits.
    let acronym = stem.contains(".") && stem.allSatisfy { $0 == "." || $0.isLetter }
    let keeps = acronym || (stem.count == 1 && stem.first!.isLetter) || abbreviations.contains(String(stem))
    return keeps ? nil : (".", stem)
}

private func splitCore(_ word: String) -> [String] {
    if word.isEmpty { return [] }
    if let parts = splitWords[word] { return parts }
    if word.count > 3 && word.hasSuffix("n't") { return [String(word.dropLast(3)), "n't"] }
    for clitic in clitics where word.count > clitic.count && word.hasSuffix(clitic) {
        return [String(word.dropLast(clitic.count)), clitic]
    }
    return [word]
}

// MARK: - n-grams

/// An n-gram as one string key (tokens never contain "\u{1}").
private typealias NGram = String

/// Counts of all 1…n-grams of a token list.
private func ngramCounts(_ tokens: [String], n: Int = 4) -> [NGram: Int] {
    var counts: [NGram: Int] = [:]
    for k in 1...n where tokens.count >= k {
        for i in 0...(tokens.count - k) {
            counts[tokens[i..<(i + k)].joined(separator: "\u{1}"), default: 0] += 1
        }
    }
    return counts
}

@inline(__always)
private func order(_ g: NGram) -> Int { g.utf8.reduce(1) { $0 + ($1 == 1 ? 1 : 0) } }

// MARK: - BLEU

/// Corpus BLEU-1…4 over tokenised captions (pycocoevalcap `Bleu(4)`, option "closest").
public func bleu(candidates: [[String]], references: [[[String]]], n: Int = 4) throws -> [Double] {
    try checkCorpus(candidates.count, references)
    let tiny = 1e-15, small = 1e-9
    var guess = [Double](repeating: 0, count: n), correct = [Double](repeating: 0, count: n)
    var testLength = 0.0, refLength = 0.0
    for (cand, refs) in zip(candidates, references) {
        var maxRef: [NGram: Int] = [:]
        for ref in refs { for (g, c) in ngramCounts(ref, n: n) { maxRef[g] = max(maxRef[g] ?? 0, c) } }
        for (g, c) in ngramCounts(cand, n: n) { correct[order(g) - 1] += Double(min(maxRef[g] ?? 0, c)) }
        for k in 1...n { guess[k - 1] += Double(max(0, cand.count - k + 1)) }
        testLength += Double(cand.count)
        // Closest reference length; ties go to the shorter one.
        refLength += Double(refs.map(\.count).min { (abs($0 - cand.count), $0) < (abs($1 - cand.count), $1) }!)
    }
    var scores: [Double] = [], product = 1.0
    for k in 0..<n {
        product *= (correct[k] + tiny) / (guess[k] + small)
        scores.append(Foundation.pow(product, 1 / Double(k + 1)))
    }
    let ratio = (testLength + tiny) / (refLength + small)
    if ratio < 1 { scores = scores.map { $0 * Foundation.exp(1 - 1 / ratio) } }
    return scores
}

// MARK: - CIDEr-D

/// CIDEr-D over tokenised captions (pycocoevalcap `Cider()`): corpus mean and per image.
public func ciderD(candidates: [[String]], references: [[[String]]], n: Int = 4,
                   sigma: Double = 6) throws -> (score: Double, perImage: [Double]) {
    try checkCorpus(candidates.count, references)
    let refCounts = references.map { $0.map { ngramCounts($0, n: n) } }
    // Document frequency: in how many images' reference sets an n-gram occurs.
    var df: [NGram: Double] = [:]
    for refs in refCounts {
        for g in Set(refs.flatMap(\.keys)) { df[g, default: 0] += 1 }
    }
    let logImages = Foundation.log(Double(references.count))
    let vector = { (counts: [NGram: Int]) in tfidf(counts, df: df, logImages: logImages, n: n) }
    let perImage = zip(candidates, refCounts).map { cand, refs -> Double in
        let c = vector(ngramCounts(cand, n: n))
        var total = [Double](repeating: 0, count: n)
        for ref in refs {
            let r = vector(ref)
            let sims = similarity(c, r, n: n, sigma: sigma)
            for k in 0..<n { total[k] += sims[k] }
        }
        return total.reduce(0, +) / Double(n) / Double(refs.count) * 10
    }
    return (perImage.reduce(0, +) / Double(perImage.count), perImage)
}

/// tf-idf weights per n-gram order, their norms, and the scorer's length (bigram count).
private struct TFIDF {
    var weights: [[NGram: Double]]
    var norms: [Double]
    var length: Double
}

private func tfidf(_ counts: [NGram: Int], df: [NGram: Double], logImages: Double, n: Int) -> TFIDF {
    var v = TFIDF(weights: Array(repeating: [:], count: n), norms: Array(repeating: 0, count: n), length: 0)
    for (g, tf) in counts {
        let k = order(g) - 1
        // An n-gram absent from every reference counts as occurring once.
        let w = Double(tf) * (logImages - Foundation.log(max(1, df[g] ?? 0)))
        v.weights[k][g] = w
        v.norms[k] += w * w
        // pycocoevalcap adds term frequencies at index 1, i.e. it counts bigrams.
        if k == 1 { v.length += Double(tf) }
    }
    v.norms = v.norms.map { $0.squareRoot() }
    return v
}

/// Clipped cosine similarity per order, times the Gaussian length penalty.
private func similarity(_ c: TFIDF, _ r: TFIDF, n: Int, sigma: Double) -> [Double] {
    let delta = c.length - r.length
    let penalty = Foundation.exp(-(delta * delta) / (2 * sigma * sigma))
    return (0..<n).map { k in
        var dot = 0.0
        for (g, w) in c.weights[k] {
            let wr = r.weights[k][g] ?? 0
            dot += min(w, wr) * wr
        }
        if c.norms[k] != 0 && r.norms[k] != 0 { dot /= c.norms[k] * r.norms[k] }
        return dot * penalty
    }
}

private func checkCorpus(_ candidates: Int, _ references: [[[String]]]) throws {
    if candidates != references.count {
        throw UsageError("caption metrics", "\(candidates) candidate captions but \(references.count) reference sets (one set per candidate)")
    }
    if candidates == 0 { throw UsageError("caption metrics", "no captions to score") }
    if let i = references.firstIndex(where: \.isEmpty) { throw UsageError("caption metrics", "image \(i) has no reference captions") }
}
