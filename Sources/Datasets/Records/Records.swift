import Foundation

/// The three data-set formats.
///
/// - `caption`: JSON Lines of `{"image": "path", "caption": "..."}` (pretraining).
/// - `conversations`: the official finetune format, a JSON array (or JSON Lines) of
///   `{"id", "image", "conversations": [{"role": "user"|"assistant", "content"}]}`, where `image` is
///   a path, a dict `{"<image_00>": path, …}` for several images, or absent (text only).
/// - `preference`: JSON Lines of `{"image", "question", "chosen", "rejected"}` (DPO).
///
/// Relative image paths resolve against the folder of the data file.
public enum DataFormat: String, Codable, CaseIterable {
    case captions, conversations, preference
    /// Per-cell labels of an image (`RegionRecord`): the vision encoder's pre-training data.
    case regions

    /// The format a record's fields imply.
    static func detect(_ record: FieldReader) throws -> DataFormat {
        if record.has("conversations") { return .conversations }
        if record.has("chosen") || record.has("rejected") { return .preference }
        if record.has("caption") { return .captions }
        if record.has("labels") { return .regions }
        throw record.error("conversations", "cannot tell the format: expected 'caption', 'conversations', "
                           + "'chosen'/'rejected' or 'labels'")
    }
}

/// Where a record came from: file, line (1-based) and index among the file's records.
public struct RecordLocation: Equatable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var index: Int
    public var description: String { "\(file):\(line)" }
    public init(file: String, line: Int, index: Int = 0) { self.file = file; self.line = line; self.index = index }
}

/// An image of a record: its resolved path and, for the dict form, its marker (`<image_00>`).
public struct ImageReference: Equatable, Codable {
    public var marker: String?
    public var path: String
    public init(marker: String? = nil, path: String) { self.marker = marker; self.path = path }
}

public enum DialogueRole: String, Codable, Equatable {
    case system, user, assistant
}

public struct DialogueTurn: Equatable, Codable {
    public var role: DialogueRole
    public var content: String
    public init(role: DialogueRole, content: String) { self.role = role; self.content = content }
}

public struct CaptionRecord: Equatable {
    public var location: RecordLocation
    public var id: String
    public var image: ImageReference
    public var caption: String
}

public struct ConversationRecord: Equatable {
    public var location: RecordLocation
    public var id: String
    /// In the order of the record; the dict form lists its markers sorted by name.
    public var images: [ImageReference]
    public var turns: [DialogueTurn]

    public init(location: RecordLocation, id: String, images: [ImageReference], turns: [DialogueTurn]) {
        self.location = location; self.id = id; self.images = images; self.turns = turns
    }

    /// The turns with every image marker of the record (and the newline after it) taken out.
    public var textTurns: [DialogueTurn] {
        let markers = images.map { $0.marker ?? imageMarker }
        return turns.map { turn in
            var content = turn.content
            for m in markers { content = content.replacingOccurrences(of: m + "\n", with: "").replacingOccurrences(of: m, with: "") }
            return DialogueTurn(role: turn.role, content: content)
        }
    }
}

public struct PreferenceRecord: Equatable {
    public var location: RecordLocation
    public var id: String
    public var images: [ImageReference]
    public var question: String
    public var chosen: String
    public var rejected: String
}

public enum DataRecord: Equatable {
    case caption(CaptionRecord)
    case conversation(ConversationRecord)
    case preference(PreferenceRecord)

    public var id: String {
        switch self {
        case let .caption(r): return r.id
        case let .conversation(r): return r.id
        case let .preference(r): return r.id
        }
    }

    public var location: RecordLocation {
        switch self {
        case let .caption(r): return r.location
        case let .conversation(r): return r.location
        case let .preference(r): return r.location
        }
    }

    public var images: [ImageReference] {
        switch self {
        case let .caption(r): return [r.image]
        case let .conversation(r): return r.images
        case let .preference(r): return r.images
        }
    }
}

/// The single-image marker of the official format.
public let imageMarker = "<image>"

/// Reads every record of a data file. With `format` nil the format is taken from the first
/// record's fields; all records of a file must have the same format.
public func readRecords(_ url: URL, format: DataFormat? = nil) throws -> [DataRecord] {
    let file = url.path
    let folder = url.deletingLastPathComponent()
    var expected = format
    return try RecordReader.read(url).enumerated().map { index, raw in
        let fields = try FieldReader(file: file, line: raw.line, json: raw.json)
        let found = try expected ?? DataFormat.detect(fields)
        expected = found
        let location = RecordLocation(file: file, line: raw.line, index: index)
        return try RecordParser(fields: fields, location: location, folder: folder).parse(found)
    }
}

/// Turns one JSON object into a typed record, checking every rule of its format.
struct RecordParser {
    let fields: FieldReader
    let location: RecordLocation
    let folder: URL

    func parse(_ format: DataFormat) throws -> DataRecord {
        switch format {
        case .captions: return .caption(try caption())
        case .conversations: return .conversation(try conversation())
        case .preference: return .preference(try preference())
        case .regions:
            // The image alone goes through the sample pipeline; the objective reads the labels.
            let r = try region()
            return .caption(CaptionRecord(location: r.location, id: r.id, image: r.image, caption: ""))
        }
    }

    var defaultID: String { "\(URL(fileURLWithPath: location.file).lastPathComponent):\(location.line)" }

    func caption() throws -> CaptionRecord {
        let images = try self.images()
        guard images.count == 1, images[0].marker == nil else {
            throw fields.error("image", images.isEmpty ? "missing" : "a caption record takes one image path")
        }
        let caption = try fields.string("caption")
        if caption.contains(imageMarker) { throw fields.error("caption", "must not contain the \(imageMarker) marker") }
        return CaptionRecord(location: location, id: try fields.identifier("id") ?? defaultID,
                             image: images[0], caption: caption)
    }

    func conversation() throws -> ConversationRecord {
        let images = try self.images()
        let turns = try fields.objects("conversations").map(turn)
        try checkOrder(turns)
        try checkMarkers(images, texts: turns.enumerated().map { ("conversations[\($0)].content", $1.content) },
                         userTexts: Set(turns.indices.filter { turns[$0].role == .user }
                                                    .map { "conversations[\($0)].content" }))
        return ConversationRecord(location: location, id: try fields.identifier("id") ?? defaultID,
                                  images: images, turns: turns)
    }

    func preference() throws -> PreferenceRecord {
        let images = try self.images()
        let question = try fields.string("question")
        let chosen = try fields.string("chosen"), rejected = try fields.string("rejected")
        try checkMarkers(images, texts: [("question", question), ("chosen", chosen), ("rejected", rejected)],
                         userTexts: ["question"])
        return PreferenceRecord(location: location, id: try fields.identifier("id") ?? defaultID,
                                images: images, question: question, chosen: chosen, rejected: rejected)
    }

    /// `image`: absent (text only), a path, or a dict from `<image_XX>` markers to paths.
    func images() throws -> [ImageReference] {
        guard fields.has("image"), let value = fields.object["image"] else { return [] }
        if let path = value as? String {
            return [ImageReference(path: try resolve(path, field: "image"))]
        }
        guard let dict = value as? [String: Any] else {
            throw fields.error("image", "expected a path or an object of '<image_XX>': path, found \(FieldReader.kind(value))")
        }
        guard !dict.isEmpty else { throw fields.error("image", "the image object is empty") }
        return try dict.keys.sorted().map { marker in
            let field = "image.\(marker)"
            guard marker.hasPrefix("<"), marker.hasSuffix(">"), marker != imageMarker else {
                throw fields.error(field, "a marker must look like <image_00>")
            }
            guard let path = dict[marker] as? String else {
                throw fields.error(field, "expected a path, found \(FieldReader.kind(dict[marker]!))")
            }
            return ImageReference(marker: marker, path: try resolve(path, field: field))
        }
    }

    func resolve(_ path: String, field: String) throws -> String {
        guard !path.isEmpty else { throw fields.error(field, "empty path") }
        if path.hasPrefix("/") { return path }
        return folder.appendingPathComponent(path).standardizedFileURL.path
    }

    /// Accepts `role`/`content`, and also `from`/`value` with `human`/`gpt` (LLaVA style).
    func turn(_ t: FieldReader) throws -> DialogueTurn {
        let roleKey = t.has("role") || !t.has("from") ? "role" : "from"
        let contentKey = t.has("content") || !t.has("value") ? "content" : "value"
        let name = try t.string(roleKey)
        let roles: [String: DialogueRole] = ["user": .user, "human": .user, "assistant": .assistant,
                                             "gpt": .assistant, "system": .system]
        guard let role = roles[name.lowercased()] else {
            throw t.error(t.name(roleKey), "expected 'user', 'assistant' or 'system', found '\(name)'")
        }
        return DialogueTurn(role: role, content: try t.string(contentKey))
    }

    /// An optional system turn, then user and assistant alternating, ending with an assistant.
    func checkOrder(_ turns: [DialogueTurn]) throws {
        let body = turns.first?.role == .system ? Array(turns.dropFirst()) : turns
        let offset = turns.count - body.count
        guard !body.isEmpty else { throw fields.error("conversations", "no user or assistant turn") }
        for (i, t) in body.enumerated() {
            let want: DialogueRole = i % 2 == 0 ? .user : .assistant
            if t.role != want {
                throw fields.error("conversations[\(i + offset)].role", "expected '\(want.rawValue)' here, found '\(t.role.rawValue)'")
            }
        }
        if body.last?.role != .assistant {
            throw fields.error("conversations[\(turns.count - 1)]", "the last turn must be the assistant's")
        }
    }

    /// Markers may appear only in user text: `<image>` at most once for a single image, each
    /// `<image_XX>` of the dict form exactly once; no marker at all without an image.
    func checkMarkers(_ images: [ImageReference], texts: [(String, String)], userTexts: Set<String>) throws {
        let single = images.count == 1 && images[0].marker == nil
        var markers = [imageMarker]
        markers += images.compactMap(\.marker)
        var seen: [String: Int] = [:]
        for (field, text) in texts {
            for marker in markers {
                let n = text.components(separatedBy: marker).count - 1
                guard n > 0 else { continue }
                if !userTexts.contains(field) { throw fields.error(field, "\(marker) may appear only in user text") }
                if marker == imageMarker && !single {
                    throw fields.error(field, images.isEmpty ? "contains \(imageMarker) but the record has no image"
                                                             : "use the markers of the image object, not \(imageMarker)")
                }
                seen[marker, default: 0] += n
                if seen[marker]! > 1 {
                    throw fields.error(field, "\(marker) appears \(seen[marker]!) times; each image has one marker")
                }
            }
        }
        for image in images {
            if let marker = image.marker, seen[marker] == nil {
                throw fields.error("image.\(marker)", "the marker does not appear in any user text")
            }
        }
    }
}
