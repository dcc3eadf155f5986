import Foundation
import Core

/// The result of BPE training: a byte-level vocabulary, its merges and the special tokens.
public struct TrainedBPE {
    /// Model tokens in id order (byte-level strings): the 256 bytes, then one per merge.
    public let tokens: [String]
    /// The merges in rank order, as (left, right) byte-level strings.
    public let merges: [(String, String)]
    /// Special tokens; special token k has id `tokens.count + k`.
    public let specialTokens: [String]

    /// Number of ids: model tokens plus special tokens.
    public var vocabSize: Int { tokens.count + specialTokens.count }

    /// A Hugging Face tokenizer.json for this vocabulary, in the Qwen2 layout, readable by this
    /// package's `Tokenizer` and by the `tokenizers` library. Merges use the `"left right"` form,
    /// which every `tokenizers` version reads (byte-level tokens never contain a space).
    public func tokenizerJSON() -> String {
        let byteLevel = #"{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}"#
        var out = "{\n"
        out += "  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n"
        out += "  \"added_tokens\": [\n"
        out += specialTokens.enumerated().map { k, content in
            "    {\"id\": \(tokens.count + k), \"content\": \(jsonStringLiteral(content)), \"single_word\": false, "
                + "\"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}"
        }.joined(separator: ",\n")
        out += "\n  ],\n"
        out += "  \"normalizer\": {\"type\": \"NFC\"},\n"
        out += "  \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": "
            + jsonStringLiteral(SplitPattern.qwen2.regex) + "}, \"behavior\": \"Isolated\", \"invert\": false}, " + byteLevel + "]},\n"
        out += "  \"post_processor\": \(byteLevel),\n"
        out += "  \"decoder\": \(byteLevel),\n"
        out += "  \"model\": {\n    \"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, \"continuing_subword_prefix\": null, "
            + "\"end_of_word_suffix\": null, \"fuse_unk\": false, \"byte_fallback\": false, \"ignore_merges\": false,\n"
        out += "    \"vocab\": {\n"
        out += tokens.enumerated().map { id, token in "      \(jsonStringLiteral(token)): \(id)" }.joined(separator: ",\n")
        out += "\n    },\n    \"merges\": [\n"
        out += merges.map { "      " + jsonStringLiteral($0.0 + " " + $0.1) }.joined(separator: ",\n")
        out += "\n    ]\n  }\n}\n"
        return out
    }

    /// Writes `tokenizerJSON()` to `path` (through a temporary file, then renamed).
    public func write(to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
        do {
            try Data(tokenizerJSON().utf8).write(to: temporary)
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(at: url) }
            try FileManager.default.moveItem(at: temporary, to: url)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw TokenizerError(file: path, "cannot write the tokenizer (\(error.localizedDescription))")
        }
    }
}
