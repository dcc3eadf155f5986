import XCTest
import Foundation
import Autograd
import Core
import NN
import Models
import Checkpointing

/// Strict loading, Hugging Face name mapping, and import → export → import.
final class WeightTransferTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("models-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    var fixture: URL { Reference.root.appendingPathComponent("minicpmv/tiny_qwen2") }

    func testStrictLoadListsEveryProblemAndWritesNothing() throws {
        let config = try MiniCPMVConfig.load(from: fixture.appendingPathComponent("config.json"))
        let model = MiniCPMV(config: config, seed: 1)
        var tensors = try Safetensors.read(fixture.appendingPathComponent("model.safetensors").path)
        tensors["llm.model.norm.weight"] = nil
        tensors["resampler.query"] = NamedArray(shape: [3, 32], values: [Float](repeating: 0, count: 96))
        tensors["vpm.head.probe"] = NamedArray(shape: [1], values: [0])
        let before = model.llm.model.embedTokens.weight.value.scalars
        XCTAssertThrowsError(try ModelWeights.load(tensors, into: model, source: "test")) { error in
            guard let e = error as? CheckpointError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.missing, ["llm.model.norm.weight"])
            XCTAssertEqual(e.unexpected, ["vpm.head.probe"])
            XCTAssertEqual(e.mismatched.map(\.name), ["resampler.query"])
            XCTAssertEqual(e.mismatched.first?.expected, [8, 32])
            let text = "\(e)"
            for s in ["llm.model.norm.weight", "vpm.head.probe", "resampler.query", "[8, 32] vs [3, 32]"] {
                XCTAssertTrue(text.contains(s), "message lacks \(s): \(text)")
            }
        }
        XCTAssertEqual(model.llm.model.embedTokens.weight.value.scalars, before, "a failed load changes nothing")
    }

    func testImportExportImportIsIdentical() throws {
        let first = scratch.appendingPathComponent("first.h5").path
        let exported = scratch.appendingPathComponent("exported").path
        let second = scratch.appendingPathComponent("second.h5").path
        try importCheckpoint(from: [fixture.path], to: first, seed: 0)
        try exportCheckpoint(first, to: exported)
        try importCheckpoint(from: [exported], to: second, seed: 99)

        let a = try HDF5File(readingAt: first), b = try HDF5File(readingAt: second)
        let ta = try readModelTensors(from: a), tb = try readModelTensors(from: b)
        XCTAssertEqual(Set(ta.keys), Set(tb.keys))
        for (name, t) in ta { XCTAssertEqual(t, tb[name], name) }
        // The imported values are the source's, bit for bit.
        let source = try Safetensors.read(fixture.appendingPathComponent("model.safetensors").path)
        XCTAssertEqual(Set(source.keys), Set(ta.keys))
        for (name, t) in source { XCTAssertEqual(t, ta[name], name) }
        let ca = try MiniCPMVConfig.decode(json: try loadModelConfigJSON(from: a))
        let cb = try MiniCPMVConfig.decode(json: try loadModelConfigJSON(from: b))
        XCTAssertEqual(ca, cb)
        // The exported config.json is the official layout and carries the framework tag transformers wants.
        let official = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: exported)
            .appendingPathComponent("config.json"))) as! [String: Any]
        XCTAssertEqual(official["model_type"] as? String, "minicpmv")
        XCTAssertEqual(official["hidden_size"] as? Int, 32)
        XCTAssertNotNil(official["vision_config"])
        XCTAssertEqual(try Safetensors.metadata(exported + "/model.safetensors")["format"], "pt")
    }

    /// A SigLIP dual-encoder directory (vision_model.* + text tower) plus a Qwen2 directory.
    func testVisionPlusLanguageModelPairInitialisesMiniCPMV() throws {
        let source = try Safetensors.read(fixture.appendingPathComponent("model.safetensors").path)
        let config = try MiniCPMVConfig.load(from: fixture.appendingPathComponent("config.json"))
        let vision = scratch.appendingPathComponent("siglip"), llm = scratch.appendingPathComponent("qwen2")
        for dir in [vision, llm] { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }

        var visionTensors: [String: NamedArray] = ["text_model.embeddings.token_embedding.weight": NamedArray(shape: [2, 2], values: [1, 2, 3, 4]),
                                                   "vision_model.head.probe": NamedArray(shape: [1], values: [5])]
        var llmTensors: [String: NamedArray] = [:]
        for (name, t) in source {
            if name.hasPrefix("vpm.") { visionTensors["vision_model." + name.dropFirst(4)] = t }
            if name.hasPrefix("llm.") { llmTensors[String(name.dropFirst(4))] = t }
        }
        try Safetensors.write(visionTensors, to: vision.appendingPathComponent("model.safetensors").path)
        try Safetensors.write(llmTensors, to: llm.appendingPathComponent("model.safetensors").path)
        let encoder = JSONEncoder()
        struct SigLIP: Encodable { let model_type = "siglip"; let vision_config: VisionConfig }
        try encoder.encode(SigLIP(vision_config: config.vision)).write(to: vision.appendingPathComponent("config.json"))
        try encoder.encode(config.llm).write(to: llm.appendingPathComponent("config.json"))
        try FileManager.default.copyItem(at: fixture.appendingPathComponent("tokenizer.json"),
                                         to: llm.appendingPathComponent("tokenizer.json"))

        let sources = try CheckpointSources(directories: [vision.path, llm.path], queryNum: 8)
        XCTAssertFalse(sources.isComplete)
        XCTAssertEqual(sources.config.version, "2.6")
        XCTAssertEqual(sources.config.resampler.numHeads, 1, "official sizing: hidden/128, at least one head")
        XCTAssertEqual(sources.config.specialTokenIds["<image>"], 2004)
        let (tensors, ignored) = try ModelWeights.readMiniCPMV(from: [vision.path, llm.path])
        XCTAssertEqual(ignored.sorted(), ["text_model.embeddings.token_embedding.weight", "vision_model.head.probe"])
        let model = MiniCPMV(config: sources.config, seed: 3)
        let fresh = model.resampler.query.value.scalars
        XCTAssertThrowsError(try ModelWeights.load(tensors, into: model), "the resampler is missing")
        try ModelWeights.load(tensors, into: model, allowMissing: ["resampler"])
        XCTAssertEqual(model.resampler.query.value.scalars, fresh, "the resampler keeps its seeded values")
        XCTAssertEqual(model.vpm.postLayerNorm.weight.value.scalars, source["vpm.post_layernorm.weight"]!.values)
        XCTAssertEqual(model.llm.lmHead!.weight.value.scalars, source["llm.lm_head.weight"]!.values)
    }

    /// A model about to be loaded draws only what its weights files lack (the
    /// resampler of a vision + LLM pair), each parameter exactly as a full draw would.
    func testPartialInitialisationDrawsLikeTheFullOne() throws {
        let config = try MiniCPMVConfig.load(from: fixture.appendingPathComponent("config.json"))
        let full = MiniCPMV(config: config, seed: 5)
        let part = MiniCPMV(config: config, initialize: false)
        part.initialize(seed: 5, where: { $0.hasPrefix("resampler.") })
        let drawn = Dictionary(uniqueKeysWithValues: full.namedParameters().map { ($0.path, $0.parameter.floats) })
        for (path, p) in part.namedParameters() {
            if path.hasPrefix("resampler.") {
                XCTAssertEqual(p.floats, drawn[path], path)
            } else {
                XCTAssertTrue(p.floats.allSatisfy { $0 == 0 }, "\(path) was drawn")
            }
        }
    }

    func testCheckpointWithWrongConfigIsRejected() throws {
        let path = scratch.appendingPathComponent("bad.h5").path
        let config = try MiniCPMVConfig.load(from: fixture.appendingPathComponent("config.json"))
        let model = MiniCPMV(config: config, seed: 0)
        var smaller = config
        smaller.llm.numHiddenLayers = 1
        let file = try HDF5File(creatingAt: path)
        try saveModel(model, config: smaller, to: file)
        file.close()
        let reader = try HDF5File(readingAt: path)
        XCTAssertThrowsError(try loadModel(from: reader, as: MiniCPMVConfig.self) { MiniCPMV(config: $0) }) { error in
            let e = error as? CheckpointError
            XCTAssertEqual(e?.unexpected.count, 12, "layer 1 of the LLM: 7 projections, 3 biases, 2 norms … \(error)")
            XCTAssertTrue(e?.unexpected.allSatisfy { $0.hasPrefix("llm.model.layers.1.") } ?? false)
        }
    }

    // MARK: - The import/export steps of `trainer import` / `trainer export`

    private func importCheckpoint(from dirs: [String], to path: String, seed: UInt64) throws {
        let sources = try CheckpointSources(directories: dirs)
        let (tensors, _) = try ModelWeights.readMiniCPMV(from: dirs)
        let model = MiniCPMV(config: sources.config, seed: seed)
        try ModelWeights.load(tensors, into: model, allowMissing: sources.isComplete ? [] : ["resampler"])
        let file = try HDF5File(creatingAt: path)
        try saveModel(model, config: sources.config, to: file)
        file.close()
    }

    private func exportCheckpoint(_ path: String, to dir: String) throws {
        let file = try HDF5File(readingAt: path)
        let (model, config) = try loadModel(from: file, as: MiniCPMVConfig.self) { MiniCPMV(config: $0) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(try config.officialJSON().utf8).write(to: URL(fileURLWithPath: dir).appendingPathComponent("config.json"))
        try Safetensors.write(ModelWeights.export(model), to: dir + "/model.safetensors", metadata: ["format": "pt"])
    }
}
