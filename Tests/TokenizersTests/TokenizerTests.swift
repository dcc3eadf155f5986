import Foundation
import TestSupport
import Tokenizers
import XCTest

/// Builds a tokenizer.json around a hand-written vocabulary and merge list.
private func handTokenizer(vocab: [String], merges: [String], model extra: String = "",
                           addedTokens: String = "[]", preTokenizer: String = "null",
                           decoder: String = "null") throws -> Tokenizer {
    func quote(_ s: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [s], options: [])
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }
    let vocabJSON = vocab.enumerated().map { "\(quote($1)): \($0)" }.joined(separator: ", ")
    let mergesJSON = merges.map(quote).joined(separator: ", ")
    let json = """
    {"version": "1.0", "added_tokens": \(addedTokens), "normalizer": null, "pre_tokenizer": \(preTokenizer),
     "decoder": \(decoder),
     "model": {"type": "BPE", \(extra) "vocab": {\(vocabJSON)}, "merges": [\(mergesJSON)]}}
    """
    return try Tokenizer(json: Data(json.utf8), source: "hand.json")
}

final class TokenizerTests: XCTestCase {
    // MARK: - Errors name the file and the problem

    private func loadError(_ json: String) -> String {
        do {
            _ = try Tokenizer(json: Data(json.utf8), source: "bad.json")
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    func testErrorsNameFileAndProblem() throws {
        XCTAssertThrowsError(try Tokenizer(contentsOf: "/nonexistent/tokenizer.json")) { error in
            XCTAssertEqual("\(error)", "/nonexistent/tokenizer.json: file not found")
        }
        XCTAssertEqual(loadError("{\"model\": \n {\"type\": \"BPE\",,}}"),
                       "bad.json: invalid JSON at line 2, column 17: expected a member name")
        XCTAssertEqual(loadError("{}"), "bad.json: missing field 'model'")
        XCTAssertEqual(loadError(#"{"model": {"type": "WordPiece", "vocab": {}}}"#),
                       "bad.json: field 'model': unsupported model type \"WordPiece\" (supported: BPE)")
        XCTAssertEqual(loadError(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}"#),
                       "bad.json: field 'model.merges[0]': token \"b\" is not in the vocabulary")
        XCTAssertEqual(loadError(#"{"model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}}"#),
                       "bad.json: field 'model.vocab.a': expected an integer id")
        XCTAssertTrue(loadError(#"{"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\w+"}}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#)
            .hasPrefix("bad.json: field 'pre_tokenizer.pattern': unsupported split regex \\w+"))
        XCTAssertTrue(loadError(#"{"normalizer": {"type": "Precompiled"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#)
            .hasPrefix("bad.json: field 'normalizer': unsupported normalizer type \"Precompiled\""))
    }

    // MARK: - BPE

    func testMergesApplyByRankLeftmostFirst() throws {
        let tokenizer = try handTokenizer(vocab: ["a", "b", "c", "ab", "bc", "abc", "aa"],
                                          merges: ["b c", "a b", "a bc", "a a"])
        XCTAssertEqual(tokenizer.encode("abc"), [5])          // (b c) first, then (a bc)
        XCTAssertEqual(tokenizer.encode("abab"), [3, 3])
        XCTAssertEqual(tokenizer.encode("aaa"), [6, 0])       // equal ranks: leftmost first
        XCTAssertEqual(tokenizer.encode("cab"), [2, 3])
        XCTAssertEqual(tokenizer.decode([5, 6]), "abc aa")    // no decoder: tokens joined by spaces
        XCTAssertEqual(tokenizer.vocabSize, 7)
    }

    func testUnknownFusingAndByteFallback() throws {
        let fused = try handTokenizer(vocab: ["<unk>", "a"], merges: [],
                                      model: #""unk_token": "<unk>", "fuse_unk": true,"#)
        XCTAssertEqual(fused.encode("xya"), [0, 1])
        XCTAssertEqual(fused.encode("xaxy"), [0, 1, 0])
        let unfused = try handTokenizer(vocab: ["<unk>", "a"], merges: [], model: #""unk_token": "<unk>","#)
        XCTAssertEqual(unfused.encode("xya"), [0, 0, 1])
        let noUnknown = try handTokenizer(vocab: ["a"], merges: [])
        XCTAssertEqual(noUnknown.encode("xa"), [0])           // dropped, as in Hugging Face

        let bytes = (0..<256).map { String(format: "<0x%02X>", $0) }
        let fallback = try handTokenizer(
            vocab: ["<unk>"] + bytes + ["a"], merges: [], model: #""unk_token": "<unk>", "byte_fallback": true,"#,
            decoder: #"{"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]}"#)
        // "é" = C3 A9 → <0xC3> <0xA9> (ids 1 + byte)
        XCTAssertEqual(fallback.encode("aé"), [257, 1 + 0xC3, 1 + 0xA9])
        XCTAssertEqual(fallback.decode([257, 1 + 0xC3, 1 + 0xA9]), "aé")
        // An incomplete UTF-8 sequence decodes to one U+FFFD per byte.
        XCTAssertEqual(fallback.decode([1 + 0xE4, 1 + 0xB8, 257]), "\u{FFFD}\u{FFFD}a")
    }

    /// "é" (U+00E9) and "e" + U+0301 are different tokens although Swift strings call them equal.
    func testCanonicallyEquivalentTokensStayDistinct() throws {
        let tokenizer = try handTokenizer(vocab: ["\u{E9}", "e", "\u{301}", "e\u{301}"], merges: ["e \u{301}"])
        XCTAssertEqual(tokenizer.id(of: "\u{E9}"), 0)
        XCTAssertEqual(tokenizer.id(of: "e\u{301}"), 3)
        XCTAssertEqual(tokenizer.encode("\u{E9}"), [0])
        XCTAssertEqual(tokenizer.encode("e\u{301}"), [3])
        XCTAssertEqual(tokenizer.encode("\u{E9}"), [0], "the word cache must not mix the two forms")
    }

    func testAddedTokensLongestMatchAndSkipSpecial() throws {
        let tokenizer = try Tokenizer(contentsOf: TokenizerFixtures.tokenizerRoot
            .appendingPathComponent("qwen2_bpe/tokenizer.json").path)
        let image = try XCTUnwrap(tokenizer.id(of: "<image>"))
        let imageId = try XCTUnwrap(tokenizer.id(of: "<image_id>"))
        XCTAssertTrue(tokenizer.isSpecial(image))
        XCTAssertEqual(tokenizer.encode("<image_id>"), [imageId])
        let ids = tokenizer.encode("a<image>b<image_id>")
        XCTAssertEqual(ids.filter { $0 == image || $0 == imageId }, [image, imageId])
        XCTAssertEqual(tokenizer.decode(ids, skipSpecial: true), "ab")
        XCTAssertEqual(tokenizer.decode(ids), "a<image>b<image_id>")
        XCTAssertEqual(tokenizer.token(of: image), "<image>")
        XCTAssertNil(tokenizer.token(of: Int32(tokenizer.vocabSize)))
        XCTAssertEqual(tokenizer.vocabSize, 2010)
    }

    func testConcurrentEncodingAgrees() throws {
        let tokenizer = try Tokenizer(contentsOf: TokenizerFixtures.tokenizerRoot
            .appendingPathComponent("qwen2_bpe/tokenizer.json").path)
        let texts = (0..<64).map { "Sample \($0): a photo of \($0 % 7) cats sitting on a wooden table, 多模态 \($0 * 31)." }
        let fresh = try Tokenizer(contentsOf: tokenizer.source)
        let expected = texts.map { fresh.encode($0) }
        var results = [[Int32]](repeating: [], count: texts.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: texts.count) { i in
            let ids = tokenizer.encode(texts[i])
            lock.lock()
            results[i] = ids
            lock.unlock()
        }
        XCTAssertEqual(results, expected)
    }

    /// Throughput on caption-like text (printed; asserted only loosely).
    func testEncodingThroughput() throws {
        let tokenizer = try Tokenizer(contentsOf: TokenizerFixtures.tokenizerRoot
            .appendingPathComponent("qwen2_bpe/tokenizer.json").path)
        let subjects = ["cat", "dog", "bicycle", "street", "mountain lake", "bowl of noodles", "red car"]
        let captions = (0..<2000).map { i in
            "A photo of a \(subjects[i % 7]) next to \(i % 13) \(subjects[(i / 7) % 7])s, taken in \(1990 + i % 30). "
                + "The scene shows details such as light, shadows and texture."
        }
        let start = Date()
        let tokens = captions.reduce(0) { $0 + tokenizer.encode($1).count }
        let seconds = Date().timeIntervalSince(start)
        print(String(format: "Tokenizer throughput: %d captions, %d tokens in %.3f s (%.0f tokens/s)",
                     captions.count, tokens, seconds, Double(tokens) / seconds))
        XCTAssertLessThan(seconds, 10)
    }

    // MARK: - Training

    /// Reference BPE training written independently: recount every pair each step.
    private func naiveMerges(_ words: [[UInt8]], _ counts: [Int], budget: Int, minFrequency: Int) -> [([UInt8], [UInt8])] {
        var vocab: [[UInt8]] = (0..<256).map { [UInt8($0)] }
        var symbols: [[Int]] = words.map { $0.map(Int.init) }
        var merges: [([UInt8], [UInt8])] = []
        while merges.count < budget {
            var pairCounts: [[Int]: Int] = [:]
            for (w, s) in symbols.enumerated() where s.count > 1 {
                for k in 0..<(s.count - 1) { pairCounts[[s[k], s[k + 1]], default: 0] += counts[w] }
            }
            guard let best = pairCounts.max(by: { x, y in
                x.value != y.value ? x.value < y.value : (x.key[0], x.key[1]) > (y.key[0], y.key[1])
            }), best.value >= minFrequency else { break }
            let (a, b) = (best.key[0], best.key[1])
            let id = vocab.count
            vocab.append(vocab[a] + vocab[b])
            merges.append((vocab[a], vocab[b]))
            symbols = symbols.map { s in
                var out: [Int] = []
                var k = 0
                while k < s.count {
                    if k + 1 < s.count, s[k] == a, s[k + 1] == b { out.append(id); k += 2 } else { out.append(s[k]); k += 1 }
                }
                return out
            }
        }
        return merges
    }

    /// Byte-level spelling of ASCII bytes as used in tokenizer.json (space → Ġ).
    private func byteLevel(_ bytes: [UInt8]) -> String {
        String(bytes.map { $0 == 0x20 ? Character("\u{0120}") : Character(Unicode.Scalar($0)) })
    }

    private let corpusLines = [
        "low lower lowest newer newest wider widest",
        "the lowest newer slow slower slowest snow",
        "new news newer newest lower slow low low",
    ]

    func testTrainerMatchesReferenceTraining() throws {
        var trainer = try BPETrainer(vocabSize: 256 + 30 + 2, specialTokens: ["<s>", "</s>"], minFrequency: 2)
        for line in corpusLines { trainer.add(line) }
        let trained = trainer.train()
        // Qwen2 pre-tokens of a line of single-space separated lowercase words: first word bare,
        // the others with their leading space.
        var counts: [[UInt8]: Int] = [:]
        for line in corpusLines {
            for (k, word) in line.split(separator: " ").enumerated() {
                counts[Array(((k == 0 ? "" : " ") + word).utf8), default: 0] += 1
            }
        }
        let words = Array(counts.keys)
        let expected = naiveMerges(words, words.map { counts[$0]! }, budget: 30, minFrequency: 2)
        XCTAssertFalse(expected.isEmpty)
        XCTAssertEqual(trained.merges.map { "\($0.0) \($0.1)" }, expected.map { "\(byteLevel($0.0)) \(byteLevel($0.1))" })
        XCTAssertEqual(trained.vocabSize, 256 + expected.count + 2)
    }

    func testTrainedTokenizerLoadsAndRoundTrips() throws {
        var trainer = try BPETrainer(vocabSize: 300)
        for line in corpusLines { trainer.add(line + "\n") }
        let trained = trainer.train()
        let json = trained.tokenizerJSON()
        XCTAssertEqual(json, try { var again = try BPETrainer(vocabSize: 300)
                                   for line in corpusLines { again.add(line + "\n") }
                                   return again.train().tokenizerJSON() }(), "training is deterministic")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("trained-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try trained.write(to: path)
        let tokenizer = try Tokenizer(contentsOf: path)
        XCTAssertEqual(tokenizer.vocabSize, trained.vocabSize)
        for (k, special) in BPETrainer.defaultSpecialTokens.enumerated() {
            XCTAssertEqual(tokenizer.id(of: special), Int32(trained.tokens.count + k))
            XCTAssertTrue(tokenizer.isSpecial(Int32(trained.tokens.count + k)))
        }
        XCTAssertEqual(tokenizer.encode(" lowest").count, 1, "a frequent word becomes one token")
        for text in corpusLines + ["unseen: 多模态 🙂 <|im_end|>\n\ttabs", "<image><unk></image>"] {
            XCTAssertEqual(tokenizer.decode(tokenizer.encode(text)), text)
        }
        XCTAssertEqual(tokenizer.encode("<|im_start|>"), [Int32(trained.tokens.count + 1)])
    }

    /// Feeding a file in chunks gives the same words (and so the same merges) as the whole text.
    func testAddFileMatchesWholeText() throws {
        let text = "first line\n  indented line\n\u{3000}\u{3000}ideographic spaces\n\nblank before\r\nwindows\n.\nend"
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("corpus-\(UUID().uuidString).txt").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data((text + text).utf8).write(to: URL(fileURLWithPath: path))
        var fromFile = try BPETrainer(vocabSize: 400, minFrequency: 1)
        try fromFile.addFile(path)
        var whole = try BPETrainer(vocabSize: 400, minFrequency: 1)
        whole.add(text + text)
        XCTAssertEqual(fromFile.distinctWords, whole.distinctWords)
        XCTAssertEqual(fromFile.train().tokenizerJSON(), whole.train().tokenizerJSON())
        XCTAssertThrowsError(try fromFile.addFile("/nonexistent/corpus.txt")) { error in
            XCTAssertEqual("\(error)", "/nonexistent/corpus.txt: file not found")
        }
    }

    func testTrainerRejectsBadSettings() {
        XCTAssertThrowsError(try BPETrainer(vocabSize: 260)) { error in
            XCTAssertTrue("\(error)".contains("below the 256 byte tokens plus 10 special tokens"), "\(error)")
        }
        XCTAssertThrowsError(try BPETrainer(vocabSize: 300, specialTokens: ["<a>", "<a>"]))
        XCTAssertThrowsError(try BPETrainer(vocabSize: 300, specialTokens: [""]))
    }
}
