import Foundation
import Yams

/// A recipe problem, located at a file and line, naming the key.
public struct RecipeError: Error, CustomStringConvertible {
    public let file: String
    public let line: Int?
    public let message: String

    public var description: String {
        "\(file)\(line.map { ":\($0)" } ?? ""): \(message)"
    }
}

/// Typed access to one YAML mapping that remembers which keys were read, so
/// that unknown keys (typos) are reported with their line instead of ignored.
final class YAMLFields {
    let file: String
    let path: String
    /// Keys that once were settings, with the reason they are gone: refused in a
    /// recipe file, skipped in a recipe stored by an older checkpoint.
    static let retired = ["dpo.reference": "the reference is always the starting weights, their log-probs computed once"]
    /// Read from a checkpoint: retired keys are skipped.
    let stored: Bool
    private let pairs: [(key: String, value: Node, line: Int?)]
    private let line: Int?
    private var read = Set<String>()

    init(_ node: Node, file: String, path: String, stored: Bool = false) throws {
        self.file = file; self.path = path; self.stored = stored
        self.line = node.mark.map { $0.line }
        guard case .mapping(let m) = node else {
            throw RecipeError(file: file, line: node.mark?.line, message: "`\(path.isEmpty ? "recipe" : path)` must be a mapping of keys to values")
        }
        pairs = m.map { (key: $0.key.string ?? "\($0.key)", value: $0.value, line: $0.key.mark?.line) }
    }

    private func qualified(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func node(_ key: String) -> Node? {
        read.insert(key)
        return pairs.first { $0.key == key }?.value
    }

    func has(_ key: String) -> Bool { pairs.contains { $0.key == key } }

    func error(_ key: String, _ message: String) -> RecipeError {
        let l = pairs.first { $0.key == key }?.line ?? line
        return RecipeError(file: file, line: l, message: "`\(qualified(key))` \(message)")
    }

    func string(_ key: String) throws -> String? {
        guard let n = node(key) else { return nil }
        guard case .scalar(let s) = n else { throw error(key, "must be a string") }
        return s.string
    }

    func string(_ key: String, default d: String) throws -> String { try string(key) ?? d }

    func requiredString(_ key: String) throws -> String {
        guard let s = try string(key) else { throw missing(key) }
        return s
    }

    func int(_ key: String) throws -> Int? {
        guard let n = node(key) else { return nil }
        guard let v = n.int else { throw error(key, "must be an integer, got `\(n.string ?? "\(n)")`") }
        return v
    }

    func int(_ key: String, default d: Int) throws -> Int { try int(key) ?? d }

    func double(_ key: String) throws -> Double? {
        guard let n = node(key) else { return nil }
        guard let v = number(n) else {
            throw error(key, "must be a number, got `\(n.string ?? "\(n)")`")
        }
        return v
    }

    func double(_ key: String, default d: Double) throws -> Double { try double(key) ?? d }

    func bool(_ key: String) throws -> Bool? {
        guard let n = node(key) else { return nil }
        guard let v = n.bool else { throw error(key, "must be true or false, got `\(n.string ?? "\(n)")`") }
        return v
    }

    func bool(_ key: String, default d: Bool) throws -> Bool { try bool(key) ?? d }

    /// A list of strings; a single string counts as a one-element list.
    func strings(_ key: String) throws -> [String]? {
        guard let n = node(key) else { return nil }
        if case .scalar(let s) = n { return [s.string] }
        guard case .sequence(let seq) = n else { throw error(key, "must be a list of strings") }
        return try seq.map { item in
            guard case .scalar(let s) = item else { throw error(key, "must be a list of strings") }
            return s.string
        }
    }

    func doubles(_ key: String) throws -> [Double]? {
        guard let n = node(key) else { return nil }
        guard case .sequence(let seq) = n else { throw error(key, "must be a list of numbers") }
        return try seq.map { item in
            guard let v = number(item) else {
                throw error(key, "must be a list of numbers")
            }
            return v
        }
    }

    func object(_ key: String) throws -> YAMLFields? {
        guard let n = node(key) else { return nil }
        return try YAMLFields(n, file: file, path: qualified(key), stored: stored)
    }

    func objects(_ key: String) throws -> [YAMLFields]? {
        guard let n = node(key) else { return nil }
        guard case .sequence(let seq) = n else { throw error(key, "must be a list of mappings") }
        return try seq.enumerated().map {
            try YAMLFields($0.element, file: file, path: "\(qualified(key))[\($0.offset)]", stored: stored)
        }
    }

    /// Keys and numeric values of a mapping (e.g. per-module multipliers).
    func numberMap(_ key: String) throws -> [String: Double]? {
        guard let o = try object(key) else { return nil }
        var out: [String: Double] = [:]
        for k in o.keys { out[k] = try o.double(k) }
        return out
    }

    var keys: [String] { pairs.map(\.key) }

    func missing(_ key: String) -> RecipeError {
        RecipeError(file: file, line: line, message: "`\(qualified(key))` is required")
    }

    /// One of an enumeration's values, by its YAML name.
    func choice<E: RawRepresentable & CaseIterable>(_ key: String, default d: E) throws -> E where E.RawValue == String {
        guard let name = try string(key) else { return d }
        guard let value = E(rawValue: name) else {
            let names = E.allCases.map(\.rawValue)
            let list = names.count < 2 ? names.joined() : names.dropLast().joined(separator: ", ") + " or " + names.last!
            throw error(key, "must be \(list), got `\(name)`")
        }
        return value
    }

    /// Fails on the first key that was never read (a typo, or a key this section
    /// does not have), suggesting the closest of the keys the section asked for.
    func rejectUnread() throws {
        let known = read.sorted()
        for p in pairs where !read.contains(p.key) {
            if let why = YAMLFields.retired[qualified(p.key)] {
                if stored { continue }
                throw RecipeError(file: file, line: p.line, message: "`\(qualified(p.key))` is no longer a setting (\(why)); remove it")
            }
            let hint = known.min { editDistance($0, p.key) < editDistance($1, p.key) }
                .flatMap { editDistance($0, p.key) <= 3 ? " (did you mean `\($0)`?)" : nil } ?? ""
            throw RecipeError(file: file, line: p.line, message: "unknown key `\(qualified(p.key))`\(hint)")
        }
    }
}

/// A YAML scalar as a number (integers included).
func number(_ n: Node) -> Double? {
    if let i = n.int { return Double(i) }
    if let f = n.float { return Double(f) }
    return nil
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
    var prev = Array(0...b.count), cur = prev
    for i in 1...a.count {
        cur[0] = i
        for j in 1...b.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&prev, &cur)
    }
    return prev[b.count]
}
