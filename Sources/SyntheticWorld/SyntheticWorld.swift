import Core
import Foundation
import Datasets

/// Errors of the synthetic data generator and of its ground-truth reader.
public enum SyntheticWorldError: Error, CustomStringConvertible, Equatable {
    case invalidArgument(String)
    case writeFailed(String, String)
    case unreadable(String, String)
    case badRecord(String, line: Int, String)

    public var description: String {
        switch self {
        case .invalidArgument(let why): return "synthetic data: \(why)"
        case .writeFailed(let path, let why): return "\(path): cannot write: \(why)"
        case .unreadable(let path, let why): return "\(path): cannot read: \(why)"
        case .badRecord(let path, let line, let why): return "\(path):\(line): \(why)"
        }
    }
}

/// What `SyntheticWorld.generate` wrote.
public struct SyntheticWorldSummary: Equatable, Sendable {
    public var shapesImages = 0
    public var documentImages = 0
    public var heldoutImages = 0
    /// Records per written file (relative path → count).
    public var records: [String: Int] = [:]
    /// Total size of everything written, in bytes.
    public var bytes = 0
}

/// The synthetic world: images of coloured shapes and printed documents with
/// their ground truth, and every training file the recipes read (captions,
/// OCR, SFT Part-1 and Part-2, preference pairs), split into train and held-out.
/// Everything is a pure function of the seed.
public enum SyntheticWorld {
    /// Every `heldoutEvery`-th image of each kind goes to the held-out split.
    public static let heldoutEvery = 10
    /// One text-only Part-1 sample per this many shapes images.
    static let textOnlyEvery = 20
    /// One two-image Part-2 sample per this many shapes images.
    static let imagePairEvery = 16

    /// Documents generated for `count` shapes images when not given: one per eight.
    public static func defaultDocuments(count: Int) -> Int { max(1, count / 8) }

    public static func id(_ kind: SyntheticImageKind, _ index: Int, total: Int) -> String {
        let digits = max(4, String(total).count)
        let number = String(index + 1)
        return "\(kind == .shapes ? "shapes" : "doc")-" + String(repeating: "0", count: digits - number.count) + number
    }

    public static func split(index: Int) -> String { index % heldoutEvery == heldoutEvery - 1 ? "heldout" : "train" }

    /// Image `index` of `kind`, drawn from its own stream of `seed`.
    public static func image(_ kind: SyntheticImageKind, index: Int, total: Int, seed: UInt64,
                             noise: Int = 0) -> (SyntheticImageTruth, RGBImage) {
        let id = id(kind, index, total: total)
        var rng = RNG(seed: seed).derived("\(kind.rawValue)/\(index)")
        let path = "images/\(id).png", split = split(index: index)
        return kind == .shapes
            ? SyntheticScene.shapes(id: id, image: path, split: split, rng: &rng, noise: noise)
            : SyntheticScene.document(id: id, image: path, split: split, rng: &rng, noise: noise)
    }

    /// The stream that picks the texts about image `truth`.
    static func textRNG(_ truth: SyntheticImageTruth, seed: UInt64) -> RNG {
        RNG(seed: seed).derived("text/\(truth.id)")
    }

    /// Writes `count` shapes images, `documents` documents (default count/8),
    /// their ground truth and every training file into `folder`.
    @discardableResult
    public static func generate(to folder: URL, count: Int, documents: Int? = nil, seed: UInt64,
                                noise: Int = 0) throws -> SyntheticWorldSummary {
        let docs = documents ?? defaultDocuments(count: count)
        guard count >= 1 else { throw SyntheticWorldError.invalidArgument("--count must be at least 1, got \(count)") }
        guard docs >= 0 else { throw SyntheticWorldError.invalidArgument("--documents must be >= 0, got \(docs)") }
        guard (0...64).contains(noise) else { throw SyntheticWorldError.invalidArgument("--noise must be in 0...64, got \(noise)") }
        let images = folder.appendingPathComponent("images")
        do {
            try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        } catch {
            throw SyntheticWorldError.writeFailed(images.path, "\(error.localizedDescription)")
        }
        var files = SyntheticFiles()
        var summary = SyntheticWorldSummary()
        var shapes: [SyntheticImageTruth] = []
        for (kind, total) in [(SyntheticImageKind.shapes, count), (.document, docs)] {
            for index in 0..<total {
                let (truth, canvas) = image(kind, index: index, total: total, seed: seed, noise: noise)
                try canvas.writePNG(to: folder.appendingPathComponent(truth.image).path)
                var rng = textRNG(truth, seed: seed)
                files.add(truth, SyntheticRecords.make(truth, rng: &rng))
                if kind == .shapes {
                    shapes.append(truth)
                    if index % textOnlyEvery == 0 {
                        files.addPart1(SyntheticRecords.textOnly(id: "text-\(truth.id)", rng: &rng), split: truth.split)
                    }
                }
                summary.heldoutImages += truth.split == "heldout" ? 1 : 0
            }
        }
        // Each pair joins an image with the next one of the same split.
        for i in stride(from: 3, to: shapes.count, by: imagePairEvery) {
            guard let j = (i + 1..<shapes.count).first(where: { shapes[$0].split == shapes[i].split }) else { continue }
            files.addPart2(SyntheticRecords.imagePair(id: "pair-\(shapes[i].id)", shapes[i], shapes[j]),
                           split: shapes[i].split)
        }
        summary.shapesImages = count
        summary.documentImages = docs
        files.readme = readme(count: count, documents: docs, seed: seed, noise: noise, files: files)
        summary.records = try files.write(to: folder)
        summary.bytes = try folderSize(folder)
        return summary
    }

    /// The command that regenerates a folder.
    public static func command(out: String, count: Int, documents: Int, seed: UInt64, noise: Int) -> String {
        var c = "trainer data synth --out \(out) --count \(count) --seed \(seed)"
        if documents != defaultDocuments(count: count) { c += " --documents \(documents)" }
        if noise != 0 { c += " --noise \(noise)" }
        return c
    }

    static func folderSize(_ folder: URL) throws -> Int {
        guard let e = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.fileSizeKey]) else {
            throw SyntheticWorldError.unreadable(folder.path, "cannot list the folder")
        }
        var total = 0
        for case let url as URL in e {
            total += (try? url.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0
        }
        return total
    }

    /// Reads `metadata.jsonl`; errors name the file and line.
    public static func readMetadata(_ url: URL) throws -> [SyntheticImageTruth] {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw SyntheticWorldError.unreadable(url.path, error.localizedDescription)
        }
        var out: [SyntheticImageTruth] = []
        for (k, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            do {
                out.append(try JSONDecoder().decode(SyntheticImageTruth.self, from: Data(line.utf8)))
            } catch let DecodingError.keyNotFound(key, _) {
                throw SyntheticWorldError.badRecord(url.path, line: k + 1, "missing field \"\(key.stringValue)\"")
            } catch let DecodingError.dataCorrupted(context) {
                throw SyntheticWorldError.badRecord(url.path, line: k + 1, context.debugDescription)
            } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
                let field = context.codingPath.map(\.stringValue).joined(separator: ".")
                throw SyntheticWorldError.badRecord(url.path, line: k + 1, "field \"\(field)\": \(context.debugDescription)")
            } catch {
                throw SyntheticWorldError.badRecord(url.path, line: k + 1, "\(error)")
            }
        }
        return out
    }
}
