import XCTest
import TestSupport
import Tokenizers
import Autograd
import Core
import Checkpointing
import Datasets

final class SampleBuilderTests: XCTestCase {
    private let reference = Fixtures.referenceRoot
    private var imagesDir: URL { reference.appendingPathComponent("images") }

    private func builder(_ style: PlaceholderStyle = PlaceholderStyle(schema: .v2_6)) throws -> SampleBuilder {
        let tok = try Tokenizer(contentsOf: reference.appendingPathComponent("tokenizer/qwen2_bpe/tokenizer.json").path)
        return try SampleBuilder(tokenizer: tok, template: .chatml, images: ImagePreprocessor(placeholders: style))
    }

    private func id(_ b: SampleBuilder, _ token: String) -> Int32 { b.tokenizer.id(of: token)! }

    /// Spans sit between their tags and hold exactly Q `<unk>`; checked from the token ids.
    private func checkSpans(_ s: TrainingSample, _ b: SampleBuilder, opening: [String], file: StaticString = #filePath, line: UInt = #line) {
        let close = ["<image>": "</image>", "<slice>": "</slice>"]
        XCTAssertEqual(s.imageBounds.count, opening.count, file: file, line: line)
        for (bound, tag) in zip(s.imageBounds, opening) {
            XCTAssertEqual(bound.count, b.queryCount, file: file, line: line)
            XCTAssertEqual(s.inputIds[bound.lowerBound - 1], id(b, tag), file: file, line: line)
            XCTAssertEqual(s.inputIds[bound.upperBound], id(b, close[tag]!), file: file, line: line)
            XCTAssertTrue(s.inputIds[bound].allSatisfy { $0 == id(b, "<unk>") }, file: file, line: line)
        }
    }

    /// The supervised targets, in order, and the check that each is the next token.
    private func targets(_ s: TrainingSample) -> [Int32] {
        for t in s.labels.indices where s.labels[t] != ignoreIndex { XCTAssertEqual(s.labels[t], s.inputIds[t + 1]) }
        return s.labels.filter { $0 != ignoreIndex }
    }

    func testCaptionRecordMatchesTheImageFixtureAndSupervisesOnlyTheCaption() throws {
        let b = try builder()
        let folder = ScratchFolder()
        let caption = "Chelsea the cat sits on a table."
        let file = folder.write("captions.jsonl", #"{"image": "\#(imagesDir.path)/chelsea.png", "caption": "\#(caption)"}"#)
        guard case let .caption(record)? = try readRecords(file).first else { return XCTFail("no record") }
        let s = try b.caption(record)
        checkSpans(s, b, opening: ["<image>"])
        XCTAssertEqual(targets(s), b.tokenizer.encode(caption) + [id(b, "<|im_end|>")], "labels cover exactly the caption and the end token")
        XCTAssertEqual(b.tokenizer.decode(targets(s)), caption + "<|im_end|>")
        XCTAssertEqual(s.labels.last, ignoreIndex)
        // Pixels: the fixture's preprocessing of the same photograph.
        let h5 = try HDF5File(readingAt: imagesDir.appendingPathComponent("resize/chelsea.h5").path)
        defer { h5.close() }
        let sizes = try h5.readInt64s("tgt_sizes").values
        XCTAssertEqual(s.slices.map(\.tgtSize), stride(from: 0, to: sizes.count, by: 2).map { TgtSize(h: Int(sizes[$0]), w: Int(sizes[$0 + 1])) })
        let expected = try h5.readFloats("pixel_values/0").values
        XCTAssertEqual(s.slices[0].pixels.count, expected.count)
        let maxError = zip(s.slices[0].pixels, expected).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(maxError, 1e-6)
    }

    func testConversationsWithSlicedDictAndNoImages() throws {
        let b = try builder()
        let folder = ScratchFolder()
        let file = folder.write("sft.json", """
            [
             {"id": "one", "image": "\(imagesDir.path)/coffee.png",
              "conversations": [{"role": "user", "content": "What is in the cup?"}, {"role": "assistant", "content": "Coffee."},
                                {"role": "user", "content": "Hot?"}, {"role": "assistant", "content": "Yes."}]},
             {"id": "two", "image": {"<image_01>": "\(imagesDir.path)/chelsea.png", "<image_00>": "\(imagesDir.path)/camera.png"},
              "conversations": [{"role": "user", "content": "Compare <image_01> and <image_00>."}, {"role": "assistant", "content": "A cat, a man."}]},
             {"id": "three", "conversations": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
            ]
            """)
        let records = try readRecords(file)
        let one = try b.samples(records[0])[0]
        checkSpans(one, b, opening: ["<image>", "<slice>", "<slice>"])            // coffee: grid [2, 1]
        XCTAssertEqual(one.slices.count, 3)
        XCTAssertEqual(targets(one), b.tokenizer.encode("Coffee.<|im_end|>") + b.tokenizer.encode("Yes.<|im_end|>"))
        let text = b.tokenizer.decode(one.inputIds)
        XCTAssertTrue(text.hasPrefix("<|im_start|>user\n<image_id>0</image_id><image>"), "placeholder before the first user turn")
        XCTAssertTrue(text.contains("</slice>\nWhat is in the cup?<|im_end|>"), text)

        let two = try b.samples(records[1])[0]
        // chelsea first (its marker comes first): unsliced; then camera: grid [1, 2].
        checkSpans(two, b, opening: ["<image>", "<image>", "<slice>", "<slice>"])
        XCTAssertEqual(two.slices.map(\.tgtSize), [TgtSize(h: 26, w: 39), TgtSize(h: 32, w: 32), TgtSize(h: 23, w: 45), TgtSize(h: 23, w: 45)],
                       "images/sources.json: chelsea, then camera with its slices")
        let text2 = b.tokenizer.decode(two.inputIds)
        XCTAssertTrue(text2.contains("Compare <image_id>0</image_id><image>"), text2)
        XCTAssertTrue(text2.contains(" and <image_id>1</image_id><image>"), text2)

        let three = try b.samples(records[2])[0]
        XCTAssertEqual(three.imageBounds, [])
        XCTAssertEqual(three.slices, [])
        XCTAssertEqual(b.tokenizer.decode(targets(three)), "Hello!<|im_end|>")
    }

    func testPreferenceRecordGivesTwoCompletionsOfOnePrompt() throws {
        let b = try builder()
        let folder = ScratchFolder()
        let file = folder.write("dpo.jsonl", #"{"id": "p", "image": "\#(imagesDir.path)/chelsea.png", "question": "<image>\nWhat animal?", "chosen": "A cat.", "rejected": "A dog."}"#)
        guard case let .preference(r)? = try readRecords(file).first else { return XCTFail("no record") }
        let pair = try b.preference(r)
        XCTAssertEqual([pair.chosen.id, pair.rejected.id], ["p/chosen", "p/rejected"])
        let prompt = pair.chosen.inputIds.count - b.tokenizer.encode("A cat.<|im_end|>\n").count
        XCTAssertEqual(Array(pair.chosen.inputIds[..<prompt]), Array(pair.rejected.inputIds[..<prompt]))
        XCTAssertEqual(b.tokenizer.decode(targets(pair.chosen)), "A cat.<|im_end|>")
        XCTAssertEqual(b.tokenizer.decode(targets(pair.rejected)), "A dog.<|im_end|>")
        checkSpans(pair.chosen, b, opening: ["<image>"])
        XCTAssertEqual(pair.chosen.slices, pair.rejected.slices)
    }

    func testBadImagesAreSkippedAndReportedAndHitsNeedNoImages() throws {
        let b = try builder(PlaceholderStyle(schema: .v2_6, queryCount: 4))
        let folder = ScratchFolder()
        try FileManager.default.copyItem(at: imagesDir.appendingPathComponent("chelsea.png"), to: folder.url.appendingPathComponent("cat.png"))
        folder.write("broken.png", "not a png at all")
        let file = folder.write("captions.jsonl", """
            {"id": "ok", "image": "cat.png", "caption": "A cat."}
            {"id": "missing", "image": "gone.png", "caption": "Nothing."}
            {"id": "broken", "image": "broken.png", "caption": "Noise."}
            """)
        let cache = ShardCache(directory: folder.url.appendingPathComponent("cache")) { _ in }
        let (shard, outcome) = try cache.samples(of: file, builder: b)
        XCTAssertEqual(outcome, .built)
        XCTAssertEqual(shard.count, 1)
        XCTAssertEqual(shard.report.records, 3)
        XCTAssertEqual(shard.report.skipped.map(\.id), ["missing", "broken"])
        XCTAssertEqual(shard.report.skipped.map(\.location), [file.path + ":2", file.path + ":3"])
        XCTAssertTrue(shard.report.skipped[0].reason.contains(folder.url.appendingPathComponent("gone.png").path), shard.report.skipped[0].reason)
        XCTAssertTrue(shard.report.skipped[1].reason.contains("broken.png"), shard.report.skipped[1].reason)
        XCTAssertTrue(shard.report.description.contains("3 records → 1 samples, 2 skipped"), shard.report.description)
        let built = try shard.sample(0)
        checkSpans(built, b, opening: ["<image>"])

        // Unchanged file and images: a hit, the same samples.
        let (again, outcome2) = try cache.samples(of: file, builder: b)
        XCTAssertEqual(outcome2, .hit)
        XCTAssertEqual(try again.sample(0), built)
        XCTAssertEqual(again.report, shard.report)
        // Another query count is another setting: a new build.
        let other = try builder(PlaceholderStyle(schema: .v2_6, queryCount: 5))
        XCTAssertEqual(try cache.samples(of: file, builder: other).outcome, .built)
        // A deleted image is noticed: a new build, which skips it.
        try FileManager.default.removeItem(at: folder.url.appendingPathComponent("cat.png"))
        let (third, outcome3) = try cache.samples(of: file, builder: b)
        XCTAssertEqual(outcome3, .built)
        XCTAssertEqual(third.count, 0)
    }

    func testChangedImagesAndOtherFoldersAreNotServedFromTheCache() throws {
        let b = try builder(PlaceholderStyle(schema: .v2_6, queryCount: 4))
        let folder = ScratchFolder()
        let cat = folder.url.appendingPathComponent("a/pic.png")
        try FileManager.default.createDirectory(at: cat.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: imagesDir.appendingPathComponent("chelsea.png"), to: cat)
        let text = "{\"id\": \"x\", \"image\": \"pic.png\", \"caption\": \"A picture.\"}\n"
        let first = folder.write("a/captions.jsonl", text)
        let cache = ShardCache(directory: folder.url.appendingPathComponent("cache")) { _ in }
        let (shard, _) = try cache.samples(of: first, builder: b)
        XCTAssertEqual(try cache.samples(of: first, builder: b).outcome, .hit)

        // The same JSONL in another folder names another picture: its own build, its own pixels.
        let other = folder.url.appendingPathComponent("b/pic.png")
        try FileManager.default.createDirectory(at: other.deletingLastPathComponent(), withIntermediateDirectories: true)
        let names = try FileManager.default.contentsOfDirectory(atPath: imagesDir.path).filter { $0.hasSuffix(".png") && $0 != "chelsea.png" }
        try FileManager.default.copyItem(at: imagesDir.appendingPathComponent(try XCTUnwrap(names.first)), to: other)
        let second = folder.write("b/captions.jsonl", text)
        let (copy, outcome) = try cache.samples(of: second, builder: b)
        XCTAssertEqual(outcome, .built)
        XCTAssertNotEqual(try copy.sample(0).slices, try shard.sample(0).slices)

        // The picture replaced in place: a new build.
        try FileManager.default.removeItem(at: cat)
        try FileManager.default.copyItem(at: other, to: cat)
        let (changed, outcome2) = try cache.samples(of: first, builder: b)
        XCTAssertEqual(outcome2, .built)
        XCTAssertEqual(try changed.sample(0).slices, try copy.sample(0).slices)
    }

    func testSpansThatDoNotMatchAreRejected() throws {
        let b = try builder()
        let folder = ScratchFolder()
        // A literal <slice> in the text adds a span without an image: never trained.
        let file = folder.write("bad.jsonl", #"{"id": "x", "image": "\#(imagesDir.path)/chelsea.png", "caption": "see <slice><unk></slice>"}"#)
        guard case let .caption(r)? = try readRecords(file).first else { return XCTFail("no record") }
        XCTAssertThrowsError(try b.caption(r)) { error in
            XCTAssertEqual("\(error)", "sample x: 2 image spans in the text but 1 image slices")
        }
    }
}
