import Foundation

/// One JSON value of a data file and the line it starts on.
struct RawRecord {
    var line: Int
    var json: Data
}

/// Splits a data file into its records: either JSON Lines (one object per line, blank lines
/// skipped) or one JSON array of objects. The array is cut into elements by a small scanner so
/// that every record keeps the line it starts on for error messages.
enum RecordReader {
    static func read(_ url: URL) throws -> [RawRecord] {
        let file = url.path
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            let missing = !FileManager.default.fileExists(atPath: file)
            throw DataError.unreadable(file: file, reason: missing ? "no such file" : "cannot be read (\(error.localizedDescription))")
        }
        let bytes = [UInt8](data)
        var start = 0
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }     // UTF-8 byte-order mark
        var i = start, line = 1
        skipWhitespace(bytes, &i, &line)
        if i < bytes.count && bytes[i] == UInt8(ascii: "[") {
            return try splitArray(bytes, from: i, line: line, file: file)
        }
        return splitLines(bytes, from: start)
    }

    private static func splitLines(_ bytes: [UInt8], from start: Int) -> [RawRecord] {
        var records: [RawRecord] = []
        var line = 1, lineStart = start
        for i in start...bytes.count where i == bytes.count || bytes[i] == UInt8(ascii: "\n") {
            let slice = bytes[lineStart..<i]
            if slice.contains(where: { !isWhitespace($0) }) {
                records.append(RawRecord(line: line, json: Data(slice)))
            }
            line += 1
            lineStart = i + 1
        }
        return records
    }

    /// Cuts `[v0, v1, …]` into its top-level elements, tracking nesting and strings.
    private static func splitArray(_ b: [UInt8], from open: Int, line startLine: Int, file: String) throws -> [RawRecord] {
        var i = open + 1, line = startLine
        var records: [RawRecord] = []
        skipWhitespace(b, &i, &line)
        if i < b.count && b[i] == UInt8(ascii: "]") { return try finish(b, i + 1, line, file, records) }
        while true {
            let first = i, firstLine = line
            try skipValue(b, &i, &line, file: file)
            records.append(RawRecord(line: firstLine, json: Data(b[first..<i])))
            skipWhitespace(b, &i, &line)
            guard i < b.count else {
                throw DataError.malformed(file: file, line: line, reason: "the JSON array is not closed (missing ']')")
            }
            if b[i] == UInt8(ascii: "]") { return try finish(b, i + 1, line, file, records) }
            guard b[i] == UInt8(ascii: ",") else {
                throw DataError.malformed(file: file, line: line, reason: "expected ',' or ']' after record \(records.count)")
            }
            i += 1
            skipWhitespace(b, &i, &line)
        }
    }

    private static func finish(_ b: [UInt8], _ end: Int, _ line: Int, _ file: String, _ records: [RawRecord]) throws -> [RawRecord] {
        var i = end, l = line
        skipWhitespace(b, &i, &l)
        guard i == b.count else {
            throw DataError.malformed(file: file, line: l, reason: "unexpected text after the closing ']'")
        }
        return records
    }

    /// Advances past one JSON value (object, array, string or scalar) without parsing it.
    private static func skipValue(_ b: [UInt8], _ i: inout Int, _ line: inout Int, file: String) throws {
        var depth = 0, inString = false, escaped = false
        let startLine = line
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\n") { line += 1 }
            if inString {
                if escaped { escaped = false }
                else if c == UInt8(ascii: "\\") { escaped = true }
                else if c == UInt8(ascii: "\"") { inString = false; if depth == 0 { i += 1; return } }
            } else if c == UInt8(ascii: "\"") {
                inString = true
            } else if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                depth += 1
            } else if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") {
                if depth == 0 { return }            // end of a scalar element
                depth -= 1
                if depth == 0 { i += 1; return }
            } else if depth == 0 && (c == UInt8(ascii: ",") || isWhitespace(c)) {
                return
            }
            i += 1
        }
        throw DataError.malformed(file: file, line: startLine, reason: "record is not closed before the end of the file")
    }

    private static func skipWhitespace(_ b: [UInt8], _ i: inout Int, _ line: inout Int) {
        while i < b.count && isWhitespace(b[i]) {
            if b[i] == UInt8(ascii: "\n") { line += 1 }
            i += 1
        }
    }

    private static func isWhitespace(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09
    }
}

/// Typed access to the fields of one JSON object, with errors that name the file, the line
/// and the field path (`conversations[2].content`).
struct FieldReader {
    let file: String
    let line: Int
    let object: [String: Any]
    let path: String

    init(file: String, line: Int, json: Data) throws {
        let value: Any
        do { value = try JSONSerialization.jsonObject(with: json, options: [.fragmentsAllowed]) } catch {
            throw DataError.malformed(file: file, line: line, reason: "not valid JSON")
        }
        guard let object = value as? [String: Any] else {
            throw DataError.malformed(file: file, line: line, reason: "expected a JSON object, found \(FieldReader.kind(value))")
        }
        self.init(file: file, line: line, object: object, path: "")
    }

    init(file: String, line: Int, object: [String: Any], path: String) {
        self.file = file; self.line = line; self.object = object; self.path = path
    }

    func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func error(_ field: String, _ problem: String) -> DataError {
        DataError.schema(file: file, line: line, field: field, problem: problem)
    }

    func has(_ key: String) -> Bool { object[key] != nil && !(object[key] is NSNull) }

    func string(_ key: String) throws -> String {
        guard let value = object[key], !(value is NSNull) else { throw error(name(key), "missing") }
        guard let s = value as? String else { throw error(name(key), "expected a string, found \(FieldReader.kind(value))") }
        return s
    }

    func optionalString(_ key: String) throws -> String? { has(key) ? try string(key) : nil }

    /// An identifier: a string, or an integer written without quotes.
    func identifier(_ key: String) throws -> String? {
        guard has(key), let value = object[key] else { return nil }
        if let s = value as? String { return s }
        if let n = value as? NSNumber, !FieldReader.isBoolean(n), n.doubleValue == n.doubleValue.rounded() {
            return String(n.int64Value)
        }
        throw error(name(key), "expected a string or an integer, found \(FieldReader.kind(value))")
    }

    func objects(_ key: String) throws -> [FieldReader] {
        guard let value = object[key], !(value is NSNull) else { throw error(name(key), "missing") }
        guard let array = value as? [Any] else { throw error(name(key), "expected an array, found \(FieldReader.kind(value))") }
        return try array.enumerated().map { index, element in
            let path = "\(name(key))[\(index)]"
            guard let o = element as? [String: Any] else {
                throw error(path, "expected an object, found \(FieldReader.kind(element))")
            }
            return FieldReader(file: file, line: line, object: o, path: path)
        }
    }

    /// JSON booleans arrive as NSNumber too; their Objective-C type code is `c`.
    static func isBoolean(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

    static func kind(_ value: Any) -> String {
        switch value {
        case is NSNull: return "null"
        case is String: return "a string"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        case let n as NSNumber: return isBoolean(n) ? "a boolean" : "a number"
        default: return "\(type(of: value))"
        }
    }
}
