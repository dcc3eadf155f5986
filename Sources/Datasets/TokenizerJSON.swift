import Foundation

/// A read-only view of one value inside a parsed tokenizer.json, with its JSON path, so that
/// every schema error names the file and the field (`model.merges[3]`).
struct TokenizerJSONNode {
    let value: Any
    let path: String
    let file: String

    /// Parses `data` as JSON; syntax errors name the file and keep Foundation's position hint.
    static func parse(_ data: Data, file: String) throws -> TokenizerJSONNode {
        do {
            let value = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            return TokenizerJSONNode(value: value, path: "", file: file)
        } catch {
            let ns = error as NSError
            let detail = (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
            throw TokenizerError(file: file, "not valid JSON (\(detail))")
        }
    }

    func error(_ message: String) -> TokenizerError {
        TokenizerError(file: file, path.isEmpty ? message : "field '\(path)': \(message)")
    }

    var isNull: Bool { value is NSNull }

    private func childPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    // MARK: - Objects

    func object() throws -> [String: Any] {
        guard let dict = value as? [String: Any] else { throw error("expected an object") }
        return dict
    }

    /// The member `key`, or nil when it is absent or null.
    func optional(_ key: String) throws -> TokenizerJSONNode? {
        guard let member = try object()[key], !(member is NSNull) else { return nil }
        return TokenizerJSONNode(value: member, path: childPath(key), file: file)
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
        guard let s = value as? String else { throw error("expected a string") }
        return s
    }

    func bool() throws -> Bool {
        guard let b = value as? Bool, !(value is String) else { throw error("expected true or false") }
        return b
    }

    func int() throws -> Int {
        if let n = value as? NSNumber {
            let d = n.doubleValue
            if d == d.rounded(), abs(d) < 9e15 { return Int(d) }
        }
        throw error("expected an integer")
    }

    func array() throws -> [TokenizerJSONNode] {
        guard let items = value as? [Any] else { throw error("expected an array") }
        return items.enumerated().map { i, item in
            TokenizerJSONNode(value: item, path: "\(path)[\(i)]", file: file)
        }
    }

    /// The `type` member of a component (normalizer, pre-tokenizer, model, decoder).
    func typeName() throws -> String { try string("type") }
}
