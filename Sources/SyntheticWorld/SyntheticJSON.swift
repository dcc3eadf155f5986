import Foundation
import Core

/// A JSON value whose objects keep their key order, so that the generated
/// files read naturally ("image" before "caption") and are byte-identical
/// for the same seed on every platform.
enum SyntheticJSON {
    case string(String)
    case int(Int)
    case array([SyntheticJSON])
    case object([(String, SyntheticJSON)])
    case null

    /// Compact serialisation (one line), as JSONL needs.
    var compact: String {
        var out = ""
        write(into: &out)
        return out
    }

    /// A JSON array with one compact element per line.
    static func arrayLines(_ items: [SyntheticJSON]) -> String {
        items.isEmpty ? "[]\n" : "[\n" + items.map(\.compact).joined(separator: ",\n") + "\n]\n"
    }

    private func write(into out: inout String) {
        switch self {
        case .string(let s): jsonStringLiteral(s, into: &out)
        case .int(let i): out += String(i)
        case .null: out += "null"
        case .array(let items):
            out += "["
            for (k, item) in items.enumerated() {
                if k > 0 { out += ", " }
                item.write(into: &out)
            }
            out += "]"
        case .object(let pairs):
            out += "{"
            for (k, (key, value)) in pairs.enumerated() {
                if k > 0 { out += ", " }
                jsonStringLiteral(key, into: &out)
                out += ": "
                value.write(into: &out)
            }
            out += "}"
        }
    }
}

extension SyntheticObject {
    var json: SyntheticJSON {
        .object([
            ("shape", .string(shape.rawValue)), ("color", .string(color.rawValue)),
            ("size", .string(size.rawValue)), ("position", .string(position.rawValue)),
            ("bbox", .array(bbox.map { .int($0) })),
        ])
    }
}

extension SyntheticImageTruth {
    var json: SyntheticJSON {
        var pairs: [(String, SyntheticJSON)] = [
            ("id", .string(id)), ("image", .string(image)), ("kind", .string(kind.rawValue)),
            ("size", .array(size.map { .int($0) })), ("split", .string(split)),
            ("background", .string(background.rawValue)),
        ]
        if let objects { pairs.append(("objects", .array(objects.map { $0.json }))) }
        if let lines { pairs.append(("lines", .array(lines.map { .string($0) }))) }
        if let lineBoxes { pairs.append(("line_boxes", .array(lineBoxes.map { .array($0.map { .int($0) }) }))) }
        if let fontScale { pairs.append(("font_scale", .int(fontScale))) }
        return .object(pairs)
    }
}
