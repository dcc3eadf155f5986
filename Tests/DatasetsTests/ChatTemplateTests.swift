import Checkpointing
import Datasets
import Foundation
import TestSupport
import Tokenizers
import XCTest

final class ChatTemplateTests: XCTestCase {
    private func qwen2() throws -> Tokenizer {
        try Tokenizer(contentsOf: TokenizerFixtures.tokenizerRoot.appendingPathComponent("qwen2_bpe/tokenizer.json").path)
    }

    /// Contiguous runs of positions whose next token is (or is not) supervised, decoded.
    private func runs(_ ids: [Int32], _ labels: [Int32], tokenizer: Tokenizer) -> (supervised: [String], prompt: [String]) {
        var supervised: [String] = []
        var prompt: [String] = []
        var current: [Int32] = [ids[0]]   // token 0 is never a target
        var currentSupervised = false
        for t in 0..<(ids.count - 1) {
            let isTarget = labels[t] != ChatTemplate.ignoreIndex
            if isTarget { XCTAssertEqual(labels[t], ids[t + 1], "label \(t) is not the next id") }
            if isTarget != currentSupervised, !current.isEmpty {
                (currentSupervised ? { supervised.append($0) } : { prompt.append($0) })(tokenizer.decode(current))
                current = []
            }
            currentSupervised = isTarget
            current.append(ids[t + 1])
        }
        (currentSupervised ? { supervised.append($0) } : { prompt.append($0) })(tokenizer.decode(current))
        return (supervised, prompt)
    }

    func testChatMLSupervisesExactlyTheAnswers() throws {
        let tokenizer = try qwen2()
        let turns: [(role: String, content: String)] = [
            ("system", "You are brief."),
            ("user", "<image><unk><unk></image>\nWhat is this?"),
            ("assistant", "A cat on a mat."),
            ("user", "Color?"),
            ("assistant", "Orange, mostly."),
        ]
        let template = ChatTemplate.chatml
        try template.check(tokenizer: tokenizer)
        let (ids, labels) = template.render(turns, tokenizer: tokenizer)
        XCTAssertEqual(ids.count, labels.count)
        XCTAssertEqual(labels.last, ChatTemplate.ignoreIndex)
        let expectedText = "<|im_start|>system\nYou are brief.<|im_end|>\n"
            + "<|im_start|>user\n<image><unk><unk></image>\nWhat is this?<|im_end|>\n<|im_start|>assistant\n"
            + "A cat on a mat.<|im_end|>\n<|im_start|>user\nColor?<|im_end|>\n<|im_start|>assistant\n"
            + "Orange, mostly.<|im_end|>\n"
        XCTAssertEqual(template.text(turns), expectedText)
        XCTAssertEqual(ids, tokenizer.encode(expectedText))
        let (supervised, prompt) = runs(ids, labels, tokenizer: tokenizer)
        XCTAssertEqual(supervised, ["A cat on a mat.<|im_end|>", "Orange, mostly.<|im_end|>"])
        XCTAssertEqual(prompt, [
            "<|im_start|>system\nYou are brief.<|im_end|>\n<|im_start|>user\n<image><unk><unk></image>\nWhat is this?<|im_end|>\n<|im_start|>assistant\n",
            "\n<|im_start|>user\nColor?<|im_end|>\n<|im_start|>assistant\n",
            "\n",
        ])
    }

    /// An answer that starts with a line break joins "\n\n" with the prompt's "\n" in Qwen2's
    /// pre-tokenizer: the ids stay those of the whole text and the joint token is supervised.
    func testBoundaryTokenFollowsJointEncoding() throws {
        let tokenizer = try qwen2()
        let turns: [(role: String, content: String)] = [("user", "Hi"), ("assistant", "\nHello")]
        let (ids, labels) = ChatTemplate.chatml.render(turns, tokenizer: tokenizer)
        XCTAssertEqual(ids, tokenizer.encode(ChatTemplate.chatml.text(turns)))
        XCTAssertNotNil(tokenizer.id(of: "\u{010A}\u{010A}"), "the fixture vocabulary has the joint line-break token")
        let targets = labels.filter { $0 != ChatTemplate.ignoreIndex }
        XCTAssertEqual(tokenizer.decode(targets), "\n\nHello<|im_end|>")
    }

    func testEmptyConversation() throws {
        let (ids, labels) = ChatTemplate.chatml.render([], tokenizer: try qwen2())
        XCTAssertEqual(ids, [])
        XCTAssertEqual(labels, [])
    }

    /// Llama 3 and MiniCPM 2.0 formats, on small tokenizers trained with their special tokens.
    func testLlama3AndMiniCPMTemplates() throws {
        let corpus = "The cat sat on the mat. What is this? It is a cat. Describe the image please.\n"
        var llamaTrainer = try BPETrainer(vocabSize: 300, specialTokens: [
            "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<image>", "</image>", "<unk>",
        ])
        llamaTrainer.add(corpus)
        let llama = try Tokenizer(json: Data(llamaTrainer.train().tokenizerJSON().utf8), source: "llama3 test")
        try ChatTemplate.llama3.check(tokenizer: llama)
        let turns: [(role: String, content: String)] = [
            ("user", "<image><unk></image>\nWhat is this?"), ("assistant", "  It is a cat.\n"),
        ]
        XCTAssertEqual(ChatTemplate.llama3.text(turns),
                       "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<image><unk></image>\nWhat is this?<|eot_id|>"
                           + "<|start_header_id|>assistant<|end_header_id|>\n\nIt is a cat.<|eot_id|>")
        let (ids, labels) = ChatTemplate.llama3.render(turns, tokenizer: llama)
        XCTAssertEqual(ids, llama.encode(ChatTemplate.llama3.text(turns)))
        XCTAssertEqual(runs(ids, labels, tokenizer: llama).supervised, ["It is a cat.<|eot_id|>"])

        var minicpmTrainer = try BPETrainer(vocabSize: 300, specialTokens: ["</s>", "<用户>", "<AI>"])
        minicpmTrainer.add(corpus)
        let minicpm = try Tokenizer(json: Data(minicpmTrainer.train().tokenizerJSON().utf8), source: "minicpm test")
        try ChatTemplate.minicpm.check(tokenizer: minicpm)
        let two: [(role: String, content: String)] = [
            ("user", "What is this?"), ("assistant", "A cat."), ("user", "Where?"), ("assistant", "On the mat."),
        ]
        XCTAssertEqual(ChatTemplate.minicpm.text(two), "<用户>What is this?<AI>A cat.</s><用户>Where?<AI>On the mat.</s>")
        let rendered = ChatTemplate.minicpm.render(two, tokenizer: minicpm)
        let (supervised, prompt) = runs(rendered.ids, rendered.labels, tokenizer: minicpm)
        XCTAssertEqual(supervised, ["A cat.</s>", "On the mat.</s>"])
        XCTAssertEqual(prompt, ["<用户>What is this?<AI>", "<用户>Where?<AI>"])
    }

    func testCheckRejectsTokenizerWithoutTemplateTokens() throws {
        XCTAssertThrowsError(try ChatTemplate.llama3.check(tokenizer: try qwen2())) { error in
            XCTAssertTrue("\(error)".contains("<|eot_id|>"), "\(error)")
        }
    }

    /// The MiniCPM-V 2.6 fixture: its two ChatML samples (placeholders inside the user turn)
    /// rendered here give the text of meta.json and the packed input_ids / labels of io.h5.
    func testReproducesMiniCPMVFixtureSamples() throws {
        let directory = Fixtures.referenceRoot.appendingPathComponent("minicpmv/tiny_qwen2")
        let meta = try JSONSerialization.jsonObject(
            with: Data(contentsOf: directory.appendingPathComponent("meta.json"))) as? [String: Any]
        let texts = try XCTUnwrap(meta?["sample_texts"] as? [String])
        let tokenizer = try Tokenizer(contentsOf: directory.appendingPathComponent("tokenizer.json").path)
        let h5 = try HDF5File(readingAt: directory.appendingPathComponent("io.h5").path)
        let packedIds = try h5.readInt64s("inputs/input_ids").values.map { Int32($0) }
        let packedLabels = try h5.readInt64s("inputs/labels").values.map { Int32($0) }
        let lengths = try h5.readInt64s("inputs/sequence_lengths").values.map { Int($0) }
        XCTAssertEqual(lengths.count, texts.count)
        var offset = 0
        for (text, length) in zip(texts, lengths) {
            let turns = try parseChatML(text)
            XCTAssertEqual(ChatTemplate.chatml.text(turns), text)
            let (ids, labels) = ChatTemplate.chatml.render(turns, tokenizer: tokenizer)
            XCTAssertEqual(ids, Array(packedIds[offset..<offset + length]))
            XCTAssertEqual(labels, Array(packedLabels[offset..<offset + length]))
            offset += length
        }
        XCTAssertEqual(offset, packedIds.count)
    }

    /// Turns of a ChatML text, read with plain string operations.
    private func parseChatML(_ text: String) throws -> [(role: String, content: String)] {
        var turns: [(role: String, content: String)] = []
        for block in text.components(separatedBy: "<|im_start|>").dropFirst() {
            let body = try XCTUnwrap(block.components(separatedBy: "<|im_end|>").first)
            let newline = try XCTUnwrap(body.firstIndex(of: "\n"))
            turns.append((String(body[..<newline]), String(body[body.index(after: newline)...])))
        }
        return turns
    }
}
