import Foundation

/// A read-only view of one value inside a parsed tokenizer.json, with its JSON path, so that
/// every schema error names the file and the field (`model.merges[3]`).
struct TokenizerJSONNode {
    let value: TokenizerJSONValue
    let path: String
    let file: String

    static func parse(_ data: Data, file: String) throws -> TokenizerJSONNode {
        TokenizerJSONNode(value: try TokenizerJSONParser.parse(data, file: file), path: "", file: file)
    }

    func error(_ message: String) -> TokenizerError {
        TokenizerError(file: file, path.isEmpty ? message : "field '\(path)': \(message)")
    }

    var isNull: Bool {
        if case .null = value { return true }
        return false
    }

    private func childPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    // MARK: - Objects

    /// The members in file order (keys compared byte for byte, never merged).
    func members() throws -> [(key: String, value: TokenizerJSONNode)] {
        guard case .object(let members) = value else { throw error("expected an object") }
        return members.map { ($0.key, TokenizerJSONNode(value: $0.value, path: childPath($0.key), file: file)) }
    }

    /// The member `key`, or nil when it is absent or null.
    func optional(_ key: String) throws -> TokenizerJSONNode? {
        guard case .object(let members) = value else { throw error("expected an object") }
        let target = Array(key.utf8)
        guard let member = members.first(where: { $0.key.utf8.elementsEqual(target) }) else { return nil }
        if case .null = member.value { return nil }
        return TokenizerJSONNode(value: member.value, path: childPath(key), file: file)
    }

    func required(_ key: String) throws -> TokenizerJSONNode {
        guard let node = try optional(key) else {
            throw TokenizerError(file: file, "missing field '\(childPath(key))'")
        }
        return node
    }

    func string(_ key: String) throws -> String { try required(key).string() }
    func optionalString(_ key: String) throws -> String? { try optional(key)?.string() }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        try optional(key)?.bool() ?? fallback
    }

    func int(_ key: String, default fallback: Int) throws -> Int {
        try optional(key)?.int() ?? fallback
    }

    // MARK: - Scalars and arrays

    func string() throws -> String {
        guard case .string(let s) = value else { throw error("expected a string") }
        return s
    }

    func bool() throws -> Bool {
        guard case .bool(let b) = value else { throw error("expected true or false") }
        return b
    }

    func int() throws -> Int {
        guard case .number(let d) = value, d == d.rounded(), abs(d) < 9e15 else {
            throw error("expected an integer")
        }
        return Int(d)
    }

    func array() throws -> [TokenizerJSONNode] {
        guard case .array(let items) = value else { throw error("expected an array") }
        return items.enumerated().map { i, item in
            TokenizerJSONNode(value: item, path: "\(path)[\(i)]", file: file)
        }
    }

    /// The `type` member of a component (normalizer, pre-tokenizer, model, decoder).
    func typeName() throws -> String { try string("type") }

    /// The literal of a Replace component's `pattern` (regex patterns are not supported).
    func replacePattern() throws -> String {
        let pattern = try required("pattern")
        guard let literal = try pattern.optionalString("String") else {
            throw pattern.error("only a String pattern is supported for Replace")
        }
        return literal
    }

    /// A member that must be exactly one Unicode scalar (`default` when absent).
    func character(_ key: String, default fallback: String? = nil, in component: String) throws -> Unicode.Scalar {
        let text = try optionalString(key) ?? fallback ?? string(key)
        let scalars = Array(text.unicodeScalars)
        guard scalars.count == 1 else {
            throw error("\(component) \(key) must be one character, got \"\(text)\"")
        }
        return scalars[0]
    }
}
