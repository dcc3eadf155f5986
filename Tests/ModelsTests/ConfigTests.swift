import XCTest
import Foundation
import TestSupport
import Models

final class ConfigTests: XCTestCase {
    var presetDirectory: String { Fixtures.packageRoot.appendingPathComponent("Recipes/models").path }

    func testEveryPresetDecodesAndRoundTrips() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: presetDirectory)
            .filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
        XCTAssertEqual(Set(names), ["micro", "tiny", "tiny-positional", "small", "minicpm-v-2", "minicpm-llama3-v-2_5",
                                    "minicpm-v-2_6"])
        for name in names {
            let c = try MiniCPMVConfig.preset(name, directory: presetDirectory)
            XCTAssertEqual(try MiniCPMVConfig.decode(json: try c.jsonString()), c, name)
            XCTAssertEqual(try MiniCPMVConfig.decode(json: try c.officialJSON()), c, "\(name) (official layout)")
        }
        // The chain's model is `tiny` with the position also in the resampler's values.
        var positional = try MiniCPMVConfig.preset("tiny-positional", directory: presetDirectory)
        XCTAssertTrue(positional.resampler.positionInValues)
        positional.resampler.positionInValues = false
        XCTAssertEqual(positional, try MiniCPMVConfig.preset("tiny", directory: presetDirectory))
        XCTAssertThrowsError(try MiniCPMVConfig.preset("huge", directory: presetDirectory)) {
            XCTAssertTrue("\($0)".contains("tiny"), "the error lists the known presets: \($0)")
        }
    }

    func testRealSizes() throws {
        let v26 = try MiniCPMVConfig.preset("minicpm-v-2_6", directory: presetDirectory)
        XCTAssertEqual(v26.llm.modelType, .qwen2)
        XCTAssertEqual(v26.vision.numPatchesPerSide, 70)
        XCTAssertEqual(v26.resampler.numHeads, 28)
        let v25 = try MiniCPMVConfig.preset("minicpm-llama3-v-2_5", directory: presetDirectory)
        XCTAssertEqual(v25.queryNum, 96)
        XCTAssertEqual(v25.llm.numKeyValueHeads, 8)
        let v20 = try MiniCPMVConfig.preset("minicpm-v-2", directory: presetDirectory)
        XCTAssertEqual(v20.llm.modelType, .minicpm)
        XCTAssertEqual(v20.visionLayers, 26)
        XCTAssertEqual(v20.llm.logitDivisor, 9)
    }

    /// The official MiniCPM-V 2.6 config.json layout (fields as published, trimmed).
    func testOfficialLayoutDecodes() throws {
        let json = """
        {"architectures": ["MiniCPMV"], "model_type": "minicpmv", "version": 2.6, "hidden_size": 3584,
         "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4,
         "vocab_size": 151666, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "max_position_embeddings": 32768,
         "hidden_act": "silu", "tie_word_embeddings": false, "query_num": 64, "image_size": 448,
         "drop_vision_last_layer": false, "batch_vision_input": true, "use_image_id": true,
         "slice_config": {"max_slice_nums": 9, "model_type": "minicpmv", "patch_size": 14, "scale_resolution": 448},
         "vision_config": {"hidden_size": 1152, "image_size": 980, "intermediate_size": 4304,
                           "model_type": "siglip", "num_attention_heads": 16, "num_hidden_layers": 27, "patch_size": 14}}
        """
        let c = try MiniCPMVConfig.decode(json: json)
        XCTAssertEqual(c, try MiniCPMVConfig.preset("minicpm-v-2_6", directory: presetDirectory))
    }

    func testErrorsNameTheFieldAndFile() throws {
        XCTAssertThrowsError(try MiniCPMVConfig.decode(json: #"{"version": "2.6", "llm": {"model_type": "qwen2"}}"#, file: "x.json")) {
            let s = "\($0)"
            XCTAssertTrue(s.contains("x.json") && s.contains("vocab_size"), s)
        }
        XCTAssertThrowsError(try MiniCPMVConfig.decode(json: #"{"version": "2.6", "llm": {"model_type": "gpt2"}}"#)) {
            XCTAssertTrue("\($0)".contains("gpt2"))
        }
        var c = try MiniCPMVConfig.preset("micro", directory: presetDirectory)
        c.resampler.kvDim = 7
        XCTAssertThrowsError(try MiniCPMVConfig.decode(json: try c.jsonString())) {
            XCTAssertTrue("\($0)".contains("kv_dim"))
        }
        XCTAssertThrowsError(try MiniCPMVConfig.load(from: URL(fileURLWithPath: "/nonexistent/config.json"))) {
            XCTAssertTrue("\($0)".contains("/nonexistent/config.json"))
        }
    }
}
