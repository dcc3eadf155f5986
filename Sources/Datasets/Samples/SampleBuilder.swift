import Foundation
import Tokenizers
import Core

/// Record → `TrainingSample`: images decoded, sliced and stripped; placeholders put into the
/// user text; the conversation rendered with the chat template into ids and labels; image
/// bounds found in the ids and checked.
///
/// Placeholders: a single image's placeholder replaces the `<image>` marker, or is put before
/// the first user turn followed by a newline when there is no marker (as the official finetune
/// code does); in the dict form each `<image_XX>` marker is replaced by its image's placeholder,
/// images numbered in the order their markers appear. Caption records become a user turn holding
/// the placeholder (and `captionPrompt`, if any) and an assistant turn holding the caption.
public struct SampleBuilder {
    public let tokenizer: Tokenizer
    /// SHA-256 of the tokenizer file: part of the cache key.
    public let tokenizerHash: String
    public let template: ChatTemplate
    public let images: ImagePreprocessor
    public var captionPrompt: String
    private let spans: SpanTokens

    /// Bumped whenever the way samples are built changes; part of the cache key.
    public static let version = 1

    public init(tokenizer: Tokenizer, template: ChatTemplate = .chatml, images: ImagePreprocessor = ImagePreprocessor(),
                captionPrompt: String = "", tokenizerHash: String? = nil) throws {
        try template.check(tokenizer: tokenizer)
        try images.slicing.validate()
        self.tokenizer = tokenizer
        self.template = template
        self.images = images
        self.captionPrompt = captionPrompt
        self.spans = try SpanTokens(tokenizer: tokenizer, schema: images.placeholders.schema)
        if let tokenizerHash {
            self.tokenizerHash = tokenizerHash
        } else if FileManager.default.fileExists(atPath: tokenizer.source) {
            self.tokenizerHash = SHA256.hex(try SHA256.file(URL(fileURLWithPath: tokenizer.source)))
        } else {
            self.tokenizerHash = "unhashed:" + tokenizer.source
        }
    }

    public var queryCount: Int { images.placeholders.queryCount }

    /// Everything that changes the samples built from a file: the cache key's settings part.
    /// (The row length is not in it: packing truncates at load time, so shards serve any.)
    public var settings: String {
        let s = images.slicing, p = images.placeholders
        return ["builder=\(SampleBuilder.version)", "tokenizer=\(tokenizerHash)", "template=\(template.rawValue)",
                "schema=\(p.schema.rawValue)", "queries=\(p.queryCount)", "image_ids=\(p.imageIDs.rawValue)",
                "slicing=\(s.maxSliceNums)/\(s.scaleResolution)/\(s.patchSize)/\(s.neverSplit)",
                "caption_prompt=\(captionPrompt.debugDescription)"].joined(separator: "; ")
    }

    // MARK: - Records

    /// The samples of one record: one, or two (chosen, rejected) for a preference record.
    public func samples(_ record: DataRecord) throws -> [TrainingSample] {
        switch record {
        case let .caption(r): return [try caption(r)]
        case let .conversation(r): return [try conversation(r)]
        case let .preference(r): return try preference(r).members
        }
    }

    public func caption(_ r: CaptionRecord) throws -> TrainingSample {
        let image = try images.preprocess(path: r.image.path, imageIndex: 0)
        let user = image.placeholder + "\n" + captionPrompt
        return try render(id: r.id, turns: [DialogueTurn(role: .user, content: user),
                                            DialogueTurn(role: .assistant, content: r.caption)],
                          images: [image])
    }

    public func conversation(_ r: ConversationRecord) throws -> TrainingSample {
        let (turns, placed) = try placeImages(r.images, in: r.turns)
        return try render(id: r.id, turns: turns, images: placed)
    }

    public func preference(_ r: PreferenceRecord) throws -> PreferenceSample {
        let prompt = [DialogueTurn(role: .user, content: r.question)]
        let (turns, placed) = try placeImages(r.images, in: prompt)
        func completion(_ text: String, _ tag: String) throws -> TrainingSample {
            try render(id: "\(r.id)/\(tag)", turns: turns + [DialogueTurn(role: .assistant, content: text)], images: placed)
        }
        return PreferenceSample(id: r.id, chosen: try completion(r.chosen, "chosen"), rejected: try completion(r.rejected, "rejected"))
    }

    /// Preprocesses the images in text order and writes their placeholders into the turns.
    private func placeImages(_ refs: [ImageReference], in turns: [DialogueTurn]) throws -> ([DialogueTurn], [PreprocessedImage]) {
        var turns = turns
        guard !refs.isEmpty else { return (turns, []) }
        if refs.count == 1 && refs[0].marker == nil {
            let image = try images.preprocess(path: refs[0].path, imageIndex: 0)
            if let t = turns.firstIndex(where: { $0.role == .user && $0.content.contains(imageMarker) }) {
                turns[t].content = turns[t].content.replacingOccurrences(of: imageMarker, with: image.placeholder)
            } else if let t = turns.firstIndex(where: { $0.role == .user }) {
                turns[t].content = image.placeholder + "\n" + turns[t].content
            }
            return (turns, [image])
        }
        // Dict form: number the images by where their markers first appear.
        let text = turns.filter { $0.role == .user }.map(\.content).joined(separator: "\u{0}")
        let ordered = refs.sorted { a, b in
            let pa = text.range(of: a.marker ?? "")?.lowerBound ?? text.endIndex
            let pb = text.range(of: b.marker ?? "")?.lowerBound ?? text.endIndex
            return pa < pb
        }
        var placed: [PreprocessedImage] = []
        for (i, ref) in ordered.enumerated() {
            let image = try images.preprocess(path: ref.path, imageIndex: i)
            for t in turns.indices where turns[t].role == .user {
                turns[t].content = turns[t].content.replacingOccurrences(of: ref.marker ?? imageMarker, with: image.placeholder)
            }
            placed.append(image)
        }
        return (turns, placed)
    }

    /// Renders, locates the image spans, attaches the strips and checks the result.
    func render(id: String, turns: [DialogueTurn], images: [PreprocessedImage]) throws -> TrainingSample {
        let (ids, labels) = template.render(turns.map { (role: $0.role.rawValue, content: $0.content) }, tokenizer: tokenizer)
        let slices = images.flatMap { image in
            zip(image.tgtSizes, image.strips).map { ImageSlice(tgtSize: $0, pixels: $1) }
        }
        let sample = TrainingSample(id: id, inputIds: ids, labels: labels,
                                    imageBounds: try spans.bounds(ids, sampleID: id), slices: slices)
        try sample.validate(queryCount: queryCount, patchSize: self.images.slicing.patchSize)
        if let k = sample.imageBounds.firstIndex(where: { ids[$0].contains { $0 != spans.unk } }) {
            throw DataError.invalidSample(id: id, problem: "image span \(k) holds tokens other than \(PlaceholderToken.unk)")
        }
        return sample
    }
}

/// The ids of the tags that open and close query spans.
///
/// 2.6 opens spans with `<image>` (overview) and `<slice>` (slices); 2.0 / 2.5 only with
/// `<image>`, their `<slice>` being a wrapper around further `<image>` blocks.
struct SpanTokens {
    let closing: [Int32: Int32]          // opening id → closing id
    let names: [Int32: String]
    let unk: Int32

    init(tokenizer: Tokenizer, schema: PlaceholderSchema) throws {
        var needed = [PlaceholderToken.imageStart, PlaceholderToken.imageEnd, PlaceholderToken.sliceStart,
                      PlaceholderToken.sliceEnd, PlaceholderToken.unk]
        if schema == .v2_6 { needed += [PlaceholderToken.imageIDStart, PlaceholderToken.imageIDEnd] }
        var ids: [String: Int32] = [:]
        for token in needed {
            let encoded = tokenizer.encode(token)
            guard encoded.count == 1 else {
                throw TokenizerError(file: tokenizer.source, "image placeholders need \(token) as one token; this tokenizer splits it into \(encoded.count)")
            }
            ids[token] = encoded[0]
        }
        var closing = [ids[PlaceholderToken.imageStart]!: ids[PlaceholderToken.imageEnd]!]
        if schema == .v2_6 { closing[ids[PlaceholderToken.sliceStart]!] = ids[PlaceholderToken.sliceEnd]! }
        self.closing = closing
        self.names = Dictionary(uniqueKeysWithValues: ids.map { ($1, $0) })
        self.unk = ids[PlaceholderToken.unk]!
    }

    /// start = index of the opening tag + 1, end = index of its closing tag.
    func bounds(_ ids: [Int32], sampleID: String) throws -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = 0
        while i < ids.count {
            guard let close = closing[ids[i]] else { i += 1; continue }
            guard let j = ids[(i + 1)...].firstIndex(of: close) else {
                throw DataError.invalidSample(id: sampleID, problem: "\(names[ids[i]] ?? "tag") at position \(i) is never closed")
            }
            out.append((i + 1)..<j)
            i = j + 1
        }
        return out
    }
}
