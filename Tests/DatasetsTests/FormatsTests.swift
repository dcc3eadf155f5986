import XCTest
import Datasets

final class FormatsTests: XCTestCase {
    func testCaptionLinesResolveRelativePathsAndKeepLineNumbers() throws {
        let folder = ScratchFolder()
        let file = folder.write("data/captions.jsonl", """
            {"image": "img/a.png", "caption": "A cat."}

            {"id": 7, "image": "/abs/b.jpg", "caption": "Two dogs."}
            {"id": "x", "image": "../up.png", "caption": "Up."}
            """)
        let records = try readRecords(file)
        XCTAssertEqual(records.count, 3)
        guard case let .caption(a) = records[0], case let .caption(b) = records[1], case let .caption(c) = records[2] else {
            return XCTFail("expected caption records, got \(records)")
        }
        let dataFolder = folder.url.appendingPathComponent("data").standardizedFileURL.path
        XCTAssertEqual(a.image.path, dataFolder + "/img/a.png")
        XCTAssertEqual(a.caption, "A cat.")
        XCTAssertEqual(a.id, "captions.jsonl:1")
        XCTAssertEqual(a.location.line, 1)
        XCTAssertEqual(b.image.path, "/abs/b.jpg")
        XCTAssertEqual(b.id, "7")
        XCTAssertEqual(b.location.line, 3, "the blank line still counts")
        XCTAssertEqual(c.image.path, folder.url.standardizedFileURL.path + "/up.png")
    }

    func testConversationArrayWithSingleDictAndNoImage() throws {
        let folder = ScratchFolder()
        let file = folder.write("sft.json", """
            [
              {
                "id": "0",
                "image": "pics/x.jpg",
                "conversations": [
                  {"role": "user", "content": "<image>\\nWhat is this?"},
                  {"role": "assistant", "content": "A {brace} \\"quoted\\" [bracket]."}
                ]
              },
              {"id": "1", "image": {"<image_01>": "b.png", "<image_00>": "a.png"},
               "conversations": [{"role": "user", "content": "<image_00> vs <image_01>?"},
                                 {"role": "assistant", "content": "Left."},
                                 {"role": "user", "content": "Sure?"},
                                 {"role": "assistant", "content": "Yes."}]},
              {"id": "2", "conversations": [{"from": "system", "value": "Be brief."},
                                            {"from": "human", "value": "Hi"},
                                            {"from": "gpt", "value": "Hello."}]},
              {"id": "3", "image": "c.png", "conversations": [{"role": "user", "content": "No marker."},
                                                            {"role": "assistant", "content": "Fine."}]}
            ]
            """)
        let records = try readRecords(file)
        XCTAssertEqual(records.map(\.location.line), [2, 10, 15, 18])
        XCTAssertEqual(records.map(\.id), ["0", "1", "2", "3"])
        guard case let .conversation(r0) = records[0], case let .conversation(r1) = records[1],
              case let .conversation(r2) = records[2], case let .conversation(r3) = records[3] else {
            return XCTFail("expected conversation records")
        }
        let base = folder.url.standardizedFileURL.path
        XCTAssertEqual(r0.images, [ImageReference(path: base + "/pics/x.jpg")])
        XCTAssertEqual(r0.turns, [DialogueTurn(role: .user, content: "<image>\nWhat is this?"),
                                  DialogueTurn(role: .assistant, content: "A {brace} \"quoted\" [bracket].")])
        XCTAssertEqual(r1.images, [ImageReference(marker: "<image_00>", path: base + "/a.png"),
                                   ImageReference(marker: "<image_01>", path: base + "/b.png")])
        XCTAssertEqual(r1.turns.count, 4)
        XCTAssertEqual(r2.images, [])
        XCTAssertEqual(r2.turns.map(\.role), [.system, .user, .assistant])
        XCTAssertEqual(r3.images.count, 1)
    }

    func testConversationsAsJSONLines() throws {
        let folder = ScratchFolder()
        let file = folder.write("sft.jsonl", """
            {"id": "a", "conversations": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}
            """)
        guard case let .conversation(r)? = try readRecords(file).first else { return XCTFail("no record") }
        XCTAssertEqual(r.turns, [DialogueTurn(role: .user, content: "Q"), DialogueTurn(role: .assistant, content: "A")])
    }

    func testPreferenceLines() throws {
        let folder = ScratchFolder()
        let file = folder.write("dpo.jsonl", """
            {"image": "i.png", "question": "<image>What?", "chosen": "Good.", "rejected": "Bad."}
            {"question": "Text only?", "chosen": "Yes.", "rejected": "No."}
            """)
        let records = try readRecords(file)
        guard case let .preference(p)? = records.first, case let .preference(q)? = records.last else {
            return XCTFail("expected preference records")
        }
        XCTAssertEqual(p.images, [ImageReference(path: folder.url.standardizedFileURL.path + "/i.png")])
        XCTAssertEqual([p.question, p.chosen, p.rejected], ["<image>What?", "Good.", "Bad."])
        XCTAssertEqual(q.images, [])
        XCTAssertEqual(q.location.line, 2)
    }

    /// Each bad file must produce exactly this file, line and field.
    func testSchemaErrorsNameFileLineAndField() throws {
        let folder = ScratchFolder()
        let ok = #"{"image": "a.png", "caption": "fine"}"#
        let conv = #"{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}"#
        let cases: [(String, String, Int, String)] = [
            ("c1.jsonl", ok + "\n" + #"{"image": "a.png"}"#, 2, "caption"),
            ("c2.jsonl", ok + "\n\n" + #"{"image": "a.png", "caption": 3}"#, 3, "caption"),
            ("c3.jsonl", #"{"caption": "no image"}"#, 1, "image"),
            ("c4.jsonl", #"{"image": "a.png", "caption": "x <image>"}"#, 1, "caption"),
            ("v1.json", "[\n{\"conversations\": [\(conv)]},\n{\"conversations\": [{\"role\": \"user\", \"content\": \"Q\"}, {\"role\": \"robot\", \"content\": \"A\"}]}\n]",
             3, "conversations[1].role"),
            ("v2.json", "[{\"conversations\": [{\"role\": \"user\", \"content\": 5}, {\"role\": \"assistant\", \"content\": \"A\"}]}]",
             1, "conversations[0].content"),
            ("v3.json", "[{\"conversations\": [{\"role\": \"user\", \"content\": \"<image> Q\"}, {\"role\": \"assistant\", \"content\": \"A\"}]}]",
             1, "conversations[0].content"),
            ("v4.json", "[{\"image\": {\"<image_00>\": \"a.png\", \"<image_01>\": \"b.png\"}, \"conversations\": [{\"role\": \"user\", \"content\": \"<image_00>\"}, {\"role\": \"assistant\", \"content\": \"A\"}]}]",
             1, "image.<image_01>"),
            ("v5.json", "[{\"image\": \"a.png\", \"conversations\": [{\"role\": \"user\", \"content\": \"Q\"}, {\"role\": \"assistant\", \"content\": \"<image>\"}]}]",
             1, "conversations[1].content"),
            ("v6.json", "[{\"conversations\": [{\"role\": \"user\", \"content\": \"Q\"}]}]", 1, "conversations[0]"),
            ("v7.json", "[{\"conversations\": [{\"role\": \"assistant\", \"content\": \"A\"}]}]", 1, "conversations[0].role"),
            ("v8.json", "[{\"image\": 3, \"conversations\": [\(conv)]}]", 1, "image"),
            ("p1.jsonl", #"{"question": "Q", "chosen": "A"}"#, 1, "rejected"),
            ("p2.jsonl", #"{"question": "Q", "chosen": ["A"], "rejected": "B"}"#, 1, "chosen"),
        ]
        for (name, text, line, field) in cases {
            let file = folder.write(name, text)
            XCTAssertThrowsError(try readRecords(file), name) { error in
                guard case let DataError.schema(f, l, fd, problem) = error else {
                    return XCTFail("\(name): expected a schema error, got \(error)")
                }
                XCTAssertEqual(f, file.path, name)
                XCTAssertEqual(l, line, name)
                XCTAssertEqual(fd, field, "\(name): \(problem)")
                let text = "\(error)"
                XCTAssertTrue(text.contains(file.path) && text.contains(":\(line):") && text.contains(field), text)
            }
        }
    }

    func testMalformedJSONAndMissingFile() throws {
        let folder = ScratchFolder()
        let bad = folder.write("bad.jsonl", "{\"image\": \"a.png\", \"caption\": \"x\"}\n{\"image\": \n")
        XCTAssertThrowsError(try readRecords(bad)) { error in
            XCTAssertEqual(error as? DataError, .malformed(file: bad.path, line: 2, reason: "not valid JSON"))
        }
        let open = folder.write("open.json", "[\n {\"conversations\": []},\n {\"a\": \"b\"\n")
        XCTAssertThrowsError(try readRecords(open)) { error in
            guard case let DataError.malformed(f, l, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(f, open.path); XCTAssertEqual(l, 3)
        }
        let notObject = folder.write("list.jsonl", "[1, 2]\n")
        XCTAssertThrowsError(try readRecords(notObject)) { error in
            guard case DataError.malformed(_, 1, _) = error else { return XCTFail("\(error)") }
        }
        let missing = folder.url.appendingPathComponent("nope.jsonl")
        XCTAssertThrowsError(try readRecords(missing)) { error in
            XCTAssertEqual(error as? DataError, .unreadable(file: missing.path, reason: "no such file"))
        }
    }
}
