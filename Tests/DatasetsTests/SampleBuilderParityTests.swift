import XCTest
import TestSupport
import Tokenizers
import Autograd
import Core
import Checkpointing
import Datasets

/// Rebuilds the packed inputs of every `minicpmv/<case>/` fixture from its sample texts and
/// images through the formats, the sample builder and packing, and compares token ids, labels,
/// position ids, image bounds, tgt sizes and pixel values with `io.h5`.
final class SampleBuilderParityTests: XCTestCase {
    private struct Case {
        let dir: URL
        let meta: [String: Any]
        let config: [String: Any]
    }

    private func cases() throws -> [Case] {
        let root = Fixtures.referenceRoot.appendingPathComponent("minicpmv")
        let names = try FileManager.default.contentsOfDirectory(atPath: root.path).sorted()
        return try names.compactMap { name in
            let dir = root.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("meta.json").path) else { return nil }
            func json(_ file: String) throws -> [String: Any] {
                try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent(file))) as! [String: Any]
            }
            return Case(dir: dir, meta: try json("meta.json"), config: try json("config.json"))
        }
    }

    /// `<|im_start|>user\n{placeholders}{question}<|im_end|>\n<|im_start|>assistant\n{answer}<|im_end|>\n`
    /// → (question, answer): the question follows the last placeholder's newline.
    private func split(_ text: String) -> (question: String, answer: String) {
        let user = text.components(separatedBy: "<|im_start|>user\n")[1].components(separatedBy: "<|im_end|>")[0]
        let tail = [user.range(of: "</image>\n", options: .backwards), user.range(of: "</slice>\n", options: .backwards)]
            .compactMap { $0 }.max { $0.upperBound < $1.upperBound }
        let question = tail.map { String(user[$0.upperBound...]) } ?? user
        let answer = text.components(separatedBy: "<|im_start|>assistant\n")[1].components(separatedBy: "<|im_end|>")[0]
        return (question, answer)
    }

    /// Images in a sample text: one overview placeholder each (`<image>` groups outside `<slice>` spans).
    private func imageCount(_ text: String) -> Int {
        let outside = text.replacingOccurrences(of: #"<slice>.*?</slice>"#, with: "", options: .regularExpression)
        return outside.components(separatedBy: "<image>").count - 1
    }

    func testBuiltAndPackedSamplesMatchTheModelFixture() throws {
        let all = try cases()
        XCTAssertFalse(all.isEmpty, "no minicpmv fixtures found under \(Fixtures.referenceRoot.path)")
        for c in all { try check(c) }
    }

    private func check(_ c: Case) throws {
        let name = c.dir.lastPathComponent
        let slice = c.config["slice_config"] as! [String: Int]
        let style = PlaceholderStyle(schema: PlaceholderSchema(rawValue: c.config["version"] as! String)!,
                                     queryCount: c.config["query_num"] as? Int)
        let images = ImagePreprocessor(slicing: SliceConfig(maxSliceNums: slice["max_slice_nums"]!, scaleResolution: slice["scale_resolution"]!,
                                                            patchSize: slice["patch_size"]!), placeholders: style)
        let tokenizer = try Tokenizer(contentsOf: c.dir.appendingPathComponent("tokenizer.json").path)
        let builder = try SampleBuilder(tokenizer: tokenizer, template: .chatml, images: images)

        // The data file: one conversation per sample text, with its (resized) source images, taken
        // from meta.json in text order; a sample with several images names them with markers.
        let folder = ScratchFolder()
        let texts = c.meta["sample_texts"] as! [String]
        let sources = c.meta["images"] as! [[String: Any]]
        XCTAssertEqual(texts.map(imageCount).reduce(0, +), sources.count, "\(name): images in the texts and in meta.json")
        var records: [[String: Any]] = []
        var next = 0
        for (k, text) in texts.enumerated() {
            var markers: [String] = []
            var files: [String: String] = [:]
            for i in 0..<imageCount(text) {
                let source = sources[next]
                let file = URL(fileURLWithPath: source["source"] as! String).lastPathComponent
                let size = source["resized_to_wh"] as! [Int]
                let photo = try RGBImage.load(path: Fixtures.referenceRoot.appendingPathComponent("images/\(file)").path)
                try photo.resizedBicubic(width: size[0], height: size[1]).writePNG(to: folder.url.appendingPathComponent("\(next).png").path)
                let marker = String(format: "<image_%02d>", i)
                markers.append(marker); files[marker] = "\(next).png"
                next += 1
            }
            let (question, answer) = split(text)
            let single = markers.count == 1
            let prefix = single ? "<image>\n" : markers.map { $0 + "\n" }.joined()
            records.append(["id": "\(k)", "image": single ? files[markers[0]]! as Any : files as Any, "conversations": [
                ["role": "user", "content": prefix + question], ["role": "assistant", "content": answer]]])
        }
        let dataFile = folder.url.appendingPathComponent("data.json")
        try JSONSerialization.data(withJSONObject: records).write(to: dataFile)
        let samples = try readRecords(dataFile).map { try builder.samples($0)[0] }
        for (s, text) in zip(samples, texts) { XCTAssertEqual(tokenizer.decode(s.inputIds), text, "\(name): sample text") }

        // Packed into one row in text order, as the fixture is.
        let row = samples.indices.map { PackItem(index: $0, length: samples[$0].length, group: $0) }
        let batch = try PackedBatch.assemble(PackPlan(maxLength: row.reduce(0) { $0 + $1.length }, rows: [row]), padId: 0) { samples[$0] }

        let h5 = try HDF5File(readingAt: c.dir.appendingPathComponent("io.h5").path)
        defer { h5.close() }
        func ints(_ d: String) throws -> [Int] { try h5.readInt64s(d).values.map { Int($0) } }
        XCTAssertEqual(samples.map(\.length), try ints("inputs/sequence_lengths"), name)
        XCTAssertEqual(batch.inputIds.map { Int($0) }, try ints("inputs/input_ids"), name)
        XCTAssertEqual(batch.labels.map { Int($0) }, try ints("inputs/labels"), name)
        XCTAssertEqual(batch.positionIds.map { Int($0) }, try ints("inputs/position_ids"), name)
        XCTAssertEqual(batch.imageBounds.flatMap { [$0.lowerBound, $0.upperBound] }, try ints("inputs/image_bound"), name)
        XCTAssertEqual(batch.tgtSizes.flatMap { [$0.h, $0.w] }, try ints("inputs/tgt_sizes"), name)
        let (pixels, shape) = try h5.readFloats("inputs/pixel_values")
        XCTAssertEqual(shape, [batch.sliceCount, 3, 14, batch.maxPatches * 14], name)
        XCTAssertEqual(batch.pixelValues.count, pixels.count, name)
        // The fixture's images were resized with Pillow's bicubic filter, as the pipeline does.
        let maxError = zip(batch.pixelValues, pixels).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(maxError, 1e-6, "\(name): pixel values")
    }
}
