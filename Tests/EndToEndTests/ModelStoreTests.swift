import Checkpointing
import Foundation
import Models
import Autograd
import TestSupport
import Training
import XCTest

/// Export to a Hugging Face folder and import back give the same weights, bit for bit;
/// a write that fails leaves the earlier file intact.
final class ModelStoreTests: XCTestCase {
    func testExportThenImportKeepsEveryWeight() throws {
        let dir = E2E.scratch("store")
        let config = try MiniCPMVConfig.preset("micro", directory: Fixtures.packageRoot.appendingPathComponent("Recipes/models").path)
        let model = MiniCPMV(config: config, seed: 7)
        let original = dir.appendingPathComponent("original.h5").path
        try ModelStore.writeAtomically(original) { try saveModel(model, config: config, to: $0) }
        let summary = try ModelStore.exportCheckpoint(original, to: dir.appendingPathComponent("hf").path)
        XCTAssertTrue(summary.contains("exported"), summary)
        let imported = dir.appendingPathComponent("imported.h5").path
        _ = try ModelStore.importCheckpoint(from: [dir.appendingPathComponent("hf").path], to: imported, seed: 99, queryNum: nil)
        let back = try ModelStore.model(checkpoint: imported)
        XCTAssertEqual(back.config, config)
        let before = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.0, $0.1.value.scalars) })
        for (name, p) in back.namedParameters() {
            XCTAssertEqual(p.value.scalars, before[name], name)
        }
        XCTAssertEqual(back.namedParameters().count, before.count)
    }

    /// `trainer import --dtype bfloat16` stores each weight rounded to bfloat16 (h5py
    /// reads the 2-byte float type), and loading it keeps them bf16; a load from
    /// float32 that keeps the LLM frozen in bf16 narrows just those weights.
    func testBFloat16ImportAndANarrowedLoad() throws {
        let dir = E2E.scratch("store-bf16")
        let config = try MiniCPMVConfig.preset("micro", directory: Fixtures.packageRoot.appendingPathComponent("Recipes/models").path)
        let model = MiniCPMV(config: config, seed: 11)
        let original = dir.appendingPathComponent("original.h5").path
        try ModelStore.writeAtomically(original) { try saveModel(model, config: config, to: $0) }
        _ = try ModelStore.exportCheckpoint(original, to: dir.appendingPathComponent("hf").path)
        let imported = dir.appendingPathComponent("bf16.h5").path
        let summary = try ModelStore.importCheckpoint(from: [dir.appendingPathComponent("hf").path], to: imported,
                                                      seed: 0, queryNum: nil, precision: .bfloat16)
        XCTAssertTrue(summary.contains("bfloat16"), summary)
        let rounded = Dictionary(uniqueKeysWithValues: model.namedParameters().map { path, p in
            (path, p.floats.map { Float(bitPattern: UInt32(BF16Matrix.narrow($0)) << 16) })
        })
        let file = try HDF5File(readingAt: imported)
        XCTAssertTrue(try file.isBFloat16("model/llm.model.embed_tokens.weight"))
        file.close()

        // Weights stored in bf16 stay bf16 in memory (nothing to lose), frozen.
        let eligible = Set(model.bf16EligiblePaths())
        let loaded = try ModelStore.model(checkpoint: imported)
        for (path, p) in loaded.namedParameters() {
            XCTAssertEqual(p.floats, rounded[path], path)
            XCTAssertEqual(p.bf16 != nil, eligible.contains(path), path)
        }
        // From a float32 checkpoint, only what `bf16` selects is narrowed.
        let frozenLLM = try ModelStore.model(checkpoint: original, bf16: { $0.hasPrefix("llm.") })
        var narrowed = 0
        for (path, p) in frozenLLM.namedParameters() {
            let selected = eligible.contains(path) && path.hasPrefix("llm.")
            XCTAssertEqual(p.bf16 != nil, selected, path)
            XCTAssertEqual(p.floats, selected ? rounded[path] : model.parameter(at: path)?.floats, path)
            if selected { narrowed += 1; XCTAssertFalse(p.isTrainable, path) }
        }
        XCTAssertGreaterThan(narrowed, 0)
    }

    func testFailedWriteLeavesTheEarlierFile() throws {
        let dir = E2E.scratch("store-atomic")
        let path = dir.appendingPathComponent("m.h5").path
        try ModelStore.writeAtomically(path) { try $0.write("x", string: "first") }
        struct Stop: Error {}
        XCTAssertThrowsError(try ModelStore.writeAtomically(path) { try $0.write("x", string: "second"); throw Stop() })
        let f = try HDF5File(readingAt: path)
        defer { f.close() }
        XCTAssertEqual(try f.readString("x"), "first")
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertEqual(left, ["m.h5"], "a temporary file was left behind")
    }

    func testMissingCheckpointIsNamed() {
        XCTAssertThrowsError(try ModelStore.model(checkpoint: "/nonexistent/step-000001.h5")) { e in
            XCTAssertTrue("\(e)".contains("/nonexistent/step-000001.h5: checkpoint not found"), "\(e)")
        }
    }
}
