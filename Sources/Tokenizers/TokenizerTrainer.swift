import Foundation

/// Trains a byte-level BPE tokenizer in the Qwen2 layout (NFC, Qwen2 split regex, GPT-2 byte map).
///
/// Usage: feed text with `add(_:)` or `addFile(_:)`, then `train()`. Words are the pre-tokens of
/// the Qwen2 regex, counted once each; training starts from the 256 byte symbols (id = byte value)
/// and repeatedly merges the adjacent pair with the highest total count over all words. Ties go to
/// the pair with the smaller (left id, right id), so a corpus always gives the same tokenizer.
/// Special tokens are cut out of the text before counting (they never take part in merges) and
/// get the ids after the learned vocabulary.
public struct BPETrainer {
    /// The special tokens a MiniCPM-V-style model needs.
    public static let defaultSpecialTokens = [
        "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<unk>", "<image>", "</image>",
        "<slice>", "</slice>", "<image_id>", "</image_id>",
    ]

    /// Total number of ids wanted: 256 bytes + merges + special tokens.
    public let vocabSize: Int
    public let specialTokens: [String]
    /// Pairs seen fewer times than this are never merged (training may then stop early).
    public let minFrequency: Int
    private let specialMatcher: AddedTokenMatcher
    /// Raw (not byte-mapped) words and how often they occur.
    private var wordCounts: [BPETokenKey: Int] = [:]

    public init(vocabSize: Int, specialTokens: [String] = BPETrainer.defaultSpecialTokens,
                minFrequency: Int = 2) throws {
        let source = "tokenizer training"
        guard vocabSize >= 256 + specialTokens.count else {
            throw TokenizerError(file: source, "vocabulary size \(vocabSize) is below the 256 byte tokens plus \(specialTokens.count) special tokens")
        }
        guard vocabSize <= Int(Int32.max) else { throw TokenizerError(file: source, "vocabulary size \(vocabSize) is too large") }
        guard minFrequency >= 1 else { throw TokenizerError(file: source, "minimum frequency must be at least 1") }
        if let empty = specialTokens.firstIndex(where: \.isEmpty) {
            throw TokenizerError(file: source, "special token \(empty + 1) is empty")
        }
        guard Set(specialTokens.map(BPETokenKey.init)).count == specialTokens.count else {
            throw TokenizerError(file: source, "special tokens contain duplicates")
        }
        self.vocabSize = vocabSize
        self.specialTokens = specialTokens
        self.minFrequency = minFrequency
        specialMatcher = AddedTokenMatcher(specialTokens.enumerated().map { k, content in
            AddedToken(id: Int32(k), content: content, special: true, normalized: false,
                       singleWord: false, lstrip: false, rstrip: false)
        })
    }

    /// Number of distinct words counted so far.
    public var distinctWords: Int { wordCounts.count }

    /// Counts the words of `text`.
    public mutating func add(_ text: String) {
        for piece in specialMatcher.split(text, atOrigin: true) {
            guard case .text(let raw, _, _) = piece else { continue }
            for word in SplitPattern.qwen2.split(raw.precomposedStringWithCanonicalMapping) {
                wordCounts[BPETokenKey(word), default: 0] += 1
            }
        }
    }

    /// Counts the words of a UTF-8 text file (invalid bytes become U+FFFD).
    ///
    /// The file is fed in chunks cut after a line break that is followed by a non-space
    /// character: no match of the split regex crosses such a point, so the words are the same
    /// as for the whole file at once.
    public mutating func addFile(_ path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw TokenizerError(file: path, "file not found") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError(file: path, "cannot read the file")
        }
        let bytes = [UInt8](data)
        var start = 0
        for i in bytes.indices where bytes[i] == UInt8(ascii: "\n") && i + 1 < bytes.count {
            let next = String(decoding: bytes[(i + 1)..<min(i + 5, bytes.count)], as: UTF8.self).unicodeScalars.first
            guard let next, !next.properties.isWhitespace else { continue }
            add(String(decoding: bytes[start...i], as: UTF8.self))
            start = i + 1
        }
        if start < bytes.count { add(String(decoding: bytes[start...], as: UTF8.self)) }
    }

    /// Learns the merges.
    public func train() -> TrainedBPE {
        var state = BPEMergeState(wordCounts: wordCounts)
        let mergeBudget = vocabSize - 256 - specialTokens.count
        let special = Set(specialTokens.map { BPETokenKey(BPEByteLevel.encode($0)) })
        while state.merges.count < mergeBudget, state.mergeBest(minFrequency: minFrequency, banned: special) {}
        return TrainedBPE(tokens: state.tokens, merges: state.merges, specialTokens: specialTokens)
    }
}

/// The words as symbol ids, the pair counts and the merges learned so far.
private struct BPEMergeState {
    var tokens: [String] = (0..<256).map { String(BPEByteLevel.byteToScalar[$0]) }
    var merges: [(String, String)] = []
    private var words: [[Int32]] = []
    private var counts: [Int] = []
    private var pairCounts: [UInt64: Int] = [:]
    /// Words that contain (or once contained) each pair, in increasing order.
    private var pairWords: [UInt64: [Int32]] = [:]
    private var heap = MinHeap<PairCandidate>()

    init(wordCounts: [BPETokenKey: Int]) {
        // Sorted by bytes so that word indices, and so every later step, are reproducible.
        let sorted = wordCounts.sorted { $0.key.text.utf8.lexicographicallyPrecedes($1.key.text.utf8) }
        for (w, (word, count)) in sorted.enumerated() {
            let symbols = word.text.utf8.map { Int32($0) }
            words.append(symbols)
            counts.append(count)
            for key in Self.pairs(symbols) {
                pairCounts[key, default: 0] += count
                if pairWords[key]?.last != Int32(w) { pairWords[key, default: []].append(Int32(w)) }
            }
        }
        for (key, count) in pairCounts { heap.push(PairCandidate(count: count, key: key)) }
    }

    private static func pairs(_ symbols: [Int32]) -> [UInt64] {
        guard symbols.count > 1 else { return [] }
        return (0..<(symbols.count - 1)).map { BPEModel.pairKey(symbols[$0], symbols[$0 + 1]) }
    }

    /// Merges the best pair; false when no pair is frequent enough.
    mutating func mergeBest(minFrequency: Int, banned: Set<BPETokenKey>) -> Bool {
        while let top = heap.pop() {
            let current = pairCounts[top.key] ?? 0
            if current != top.count {
                // A stale entry: the count fell since it was pushed.
                if current > 0 { heap.push(PairCandidate(count: current, key: top.key)) }
                continue
            }
            guard current >= minFrequency else { return false }
            let a = Int(top.key >> 32), b = Int(top.key & 0xFFFF_FFFF)
            let merged = tokens[a] + tokens[b]
            // A learned token must never spell a special token.
            if banned.contains(BPETokenKey(merged)) { continue }
            apply(top.key, merged: merged, left: tokens[a], right: tokens[b])
            return true
        }
        return false
    }

    private mutating func apply(_ key: UInt64, merged: String, left: String, right: String) {
        let newId = Int32(tokens.count)
        tokens.append(merged)
        merges.append((left, right))
        let a = Int32(key >> 32), b = Int32(key & 0xFFFF_FFFF)
        var grown: Set<UInt64> = []
        for w in pairWords[key] ?? [] {
            let old = words[Int(w)]
            let new = Self.merge(old, a, b, into: newId)
            guard new.count != old.count else { continue }
            let count = counts[Int(w)]
            for p in Self.pairs(old) { pairCounts[p, default: 0] -= count }
            for p in Self.pairs(new) {
                pairCounts[p, default: 0] += count
                let involvesNew = Int32(p >> 32) == newId || Int32(p & 0xFFFF_FFFF) == newId
                if involvesNew {
                    grown.insert(p)
                    if pairWords[p]?.last != w { pairWords[p, default: []].append(w) }
                }
            }
            words[Int(w)] = new
        }
        pairWords[key] = nil
        // Only pairs with the new symbol can have grown; push them in a fixed order.
        for p in grown.sorted() { heap.push(PairCandidate(count: pairCounts[p] ?? 0, key: p)) }
    }

    /// Replaces every (a, b), left to right without overlap, by `id`.
    private static func merge(_ symbols: [Int32], _ a: Int32, _ b: Int32, into id: Int32) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(symbols.count)
        var i = 0
        while i < symbols.count {
            if i + 1 < symbols.count, symbols[i] == a, symbols[i + 1] == b {
                out.append(id)
                i += 2
            } else {
                out.append(symbols[i])
                i += 1
            }
        }
        return out
    }
}


/// A pair candidate: the most frequent pair first, ties by the smaller key.
private struct PairCandidate: Comparable {
    let count: Int
    let key: UInt64
    static func < (x: PairCandidate, y: PairCandidate) -> Bool {
        x.count != y.count ? x.count > y.count : x.key < y.key
    }
}
