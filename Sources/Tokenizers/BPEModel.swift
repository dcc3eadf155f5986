import Foundation

/// A BPE model: a vocabulary and a ranked list of merges, applied to one pre-token word at a time.
///
/// Follows Hugging Face `tokenizers`: a word starts as its characters (Unicode scalars), each
/// looked up in the vocabulary; a character that is missing becomes its `<0xXX>` byte tokens when
/// `byteFallback` is on, else the unknown token (consecutive unknowns fused into one when
/// `fuseUnknown`), else it is dropped. Then the adjacent pair of lowest merge rank is merged,
/// leftmost first among equal ranks, until no pair has a rank.
final class BPEModel {
    let tokenToId: [BPETokenKey: Int32]
    /// `idToToken[id]`, nil for ids the vocabulary does not use.
    let idToToken: [String?]
    /// Merge table keyed by `pairKey(left, right)`.
    private let merges: [UInt64: (rank: Int32, merged: Int32)]
    /// Ids of the single-scalar tokens, the starting symbols of every word.
    private let scalarIds: [UInt32: Int32]
    /// `<0x00>`…`<0xFF>` ids when byte fallback is on (nil entries for bytes the vocabulary lacks).
    private let byteFallbackIds: [Int32?]?
    private let unknownId: Int32?
    private let fuseUnknown: Bool
    private let ignoreMerges: Bool
    private let continuingSubwordPrefix: String?
    private let endOfWordSuffix: String?

    /// The vocabulary size of the model alone (largest id + 1).
    var size: Int { idToToken.count }

    init(vocab: [BPETokenKey: Int32], merges pairs: [(String, String)], unknownToken: String?,
         fuseUnknown: Bool, byteFallback: Bool, ignoreMerges: Bool,
         continuingSubwordPrefix: String?, endOfWordSuffix: String?, file: String) throws {
        tokenToId = vocab
        var inverse = [String?](repeating: nil, count: Int((vocab.values.max() ?? -1) + 1))
        for (token, id) in vocab {
            guard id >= 0 else { throw TokenizerError(file: file, "field 'model.vocab': token \"\(token.text)\" has a negative id \(id)") }
            inverse[Int(id)] = token.text
        }
        idToToken = inverse
        merges = try Self.mergeTable(pairs, vocab: vocab, file: file)
        var single: [UInt32: Int32] = [:]
        for (token, id) in vocab where token.text.unicodeScalars.count == 1 {
            single[token.text.unicodeScalars.first!.value] = id
        }
        scalarIds = single
        if let unk = unknownToken {
            guard let id = vocab[BPETokenKey(unk)] else {
                throw TokenizerError(file: file, "field 'model.unk_token': \"\(unk)\" is not in the vocabulary")
            }
            unknownId = id
        } else {
            unknownId = nil
        }
        byteFallbackIds = byteFallback ? Self.byteTokenIds(vocab) : nil
        self.fuseUnknown = fuseUnknown
        self.ignoreMerges = ignoreMerges
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.endOfWordSuffix = endOfWordSuffix
    }

    private static func mergeTable(_ pairs: [(String, String)], vocab: [BPETokenKey: Int32],
                                   file: String) throws -> [UInt64: (rank: Int32, merged: Int32)] {
        var table: [UInt64: (rank: Int32, merged: Int32)] = [:]
        table.reserveCapacity(pairs.count)
        for (rank, (left, right)) in pairs.enumerated() {
            guard let a = vocab[BPETokenKey(left)], let b = vocab[BPETokenKey(right)] else {
                let missing = vocab[BPETokenKey(left)] == nil ? left : right
                throw TokenizerError(file: file, "field 'model.merges[\(rank)]': token \"\(missing)\" is not in the vocabulary")
            }
            guard let merged = vocab[BPETokenKey(left + right)] else {
                throw TokenizerError(file: file, "field 'model.merges[\(rank)]': merged token \"\(left + right)\" is not in the vocabulary")
            }
            // A repeated pair keeps its first (lowest) rank, as a map insert in rank order would not;
            // Hugging Face keeps the last, but a well-formed file has no repeats.
            if table[pairKey(a, b)] == nil { table[pairKey(a, b)] = (Int32(rank), merged) }
        }
        return table
    }

    /// `<0x00>`…`<0xFF>` ids; a character falls back to bytes only when all of its bytes have one.
    private static func byteTokenIds(_ vocab: [BPETokenKey: Int32]) -> [Int32?] {
        (0..<256).map { b in vocab[BPETokenKey(String(format: "<0x%02X>", b))] }
    }

    @inline(__always)
    static func pairKey(_ a: Int32, _ b: Int32) -> UInt64 {
        (UInt64(UInt32(bitPattern: a)) << 32) | UInt64(UInt32(bitPattern: b))
    }

    func token(of id: Int32) -> String? {
        guard id >= 0, Int(id) < idToToken.count else { return nil }
        return idToToken[Int(id)]
    }

    // MARK: - Tokenizing a word

    /// The ids of one pre-token word.
    func tokenize(_ word: String) -> [Int32] {
        if ignoreMerges, let id = tokenToId[BPETokenKey(word)] { return [id] }
        var symbols = initialSymbols(word)
        mergeAll(&symbols)
        return symbols
    }

    /// The word's characters as ids, with byte fallback and unknown handling.
    private func initialSymbols(_ word: String) -> [Int32] {
        let scalars = Array(word.unicodeScalars)
        var symbols: [Int32] = []
        symbols.reserveCapacity(scalars.count)
        var pendingUnknown = false
        for (k, scalar) in scalars.enumerated() {
            if let id = lookup(scalar, first: k == 0, last: k == scalars.count - 1) {
                if pendingUnknown, let unk = unknownId { symbols.append(unk) }
                pendingUnknown = false
                symbols.append(id)
                continue
            }
            if let byteIds = byteFallbackIds {
                let bytes = String(scalar).utf8.map { byteIds[Int($0)] }
                if bytes.allSatisfy({ $0 != nil }) {
                    // A pending unknown is emitted only before the next known character, so byte
                    // tokens may come before it (as in Hugging Face `tokenizers`).
                    symbols.append(contentsOf: bytes.map { $0! })
                    continue
                }
            }
            guard let unk = unknownId else { continue }
            if pendingUnknown, !fuseUnknown { symbols.append(unk) }
            pendingUnknown = true
        }
        if pendingUnknown, let unk = unknownId { symbols.append(unk) }
        return symbols
    }

    private func lookup(_ scalar: Unicode.Scalar, first: Bool, last: Bool) -> Int32? {
        let prefix = first ? nil : continuingSubwordPrefix
        let suffix = last ? endOfWordSuffix : nil
        if prefix == nil, suffix == nil { return scalarIds[scalar.value] }
        return tokenToId[BPETokenKey((prefix ?? "") + String(scalar) + (suffix ?? ""))]
    }

    /// Merges pairs in rank order. A min-heap holds candidate merges keyed (rank, left position);
    /// entries made stale by an earlier merge are recognised and skipped when popped.
    private func mergeAll(_ ids: inout [Int32]) {
        let n = ids.count
        guard n > 1 else { return }
        var next = [Int](1...n)          // next[i] == n: no right neighbour
        var prev = [Int](-1..<(n - 1))   // prev[i] == -1: no left neighbour
        var alive = [Bool](repeating: true, count: n)
        var heap = MinHeap<UInt64>()   // (rank << 32) | position
        for i in 0..<(n - 1) { push(&heap, ids, i, i + 1) }
        while let entry = heap.pop() {
            let rank = Int32(truncatingIfNeeded: entry >> 32)
            let i = Int(UInt32(truncatingIfNeeded: entry))
            guard alive[i], next[i] < n else { continue }
            let j = next[i]
            guard let merge = merges[Self.pairKey(ids[i], ids[j])], merge.rank == rank else { continue }
            ids[i] = merge.merged
            alive[j] = false
            next[i] = next[j]
            if next[j] < n { prev[next[j]] = i }
            if prev[i] >= 0 { push(&heap, ids, prev[i], i) }
            if next[i] < n { push(&heap, ids, i, next[i]) }
        }
        var out: [Int32] = []
        out.reserveCapacity(n)
        var i = 0
        while i < n { out.append(ids[i]); i = next[i] }
        ids = out
    }

    @inline(__always)
    private func push(_ heap: inout MinHeap<UInt64>, _ ids: [Int32], _ i: Int, _ j: Int) {
        if let merge = merges[Self.pairKey(ids[i], ids[j])] {
            heap.push((UInt64(UInt32(merge.rank)) << 32) | UInt64(UInt32(i)))
        }
    }
}
