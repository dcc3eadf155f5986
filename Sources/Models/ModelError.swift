import Foundation

/// What the model layer throws: a configuration that cannot be used (naming the file
/// when known), or a batch that does not fit the model (shapes, ids, image bounds).
public struct ModelError: Error, CustomStringConvertible {
    public enum Kind { case config, input }
    public let kind: Kind
    public let file: String?
    public let message: String

    public init(file: String? = nil, _ message: String, kind: Kind = .config) {
        self.kind = kind
        self.file = file
        self.message = message
    }

    /// A batch that does not fit the model.
    public static func input(_ message: String) -> ModelError { ModelError(message, kind: .input) }

    public var description: String {
        switch kind {
        case .input: return "invalid model input: \(message)"
        case .config: return file.map { "config error in \($0): \(message)" } ?? "config error: \(message)"
        }
    }
}

extension DecodingError {
    /// "field a.b.c: what went wrong", for error messages.
    var readable: String {
        func path(_ keys: [CodingKey]) -> String {
            keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch self {
        case .keyNotFound(let key, let ctx):
            let p = path(ctx.codingPath + [key])
            return "missing field '\(p)'"
        case .typeMismatch(let type, let ctx):
            return "field '\(path(ctx.codingPath))': expected \(type) (\(ctx.debugDescription))"
        case .valueNotFound(let type, let ctx):
            return "field '\(path(ctx.codingPath))': expected \(type), found null"
        case .dataCorrupted(let ctx):
            let p = path(ctx.codingPath)
            return (p.isEmpty ? "" : "field '\(p)': ") + ctx.debugDescription
        @unknown default:
            return "\(self)"
        }
    }
}

/// Decodes `T` from JSON data, turning decoding failures into `ModelError`s.
func decodeConfig<T: Decodable>(_ type: T.Type, from data: Data, file: String?) throws -> T {
    do {
        return try JSONDecoder().decode(T.self, from: data)
    } catch let error as DecodingError {
        throw ModelError(file: file, error.readable)
    } catch let error as ModelError {
        throw ModelError(file: file, error.message)
    }
}

/// Reads and decodes a JSON config file.
func loadConfig<T: Decodable>(_ type: T.Type, at url: URL) throws -> T {
    guard let data = FileManager.default.contents(atPath: url.path) else {
        throw ModelError(file: url.path, "file not found or unreadable")
    }
    return try decodeConfig(T.self, from: data, file: url.path)
}

/// Keys for decoding arbitrary JSON objects field by field.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension KeyedDecodingContainer where Key == AnyKey {
    func value<T: Decodable>(_ key: String, default value: T) throws -> T {
        try decodeIfPresent(T.self, forKey: AnyKey(key)) ?? value
    }
    func required<T: Decodable>(_ key: String) throws -> T {
        try decode(T.self, forKey: AnyKey(key))
    }
    func optional<T: Decodable>(_ key: String) throws -> T? {
        try decodeIfPresent(T.self, forKey: AnyKey(key))
    }
    func has(_ key: String) -> Bool { contains(AnyKey(key)) }
}

extension KeyedEncodingContainer where Key == AnyKey {
    mutating func put<T: Encodable>(_ key: String, _ value: T) throws {
        try encode(value, forKey: AnyKey(key))
    }
    mutating func putIfPresent<T: Encodable>(_ key: String, _ value: T?) throws {
        if let value { try encode(value, forKey: AnyKey(key)) }
    }
}
