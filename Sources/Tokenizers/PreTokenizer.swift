/// One piece of text on its way through the pre-tokenizers.
struct PreTokenSplit {
    var text: String
    /// Whether the piece starts at offset 0 of the original input (Metaspace's "first" scheme
    /// prepends its marker only there).
    var atOrigin: Bool
}

/// How Metaspace decides where to put its word-start marker.
enum PrependScheme: String {
    case always, first, never
}

/// The pre-tokenizers of a tokenizer.json that this loader implements.
indirect enum PreTokenizer {
    case sequence([PreTokenizer])
    /// `Split` with one of the known regexes, behaviour `Isolated`.
    case split(SplitPattern)
    /// `ByteLevel`: optional prefix space, optional GPT-2 regex split, then the byte-to-char map.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    /// `Metaspace`: spaces become `replacement`, a marker is prepended per `prependScheme`, and the
    /// text is optionally split before every marker.
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme, split: Bool)

    func apply(_ splits: [PreTokenSplit]) -> [PreTokenSplit] {
        switch self {
        case .sequence(let steps):
            return steps.reduce(splits) { $1.apply($0) }
        case .split(let pattern):
            return splits.flatMap { split in
                pattern.split(split.text).enumerated().map { k, piece in
                    PreTokenSplit(text: piece, atOrigin: split.atOrigin && k == 0)
                }
            }
        case .byteLevel(let addPrefixSpace, let useRegex):
            return splits.flatMap { split -> [PreTokenSplit] in
                var text = split.text
                if addPrefixSpace, text.unicodeScalars.first != " " { text = " " + text }
                let pieces = useRegex ? SplitPattern.gpt2.split(text) : [text]
                return pieces.enumerated().map { k, piece in
                    PreTokenSplit(text: BPEByteLevel.encode(piece), atOrigin: split.atOrigin && k == 0)
                }
            }
        case .metaspace(let replacement, let scheme, let split):
            return splits.flatMap { metaspace($0, replacement, scheme, split) }
        }
    }

    private func metaspace(_ piece: PreTokenSplit, _ marker: Unicode.Scalar, _ scheme: PrependScheme,
                           _ split: Bool) -> [PreTokenSplit] {
        var view = String.UnicodeScalarView()
        for c in piece.text.unicodeScalars { view.append(c == " " ? marker : c) }
        let startsWithMarker = view.first == marker
        let prepend = !startsWithMarker && (scheme == .always || (scheme == .first && piece.atOrigin))
        if prepend { view.insert(marker, at: view.startIndex) }
        guard split else { return [PreTokenSplit(text: String(view), atOrigin: piece.atOrigin)] }
        // Split before every marker; the marker stays with the piece that follows it.
        var pieces: [PreTokenSplit] = []
        var current = String.UnicodeScalarView()
        for c in view {
            if c == marker, !current.isEmpty {
                pieces.append(PreTokenSplit(text: String(current), atOrigin: piece.atOrigin && pieces.isEmpty))
                current = String.UnicodeScalarView()
            }
            current.append(c)
        }
        if !current.isEmpty {
            pieces.append(PreTokenSplit(text: String(current), atOrigin: piece.atOrigin && pieces.isEmpty))
        }
        return pieces
    }
}

extension PreTokenizer {
    /// Reads a `pre_tokenizer` entry; unknown types and regexes are errors naming the field.
    static func load(_ node: TokenizerJSONNode) throws -> PreTokenizer {
        let type = try node.typeName()
        switch type {
        case "Sequence":
            return .sequence(try node.required("pretokenizers").array().map(load))
        case "Split":
            return .split(try loadSplit(node))
        case "ByteLevel":
            return .byteLevel(addPrefixSpace: try node.bool("add_prefix_space", default: true),
                              useRegex: try node.bool("use_regex", default: true))
        case "Metaspace":
            return try loadMetaspace(node)
        default:
            throw node.error("unsupported pre-tokenizer type \"\(type)\" (supported: Sequence, Split, ByteLevel, Metaspace)")
        }
    }

    private static func loadSplit(_ node: TokenizerJSONNode) throws -> SplitPattern {
        let patternNode = try node.required("pattern")
        guard let regex = try patternNode.optionalString("Regex") else {
            throw patternNode.error("only a Regex pattern is supported")
        }
        guard let pattern = SplitPattern(regex: regex) else {
            throw patternNode.error("unsupported split regex \(regex) (supported: the Qwen2, Llama 3 and GPT-2 patterns)")
        }
        let behavior = try node.optionalString("behavior") ?? "Isolated"
        guard behavior == "Isolated" else {
            throw node.error("unsupported Split behavior \"\(behavior)\" (supported: Isolated)")
        }
        if try node.bool("invert", default: false) {
            throw node.error("an inverted Split is not supported")
        }
        return pattern
    }

    private static func loadMetaspace(_ node: TokenizerJSONNode) throws -> PreTokenizer {
        .metaspace(replacement: try node.character("replacement", default: "\u{2581}", in: "Metaspace"),
                   prependScheme: try loadPrependScheme(node),
                   split: try node.bool("split", default: true))
    }

    /// `prepend_scheme` ("always", "first", "never"), or the older `add_prefix_space` flag.
    static func loadPrependScheme(_ node: TokenizerJSONNode) throws -> PrependScheme {
        if let schemeNode = try node.optional("prepend_scheme") {
            let name = try schemeNode.string()
            guard let scheme = PrependScheme(rawValue: name) else {
                throw schemeNode.error("unknown prepend_scheme \"\(name)\" (expected always, first or never)")
            }
            return scheme
        }
        return try node.bool("add_prefix_space", default: true) ? .always : .never
    }
}
