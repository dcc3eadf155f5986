import Foundation

/// A BPE tokenizer loaded from a Hugging Face `tokenizer.json`.
///
/// Covers byte-level BPE (GPT-2 / Qwen2 / Llama 3: NFC, regex split, byte-to-char map) and
/// SentencePiece-style BPE (Metaspace, `<0xXX>` byte fallback, unknown-token fusing), with the
/// pipeline of Hugging Face `tokenizers`:
///
///     text ─► added tokens cut out (never split) ─► normalizer ─► pre-tokenizer ─► BPE per word
///     ids  ─► token strings (special ones optionally skipped) ─► decoder chain ─► text
///
/// Encoding caches the ids of every pre-token word, so repeated words cost one dictionary lookup.
/// The instance is immutable apart from that cache (which is locked): share it between threads.
public final class Tokenizer: @unchecked Sendable {
    /// Where the tokenizer was loaded from.
    public let source: String
    /// The `added_tokens` of the file, in file order.
    public let addedTokens: [AddedToken]
    /// Number of ids: largest id (model vocabulary or added token) + 1.
    public let vocabSize: Int

    let normalizer: TokenizerNormalizer?
    let preTokenizer: PreTokenizer?
    let model: BPEModel
    let decoder: TokenizerDecoder?
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher
    private let addedById: [Int32: AddedToken]
    private let addedByContent: [BPETokenKey: AddedToken]
    private let specialContents: Set<BPETokenKey>
    private let cache = TokenizerWordCache()

    /// Loads `path`; errors name the file and the problem (missing file, bad JSON, schema field,
    /// unsupported component).
    public convenience init(contentsOf path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw TokenizerError(file: path, "file not found")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw TokenizerError(file: path, "cannot read the file (\(error.localizedDescription))")
        }
        try self.init(json: data, source: path)
    }

    /// Builds a tokenizer from the bytes of a tokenizer.json; `source` names it in errors.
    public init(json data: Data, source: String) throws {
        self.source = source
        let root = try TokenizerJSONNode.parse(data, file: source)
        _ = try root.members()
        model = try Self.loadModel(try root.required("model"))
        normalizer = try root.optional("normalizer").map(TokenizerNormalizer.load)
        preTokenizer = try root.optional("pre_tokenizer").map(PreTokenizer.load)
        decoder = try root.optional("decoder").map(TokenizerDecoder.load)
        addedTokens = try root.optional("added_tokens")?.array().map(AddedToken.load) ?? []
        rawMatcher = AddedTokenMatcher(addedTokens.filter { !$0.normalized })
        normalizedMatcher = AddedTokenMatcher(addedTokens.filter { $0.normalized })
        addedById = Dictionary(addedTokens.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        addedByContent = Dictionary(addedTokens.map { (BPETokenKey($0.content), $0) }, uniquingKeysWith: { first, _ in first })
        specialContents = Set(addedTokens.filter(\.special).map { BPETokenKey($0.content) })
        vocabSize = max(model.size, Int(addedTokens.map(\.id).max() ?? -1) + 1)
    }

    // MARK: - Encoding

    /// The ids of `text`, without any special tokens added (no BOS/EOS).
    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        for piece in splitAddedTokens(text) {
            switch piece {
            case .token(let id, _): ids.append(id)
            case .text(let raw, let atOrigin, _): encodeSegment(raw, atOrigin: atOrigin, into: &ids)
            }
        }
        return ids
    }

    /// The input cut at the added tokens matched on raw text (the first step of `encode`).
    func splitAddedTokens(_ text: String) -> [AddedTokenPiece] {
        rawMatcher.split(text, atOrigin: true)
    }

    /// Encodes text that holds no raw-matched added token: normalizer, normalized added tokens,
    /// pre-tokenizer, BPE.
    func encodeSegment(_ raw: String, atOrigin: Bool, into ids: inout [Int32]) {
        let normalized = normalizer?.apply(raw) ?? raw
        for inner in normalizedMatcher.split(normalized, atOrigin: atOrigin) {
            switch inner {
            case .token(let id, _): ids.append(id)
            case .text(let text, let origin, _): encodeWords(text, atOrigin: origin, into: &ids)
            }
        }
    }

    private func encodeWords(_ text: String, atOrigin: Bool, into ids: inout [Int32]) {
        let start = [PreTokenSplit(text: text, atOrigin: atOrigin)]
        for word in preTokenizer?.apply(start) ?? start where !word.text.isEmpty {
            let key = BPETokenKey(word.text)
            if let cached = cache[key] {
                ids.append(contentsOf: cached)
            } else {
                let wordIds = model.tokenize(word.text)
                cache[key] = wordIds
                ids.append(contentsOf: wordIds)
            }
        }
    }

    // MARK: - Decoding and lookup

    /// The text of `ids`. Unknown ids are skipped; with `skipSpecial`, special added tokens too.
    public func decode(_ ids: [Int32], skipSpecial: Bool = false) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            guard let token = token(of: id) else { continue }
            if skipSpecial, specialContents.contains(BPETokenKey(token)) { continue }
            tokens.append(token)
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decode(tokens)
    }

    /// The id of a token string (added tokens first, then the model vocabulary).
    public func id(of token: String) -> Int32? {
        addedByContent[BPETokenKey(token)]?.id ?? model.tokenToId[BPETokenKey(token)]
    }

    /// The token string of an id (added tokens first, then the model vocabulary).
    public func token(of id: Int32) -> String? {
        addedById[id]?.content ?? model.token(of: id)
    }

    /// Whether `id` is a special added token.
    public func isSpecial(_ id: Int32) -> Bool { addedById[id]?.special ?? false }

    // MARK: - Loading the model

    private static func loadModel(_ node: TokenizerJSONNode) throws -> BPEModel {
        let type = try node.optionalString("type") ?? (try node.optional("merges") != nil ? "BPE" : "")
        guard type == "BPE" else {
            throw node.error("unsupported model type \"\(type)\" (supported: BPE)")
        }
        let vocabNode = try node.required("vocab")
        guard case .object(let entries) = vocabNode.value else { throw vocabNode.error("expected an object") }
        var vocab: [BPETokenKey: Int32] = [:]
        vocab.reserveCapacity(entries.count)
        // Raw members, not nodes: a Qwen2-size vocabulary has 150k entries.
        for (token, value) in entries {
            guard case .number(let d) = value, d == d.rounded(), d >= 0, d <= Double(Int32.max) else {
                throw TokenizerError(file: node.file, "field '\(vocabNode.path).\(token)': expected an integer id")
            }
            vocab[BPETokenKey(token)] = Int32(d)
        }
        return try BPEModel(
            vocab: vocab, merges: try loadMerges(try node.optional("merges")),
            unknownToken: try node.optionalString("unk_token"),
            fuseUnknown: try node.bool("fuse_unk", default: false),
            byteFallback: try node.bool("byte_fallback", default: false),
            ignoreMerges: try node.bool("ignore_merges", default: false),
            continuingSubwordPrefix: try node.optionalString("continuing_subword_prefix"),
            endOfWordSuffix: try node.optionalString("end_of_word_suffix"),
            file: node.file)
    }

    /// Merges as `"a b"` strings (older files) or `["a", "b"]` pairs (newer files).
    private static func loadMerges(_ node: TokenizerJSONNode?) throws -> [(String, String)] {
        guard let node else { return [] }
        guard case .array(let items) = node.value else { throw node.error("expected an array") }
        var merges: [(String, String)] = []
        merges.reserveCapacity(items.count)
        for (k, item) in items.enumerated() {
            switch item {
            case .string(let line):
                // Split on the space byte: a Character-level split would treat " " followed by a
                // combining mark as one character.
                let parts = line.utf8.split(separator: 0x20, omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw TokenizerError(file: node.file, "field '\(node.path)[\(k)]': expected \"left right\", got \"\(line)\"")
                }
                merges.append((String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1], as: UTF8.self)))
            case .array(let pair):
                guard pair.count == 2, case .string(let left) = pair[0], case .string(let right) = pair[1] else {
                    throw TokenizerError(file: node.file, "field '\(node.path)[\(k)]': expected a pair of token strings")
                }
                merges.append((left, right))
            default:
                throw TokenizerError(file: node.file, "field '\(node.path)[\(k)]': expected a merge")
            }
        }
        return merges
    }
}

/// The per-word id cache of a tokenizer, safe to use from several threads.
final class TokenizerWordCache: @unchecked Sendable {
    private var words: [BPETokenKey: [Int32]] = [:]
    private let lock = NSLock()
    /// Words longer than this (in UTF-8 bytes) are not cached; the cache is emptied when full.
    private let maxWordBytes = 256
    private let capacity = 200_000

    subscript(word: BPETokenKey) -> [Int32]? {
        get {
            lock.lock()
            defer { lock.unlock() }
            return words[word]
        }
        set {
            guard let newValue, word.text.utf8.count <= maxWordBytes else { return }
            lock.lock()
            defer { lock.unlock() }
            if words.count >= capacity { words.removeAll(keepingCapacity: true) }
            words[word] = newValue
        }
    }
}
