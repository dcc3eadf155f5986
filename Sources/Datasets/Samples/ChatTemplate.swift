import Tokenizers
/// The conversation formats of the MiniCPM-V family, rendered to token ids and SFT labels.
///
/// | template | model | one turn |
/// |---|---|---|
/// | `chatml` | MiniCPM-V 2.6 (Qwen2) | `<|im_start|>{role}\n{content}<|im_end|>\n` |
/// | `llama3` | MiniCPM-Llama3-V 2.5 | `<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>`, after one `<|begin_of_text|>` |
/// | `minicpm` | MiniCPM-V 2.0 | `<用户>{content}` for the user, `<AI>{content}</s>` for the assistant |
///
/// Only assistant answers and the token that ends them are supervised. Labels follow the
/// shifted convention: `labels[t]` is the target of the logits at position t, i.e. `ids[t + 1]`
/// when token t + 1 is supervised, else `ignoreIndex`; the last position is always `ignoreIndex`.
public enum ChatTemplate: String, CaseIterable, Codable, Sendable {
    case chatml
    case llama3
    case minicpm

    /// The label of positions that carry no loss.
    public static let ignoreIndex: Int32 = -100

    /// The token that ends a supervised answer.
    public var endOfTurnToken: String {
        switch self {
        case .chatml: return "<|im_end|>"
        case .llama3: return "<|eot_id|>"
        case .minicpm: return "</s>"
        }
    }

    /// Tokens the tokenizer must know as single tokens for this template.
    public var requiredTokens: [String] {
        switch self {
        case .chatml: return ["<|im_start|>", "<|im_end|>"]
        case .llama3: return ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
        case .minicpm: return ["</s>"]
        }
    }

    /// The conversation as consecutive text pieces, each marked supervised or not.
    ///
    /// - chatml: the Qwen2 / MiniCPM-V 2.6 template without a default system prompt.
    /// - llama3: contents are trimmed of surrounding whitespace, as the Llama 3 template does.
    /// - minicpm: the 2.0 format; every answer ends with `</s>` so that the end of each answer is
    ///   supervised the same way (the official 2.0 code appends it to the last turn and trains the
    ///   end of earlier answers to predict it). A system turn is plain text before the first turn.
    public func pieces(_ turns: [(role: String, content: String)]) -> [(text: String, supervised: Bool)] {
        var pieces: [(text: String, supervised: Bool)] = []
        if self == .llama3 { pieces.append(("<|begin_of_text|>", false)) }
        for turn in turns {
            let answer = turn.role == "assistant"
            switch self {
            case .chatml:
                pieces.append(("<|im_start|>\(turn.role)\n", false))
                pieces.append((turn.content + "<|im_end|>", answer))
                pieces.append(("\n", false))
            case .llama3:
                pieces.append(("<|start_header_id|>\(turn.role)<|end_header_id|>\n\n", false))
                pieces.append((Self.trimmed(turn.content) + "<|eot_id|>", answer))
            case .minicpm:
                switch turn.role {
                case "assistant":
                    pieces.append(("<AI>", false))
                    pieces.append((turn.content + "</s>", true))
                case "user": pieces.append(("<用户>" + turn.content, false))
                default: pieces.append((turn.content, false))
                }
            }
        }
        return pieces
    }

    /// The conversation as one string.
    public func text(_ turns: [(role: String, content: String)]) -> String {
        pieces(turns).map(\.text).joined()
    }

    /// Token ids and shifted labels of a conversation (image placeholders already in the content).
    ///
    /// The ids are exactly `tokenizer.encode(text(turns))`; a token is supervised when it comes
    /// from an assistant answer or its end token.
    public func render(_ turns: [(role: String, content: String)], tokenizer: Tokenizer)
        -> (ids: [Int32], labels: [Int32])
    {
        let parts = pieces(turns)
        let (ids, owner) = tokenizer.encode(pieces: parts.map(\.text))
        var labels = [Int32](repeating: Self.ignoreIndex, count: ids.count)
        for t in 0..<max(0, ids.count - 1) where parts[owner[t + 1]].supervised {
            labels[t] = ids[t + 1]
        }
        return (ids, labels)
    }

    /// Throws when the tokenizer would split one of the template's special tokens.
    public func check(tokenizer: Tokenizer) throws {
        let missing = requiredTokens.filter { tokenizer.encode($0).count != 1 }
        guard missing.isEmpty else {
            throw TokenizerError(file: tokenizer.source,
                                 "chat template \(rawValue) needs the single tokens \(missing.joined(separator: " ")), which this tokenizer lacks")
        }
    }

    private static func trimmed(_ text: String) -> String {
        let scalars = Array(text.unicodeScalars)
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[first...last])
        return String(view)
    }
}
