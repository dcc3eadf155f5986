import Checkpointing
import Foundation
import Training
import XCTest

/// `trainer quantize` on a briefly trained micro model: the written checkpoint
/// holds packed codes for the LLM's linears only, loads (dequantized) wherever
/// a checkpoint loads, and bad input is refused naming the file.
final class QuantizeTests: XCTestCase {
    func testQuantizedCheckpointsLoadAndKeepEverythingElse() throws {
        let dir = E2E.scratch("quantize")
        defer { try? FileManager.default.removeItem(at: dir) }
        let recipe = try E2E.recipe(E2E.captionRecipe(name: "quant", dir: dir, steps: 3), in: dir)
        _ = try TrainingRun(recipe: recipe, options: E2E.quiet(RunOptions())).run()
        let float = dir.appendingPathComponent("ckpt/latest.h5").path
        let calibration = E2E.root.appendingPathComponent("Data/synth/captions.jsonl").path
        let original = try ModelStore.model(checkpoint: float)
        let layers = original.config.llm.numHiddenLayers

        for method in QuantizationMethod.allCases {
            var o = QuantizationOptions()
            o.method = method; o.groupSize = 32; o.samples = 6; o.actOrder = method == .gptq
            let out = dir.appendingPathComponent("\(method).h5").path
            let r = try ModelQuantization.run(checkpoint: float, calibration: calibration, out: out, options: o)
            XCTAssertEqual(r.matrices, 7 * layers)
            XCTAssertEqual(r.quantizedParameters + r.floatParameters, original.parameterCount)
            XCTAssertGreaterThan(r.relativeError, 0)
            XCTAssertLessThan(r.relativeError, 0.3)

            let file = try HDF5File(readingAt: out)
            let info = try XCTUnwrap(try QuantizedWeights.readInfo(from: file))
            XCTAssertEqual(info.method, method.rawValue)
            XCTAssertEqual(info.actOrder, method == .gptq)
            let matrices = try QuantizedWeights.read(from: file)
            XCTAssertEqual(matrices.count, 7 * layers)
            XCTAssertTrue(matrices.keys.allSatisfy { $0.hasPrefix("llm.model.layers.") })
            XCTAssertFalse(file.exists("model/llm.model.layers.0.mlp.up_proj.weight"))
            XCTAssertTrue(file.exists("recipe/text"))
            file.close()

            let loaded = try ModelStore.model(checkpoint: out)
            let q = Dictionary(uniqueKeysWithValues: loaded.namedParameters().map { ($0.path, $0.parameter.value.scalars) })
            for (path, p) in original.namedParameters() {
                if let m = matrices[path] {
                    XCTAssertEqual(q[path], m.dequantized(), path)
                    XCTAssertNotEqual(q[path], p.value.scalars, path)
                } else {
                    XCTAssertEqual(q[path], p.value.scalars, "\(path) stays float32")
                }
            }
            var e = EvaluationOptions()
            e.skipAnswers = true; e.limit = 2
            let report = try Evaluation.run(checkpoint: out, data: calibration, options: e)
            XCTAssertNotNil(report.heldOutLoss)

            XCTAssertThrowsError(try ModelQuantization.run(checkpoint: out, calibration: calibration,
                                                           out: out + ".again", options: o)) { e in
                XCTAssertTrue("\(e)".contains("already quantized"), "\(e)")
            }
        }

        var o = QuantizationOptions()
        let missing = dir.appendingPathComponent("nowhere.jsonl").path
        XCTAssertThrowsError(try ModelQuantization.run(checkpoint: float, calibration: missing,
                                                       out: dir.appendingPathComponent("x.h5").path, options: o)) { e in
            XCTAssertTrue("\(e)".contains("nowhere.jsonl"), "\(e)")
        }
        o.bits = 2
        XCTAssertThrowsError(try ModelQuantization.run(checkpoint: float, calibration: calibration,
                                                       out: dir.appendingPathComponent("x.h5").path, options: o)) { e in
            XCTAssertTrue("\(e)".contains("4 or 8"), "\(e)")
        }
        o.bits = 4
        let notModel = dir.appendingPathComponent("plain.h5").path
        let h5 = try HDF5File(creatingAt: notModel)
        try h5.write("numbers", floats: [1, 2], shape: [2])
        h5.close()
        XCTAssertThrowsError(try ModelQuantization.run(checkpoint: notModel, calibration: calibration,
                                                       out: dir.appendingPathComponent("x.h5").path, options: o)) { e in
            XCTAssertTrue("\(e)".contains("plain.h5") && "\(e)".contains("not a model"), "\(e)")
        }
    }
}
