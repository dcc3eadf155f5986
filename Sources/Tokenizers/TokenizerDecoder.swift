import Foundation

/// The decoders of a tokenizer.json that this loader implements. Each works on the list of
/// token strings and hands a list on to the next one; the final list is concatenated.
indirect enum TokenizerDecoder {
    case sequence([TokenizerDecoder])
    /// Byte-level characters back to bytes, then UTF-8 with U+FFFD for invalid sequences.
    case byteLevel
    /// Literal replacement inside every token (`▁` → space).
    case replace(pattern: String, content: String)
    /// Runs of `<0xXX>` tokens become the string their bytes spell (one U+FFFD per byte if invalid).
    case byteFallback
    /// All tokens joined into one.
    case fuse
    /// Removes up to `start` leading and `stop` trailing `content` characters from every token.
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    /// Metaspace markers back to spaces; the first token loses its markers unless the scheme is never.
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme)

    func decode(_ tokens: [String]) -> String { decodeChain(tokens).joined() }

    func decodeChain(_ tokens: [String]) -> [String] {
        switch self {
        case .sequence(let steps): return steps.reduce(tokens) { $1.decodeChain($0) }
        case .byteLevel: return [Self.byteLevelDecode(tokens)]
        case .replace(let pattern, let content):
            return tokens.map { $0.replacingOccurrences(of: pattern, with: content, options: .literal) }
        case .byteFallback: return Self.byteFallbackDecode(tokens)
        case .fuse: return [tokens.joined()]
        case .strip(let content, let start, let stop):
            return tokens.map { Self.strip($0, content, start, stop) }
        case .metaspace(let replacement, let scheme):
            return tokens.enumerated().map { i, token in
                var view = String.UnicodeScalarView()
                for c in token.unicodeScalars {
                    if c != replacement { view.append(c) } else if i != 0 || scheme == .never { view.append(" ") }
                }
                return String(view)
            }
        }
    }

    private static func byteLevelDecode(_ tokens: [String]) -> String {
        var bytes: [UInt8] = []
        for token in tokens {
            // A token with characters outside the byte map (an added token such as "<用户>")
            // contributes its own UTF-8 bytes.
            bytes.append(contentsOf: BPEByteLevel.bytes(of: token) ?? Array(token.utf8))
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func byteFallbackDecode(_ tokens: [String]) -> [String] {
        var out: [String] = []
        var pending: [UInt8] = []
        func flush() {
            guard !pending.isEmpty else { return }
            if let text = String(validatingUTF8Bytes: pending) {
                out.append(text)
            } else {
                out.append(contentsOf: Array(repeating: "\u{FFFD}", count: pending.count))
            }
            pending.removeAll()
        }
        for token in tokens {
            if let byte = byteToken(token) {
                pending.append(byte)
            } else {
                flush()
                out.append(token)
            }
        }
        flush()
        return out
    }

    /// The byte of a `<0xXX>` token (six bytes, hex digits in either case).
    private static func byteToken(_ token: String) -> UInt8? {
        let u = Array(token.utf8)
        guard u.count == 6, u[0] == UInt8(ascii: "<"), u[1] == UInt8(ascii: "0"), u[2] == UInt8(ascii: "x"),
              u[5] == UInt8(ascii: ">") else { return nil }
        return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
    }

    private static func strip(_ token: String, _ content: Unicode.Scalar, _ start: Int, _ stop: Int) -> String {
        let chars = Array(token.unicodeScalars)
        var lo = 0
        while lo < min(start, chars.count), chars[lo] == content { lo += 1 }
        var hi = chars.count
        while chars.count - hi < stop, hi > lo, chars[hi - 1] == content { hi -= 1 }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: chars[lo..<hi])
        return String(view)
    }
}

extension String {
    /// The string the bytes spell, or nil when they are not valid UTF-8.
    init?(validatingUTF8Bytes bytes: [UInt8]) {
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        self = text
    }
}

extension TokenizerDecoder {
    /// Reads a `decoder` entry; unknown types are errors naming the field.
    static func load(_ node: TokenizerJSONNode) throws -> TokenizerDecoder {
        let type = try node.typeName()
        switch type {
        case "Sequence": return .sequence(try node.required("decoders").array().map(load))
        case "ByteLevel": return .byteLevel
        case "ByteFallback": return .byteFallback
        case "Fuse": return .fuse
        case "Replace":
            return .replace(pattern: try node.replacePattern(), content: try node.string("content"))
        case "Strip":
            return .strip(content: try node.character("content", in: "Strip"), start: try node.int("start", default: 0),
                          stop: try node.int("stop", default: 0))
        case "Metaspace":
            return .metaspace(replacement: try node.character("replacement", default: "\u{2581}", in: "Metaspace"),
                              prependScheme: try PreTokenizer.loadPrependScheme(node))
        default:
            throw node.error("unsupported decoder type \"\(type)\" (supported: Sequence, ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace)")
        }
    }
}
