import Foundation

/// A JSON document as flat `a.b.c → value text` pairs, for naming what differs between two
/// configs or recipes. Lists of objects are entered (`phases[0].steps`); other lists are one
/// value (`[70, 70]`).
func flattenedJSON(_ data: Data) -> [String: String] {
    guard let json = try? JSONDecoder().decode(FlatJSON.self, from: data) else { return [:] }
    var out: [String: String] = [:]
    func walk(_ value: FlatJSON, _ key: String) {
        switch value {
        case .object(let object):
            for (k, v) in object { walk(v, key.isEmpty ? k : "\(key).\(k)") }
        case .list(let list) where list.contains(where: \.isObject):
            for (i, v) in list.enumerated() { walk(v, "\(key)[\(i)]") }
        default:
            out[key] = value.text
        }
    }
    walk(json, "")
    return out
}

/// A JSON value, decoded only to be flattened and compared as text.
private enum FlatJSON: Decodable {
    case object([String: FlatJSON]), list([FlatJSON]), scalar(String)

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let o = try? c.decode([String: FlatJSON].self) { self = .object(o) }
        else if let l = try? c.decode([FlatJSON].self) { self = .list(l) }
        else if let b = try? c.decode(Bool.self) { self = .scalar("\(b)") }
        else if let i = try? c.decode(Int.self) { self = .scalar("\(i)") }
        else if let d = try? c.decode(Double.self) { self = .scalar("\(d)") }
        else if let s = try? c.decode(String.self) { self = .scalar(s) }
        else { self = .scalar("–") }
    }

    var isObject: Bool { if case .object = self { return true } else { return false } }

    var text: String {
        switch self {
        case .scalar(let s): return s
        case .list(let l): return "[" + l.map(\.text).joined(separator: ", ") + "]"
        case .object(let o): return "{" + o.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.text)" }.joined(separator: ", ") + "}"
        }
    }
}
