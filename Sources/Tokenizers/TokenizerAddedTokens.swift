/// One entry of tokenizer.json's `added_tokens`.
public struct AddedToken: Equatable {
    public let id: Int32
    public let content: String
    public let special: Bool
    /// Matched on normalized text (true) or on the raw input (false).
    public let normalized: Bool
    public let singleWord: Bool
    public let lstrip: Bool
    public let rstrip: Bool
}

/// A piece of input after the added tokens have been cut out, with its UTF-8 byte range.
enum AddedTokenPiece {
    case token(Int32, Range<Int>)
    /// Text between added tokens; `atOrigin` when it starts at offset 0 of the input.
    case text(String, atOrigin: Bool, Range<Int>)
}

/// Finds added tokens in text: leftmost match first, the longest token among those starting there
/// (Aho–Corasick "leftmost longest", as Hugging Face `tokenizers` does). Matched tokens are never
/// split further.
struct AddedTokenMatcher {
    private var trie: [[UInt8: Int32]] = [[:]]   // node → byte → child node
    private var terminal: [Int32: AddedToken] = [:]   // node → token ending there

    init(_ tokens: [AddedToken]) {
        for token in tokens where !token.content.isEmpty { insert(token) }
    }

    var isEmpty: Bool { terminal.isEmpty }

    private mutating func insert(_ token: AddedToken) {
        var node: Int32 = 0
        for byte in token.content.utf8 {
            if let child = trie[Int(node)][byte] {
                node = child
            } else {
                trie.append([:])
                let child = Int32(trie.count - 1)
                trie[Int(node)][byte] = child
                node = child
            }
        }
        if terminal[node] == nil { terminal[node] = token }
    }

    /// The longest token that starts at `start`, with its end.
    private func longestMatch(_ bytes: [UInt8], at start: Int) -> (AddedToken, Int)? {
        var node: Int32 = 0
        var best: (AddedToken, Int)?
        var i = start
        while i < bytes.count, let child = trie[Int(node)][bytes[i]] {
            node = child
            i += 1
            if let token = terminal[node] { best = (token, i) }
        }
        return best
    }

    /// Cuts `text` at the added tokens. `atOrigin` says whether `text` itself starts the input.
    func split(_ text: String, atOrigin: Bool) -> [AddedTokenPiece] {
        guard !isEmpty else { return text.isEmpty ? [] : [.text(text, atOrigin: atOrigin, 0..<text.utf8.count)] }
        let bytes = Array(text.utf8)
        var pieces: [AddedTokenPiece] = []
        var textStart = 0
        var i = 0
        while i < bytes.count {
            guard let (token, end) = longestMatch(bytes, at: i), isWholeWord(token, bytes, i, end) else {
                i += 1
                continue
            }
            var start = i
            var stop = end
            if token.lstrip { start = max(textStart, whitespaceRunStart(bytes, before: start)) }
            if token.rstrip { stop = whitespaceRunEnd(bytes, after: stop) }
            if textStart < start {
                pieces.append(.text(Self.string(bytes[textStart..<start]), atOrigin: atOrigin && textStart == 0,
                                    textStart..<start))
            }
            pieces.append(.token(token.id, start..<stop))
            textStart = stop
            i = stop
        }
        if textStart < bytes.count {
            pieces.append(.text(Self.string(bytes[textStart...]), atOrigin: atOrigin && textStart == 0,
                                textStart..<bytes.count))
        }
        return pieces
    }

    private static func string(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }

    /// `single_word` tokens match only when no word character touches them on either side.
    private func isWholeWord(_ token: AddedToken, _ bytes: [UInt8], _ start: Int, _ end: Int) -> Bool {
        guard token.singleWord else { return true }
        let before = Self.string(bytes[..<start]).unicodeScalars.last
        let after = Self.string(bytes[end...]).unicodeScalars.first
        return !(before.map(Self.isWordCharacter) ?? false) && !(after.map(Self.isWordCharacter) ?? false)
    }

    private static func isWordCharacter(_ c: Unicode.Scalar) -> Bool {
        c == "_" || c.properties.isAlphabetic || c.properties.numericType != nil
    }

    /// Start of the whitespace run that ends at `position`.
    private func whitespaceRunStart(_ bytes: [UInt8], before position: Int) -> Int {
        let prefix = Self.string(bytes[..<position]).unicodeScalars
        var start = position
        for c in prefix.reversed() {
            guard c.properties.isWhitespace else { break }
            start -= String(c).utf8.count
        }
        return start
    }

    /// End of the whitespace run that starts at `position`.
    private func whitespaceRunEnd(_ bytes: [UInt8], after position: Int) -> Int {
        var end = position
        for c in Self.string(bytes[position...]).unicodeScalars {
            guard c.properties.isWhitespace else { break }
            end += String(c).utf8.count
        }
        return end
    }
}

extension AddedToken {
    static func load(_ node: TokenizerJSONNode) throws -> AddedToken {
        let id = try node.required("id").int()
        guard id >= 0, id <= Int(Int32.max) else { throw node.error("id \(id) is out of range") }
        let special = try node.bool("special", default: false)
        return AddedToken(
            id: Int32(id), content: try node.string("content"), special: special,
            normalized: try node.bool("normalized", default: !special),
            singleWord: try node.bool("single_word", default: false),
            lstrip: try node.bool("lstrip", default: false),
            rstrip: try node.bool("rstrip", default: false))
    }
}
