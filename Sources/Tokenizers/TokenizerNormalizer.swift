import Foundation

/// The normalizers of a tokenizer.json that this loader implements.
indirect enum TokenizerNormalizer {
    case sequence([TokenizerNormalizer])
    case nfc, nfd, nfkc, nfkd
    /// Per-character full lowercase mapping (as Rust's `char::to_lowercase`, no context rules).
    case lowercase
    /// Prepends a string to non-empty text (the legacy Llama "▁" prefix).
    case prepend(String)
    /// Replaces every occurrence of a literal string, left to right.
    case replace(pattern: String, content: String)
    /// Removes White_Space characters at either end.
    case strip(left: Bool, right: Bool)

    func apply(_ text: String) -> String {
        switch self {
        case .sequence(let steps): return steps.reduce(text) { $1.apply($0) }
        // ASCII text is already in every normalization form; skipping Foundation there is the
        // common case for captions and code.
        case .nfc: return Self.isASCII(text) ? text : text.precomposedStringWithCanonicalMapping
        case .nfd: return Self.isASCII(text) ? text : text.decomposedStringWithCanonicalMapping
        case .nfkc: return Self.isASCII(text) ? text : text.precomposedStringWithCompatibilityMapping
        case .nfkd: return Self.isASCII(text) ? text : text.decomposedStringWithCompatibilityMapping
        case .lowercase:
            var view = String.UnicodeScalarView()
            for c in text.unicodeScalars { view.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars) }
            return String(view)
        case .prepend(let prefix): return text.isEmpty ? text : prefix + text
        case .replace(let pattern, let content): return replaceLiteral(text, pattern, content)
        case .strip(let left, let right): return strip(text, left: left, right: right)
        }
    }

    private static func isASCII(_ text: String) -> Bool { text.utf8.allSatisfy { $0 < 0x80 } }

    /// Literal, scalar-by-scalar replacement (no canonical-equivalence matching).
    private func replaceLiteral(_ text: String, _ pattern: String, _ content: String) -> String {
        let needle = Array(pattern.unicodeScalars)
        guard !needle.isEmpty else { return text }
        let hay = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < hay.count {
            if i + needle.count <= hay.count, hay[i] == needle[0], Array(hay[i..<i + needle.count]) == needle {
                out.append(contentsOf: content.unicodeScalars)
                i += needle.count
            } else {
                out.append(hay[i])
                i += 1
            }
        }
        return String(out)
    }

    private func strip(_ text: String, left: Bool, right: Bool) -> String {
        var scalars = Substring(text).unicodeScalars[...]
        if left { while let c = scalars.first, c.properties.isWhitespace { scalars.removeFirst() } }
        if right { while let c = scalars.last, c.properties.isWhitespace { scalars.removeLast() } }
        return String(String.UnicodeScalarView(scalars))
    }
}

extension TokenizerNormalizer {
    /// Reads a `normalizer` entry; unknown types are errors naming the field.
    static func load(_ node: TokenizerJSONNode) throws -> TokenizerNormalizer {
        let type = try node.typeName()
        switch type {
        case "Sequence": return .sequence(try node.required("normalizers").array().map(load))
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "Prepend": return .prepend(try node.string("prepend"))
        case "Replace":
            return .replace(pattern: try node.replacePattern(), content: try node.string("content"))
        case "Strip":
            return .strip(left: try node.bool("strip_left", default: true),
                          right: try node.bool("strip_right", default: true))
        default:
            throw node.error("unsupported normalizer type \"\(type)\" (supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip)")
        }
    }
}
