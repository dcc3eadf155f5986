import Datasets
import Foundation
import SyntheticWorld
import XCTest

/// The generator's files: determinism, formats, counts and splits.
final class SyntheticWorldTests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("synthetic-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: root)
    }

    func generate(_ name: String, count: Int = 24, documents: Int = 4, seed: UInt64 = 3) throws -> URL {
        let dir = root.appendingPathComponent(name)
        try SyntheticWorld.generate(to: dir, count: count, documents: documents, seed: seed)
        return dir
    }

    /// Relative path → bytes of every file under `dir`.
    func contents(_ dir: URL) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let e = FileManager.default.enumerator(atPath: dir.path)!
        for case let path as String in e {
            var isDir: ObjCBool = false
            let url = dir.appendingPathComponent(path)
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue {
                out[path] = try Data(contentsOf: url)
            }
        }
        return out
    }

    func testSameSeedGivesIdenticalBytes() throws {
        let a = try contents(generate("a")), b = try contents(generate("b"))
        XCTAssertEqual(a.count, 24 + 4 + 14)   // images, 13 data files, README
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        for (path, data) in a { XCTAssertEqual(data, b[path], path) }
        let c = try contents(generate("c", seed: 4))
        XCTAssertNotEqual(a["images/shapes-0001.png"], c["images/shapes-0001.png"])
        XCTAssertNotEqual(a["captions.jsonl"], c["captions.jsonl"])
    }

    func testImagesDoNotDependOnTheCount() throws {
        let small = try contents(generate("small", count: 5, documents: 1))
        let large = try contents(generate("large", count: 24, documents: 4))
        for k in 1...5 {
            let path = "images/shapes-000\(k).png"
            XCTAssertEqual(small[path], large[path], path)
        }
        XCTAssertEqual(small["images/doc-0001.png"], large["images/doc-0001.png"])
    }

    func jsonLines(_ url: URL) throws -> [[String: Any]] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], String($0))
        }
    }

    func testJSONLFilesAndCounts() throws {
        let dir = try generate("w", count: 30, documents: 10)
        // Every 10th image of each kind is held out: 3 shapes, 1 document.
        let captions = try jsonLines(dir.appendingPathComponent("captions.jsonl"))
        let heldCaptions = try jsonLines(dir.appendingPathComponent("captions-heldout.jsonl"))
        XCTAssertEqual(captions.count, 27)
        XCTAssertEqual(heldCaptions.count, 3)
        XCTAssertEqual(try jsonLines(dir.appendingPathComponent("ocr.jsonl")).count, 9)
        XCTAssertEqual(try jsonLines(dir.appendingPathComponent("ocr-heldout.jsonl")).count, 1)
        let metadata = try jsonLines(dir.appendingPathComponent("metadata.jsonl"))
        XCTAssertEqual(metadata.count, 40)
        for record in captions + heldCaptions {
            XCTAssertEqual(Set(record.keys), ["image", "caption"])
            let image = try XCTUnwrap(record["image"] as? String)
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(image).path), image)
            XCTAssertFalse(try XCTUnwrap(record["caption"] as? String).isEmpty)
        }
        let preference = try jsonLines(dir.appendingPathComponent("preference.jsonl"))
            + jsonLines(dir.appendingPathComponent("preference-heldout.jsonl"))
        XCTAssertEqual(preference.count, 40)
        for p in preference {
            XCTAssertEqual(Set(p.keys), ["image", "question", "chosen", "rejected"])
            XCTAssertNotEqual(p["chosen"] as? String, p["rejected"] as? String)
        }
        // Held-out images never appear in a training file.
        let heldImages = Set(metadata.filter { $0["split"] as? String == "heldout" }.compactMap { $0["image"] as? String })
        XCTAssertEqual(heldImages.count, 4)
        XCTAssertTrue(heldImages.contains("images/shapes-0010.png"))
        for name in ["captions.jsonl", "ocr.jsonl", "preference.jsonl", "sft-part1.json", "sft-part2.json"] {
            let text = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
            for image in heldImages { XCTAssertFalse(text.contains(image), "\(image) in \(name)") }
        }
    }

    func testConversationFilesFollowTheFinetuneFormat() throws {
        let dir = try generate("c", count: 40, documents: 10)
        var counts: [String: Int] = [:]
        var textOnly = 0, multiImage = 0
        for name in ["sft-part1.json", "sft-part1-heldout.json", "sft-part2.json", "sft-part2-heldout.json"] {
            let data = try Data(contentsOf: dir.appendingPathComponent(name))
            let records = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [[String: Any]], name)
            counts[name] = records.count
            var ids = Set<String>()
            for r in records {
                let id = try XCTUnwrap(r["id"] as? String)
                XCTAssertTrue(ids.insert(id).inserted, "duplicate id \(id)")
                let turns = try XCTUnwrap(r["conversations"] as? [[String: String]], id)
                XCTAssertFalse(turns.isEmpty)
                XCTAssertEqual(turns.count % 2, 0, id)
                for (k, t) in turns.enumerated() {
                    XCTAssertEqual(t["role"], k % 2 == 0 ? "user" : "assistant", id)
                    XCTAssertFalse((t["content"] ?? "").isEmpty, id)
                }
                let first = turns[0]["content"]!
                switch r["image"] {
                case nil:
                    textOnly += 1
                    XCTAssertFalse(first.contains("<image"), id)
                case let path as String:
                    XCTAssertTrue(first.hasPrefix("<image>\n"), id)
                    XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(path).path))
                case let images as [String: String]:
                    multiImage += 1
                    XCTAssertEqual(Set(images.keys), ["<image_00>", "<image_01>"])
                    XCTAssertTrue(first.hasPrefix("<image_00>\n<image_01>\n"), id)
                default:
                    XCTFail("\(id): image is neither a path nor a dict")
                }
                for t in turns.dropFirst() { XCTAssertFalse(t["content"]!.contains("<image"), id) }
            }
        }
        // Part-1: two questions per image plus a text-only question per 20 shapes images.
        XCTAssertEqual(counts["sft-part1.json"]! + counts["sft-part1-heldout.json"]!, 2 * 50 + 2)
        XCTAssertEqual(textOnly, 2)
        // Part-2: one chat per image plus the two-image comparisons (images 4+5, 20+30 held out, 36+37).
        XCTAssertEqual(counts["sft-part2.json"]! + counts["sft-part2-heldout.json"]!, 50 + 3)
        XCTAssertEqual(multiImage, 3)
    }

    func testMetadataRoundTripsThroughTheChecker() throws {
        let dir = try generate("m", count: 12, documents: 2)
        let truths = try SyntheticWorld.readMetadata(dir.appendingPathComponent("metadata.jsonl"))
        XCTAssertEqual(truths.count, 14)
        XCTAssertEqual(truths[0], SyntheticWorld.image(.shapes, index: 0, total: 12, seed: 3).0)
        XCTAssertEqual(truths[13], SyntheticWorld.image(.document, index: 1, total: 2, seed: 3).0)
        let checker = try SyntheticWorldChecker(metadata: dir.appendingPathComponent("metadata.jsonl"))
        let lines = try String(contentsOf: dir.appendingPathComponent("preference.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        for (k, line) in lines.enumerated() {
            let p = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
            let id = p["image"]!
            XCTAssertEqual(checker.score(description: p["chosen"]!, imageID: id).wrong, 0, "line \(k + 1)")
            XCTAssertGreaterThan(checker.score(description: p["rejected"]!, imageID: id).wrong, 0, "line \(k + 1)")
        }
        let readme = try String(contentsOf: dir.appendingPathComponent("README.md"), encoding: .utf8)
        XCTAssertTrue(readme.contains("trainer data synth --out DIR --count 12 --seed 3 --documents 2"))
    }

    func testBadInputGivesClearErrors() throws {
        XCTAssertThrowsError(try SyntheticWorld.generate(to: root, count: 0, seed: 1)) { error in
            XCTAssertTrue("\(error)".contains("--count"), "\(error)")
        }
        XCTAssertThrowsError(try SyntheticWorld.generate(to: root, count: 2, seed: 1, noise: 500))
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let bad = root.appendingPathComponent("metadata.jsonl")
        try Data("{\"id\": \"a\", \"image\": \"a.png\", \"kind\": \"shapes\", \"size\": [1, 1], \"split\": \"train\", \"background\": \"white\"}\n{\"id\": \"b\"}\n".utf8).write(to: bad)
        XCTAssertThrowsError(try SyntheticWorld.readMetadata(bad)) { error in
            XCTAssertEqual("\(error)", "\(bad.path):2: missing field \"image\"")
        }
        XCTAssertThrowsError(try SyntheticWorld.readMetadata(root.appendingPathComponent("none.jsonl"))) { error in
            XCTAssertTrue("\(error)".contains("none.jsonl"), "\(error)")
        }
    }
}
