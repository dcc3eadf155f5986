import Checkpointing
import Foundation
import TestSupport
import XCTest

final class SafetensorsTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws { scratch = try Fixtures.scratchDirectory("trainer-ckpt-tests") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    private func scratchPath(_ name: String) -> String { scratch.appendingPathComponent(name).path }

    /// A file assembled byte by byte: length prefix, JSON header, data.
    private func handcrafted(_ header: String, _ data: [UInt8], name: String) throws -> String {
        let json = Array(header.utf8)
        var bytes: [UInt8] = (0..<8).map { UInt8((UInt64(json.count) >> (8 * UInt64($0))) & 0xFF) }
        bytes += json + data
        let path = scratchPath(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func littleEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { value in (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
    }

    func testRoundTrip() throws {
        let tensors: [String: NamedArray] = [
            "b.weight": NamedArray(shape: [2, 3], values: [1, -2, 3.5, .pi, -.infinity, .leastNonzeroMagnitude]),
            "a.bias": NamedArray(shape: [3], values: [0.1, 0.2, 0.3]),
            "scale": NamedArray(shape: [], values: [7]),
            "empty": NamedArray(shape: [0, 3], values: []),
        ]
        let metadata = ["format": "pt", "note": "quote \" backslash \\ newline \n ✓"]
        let path = scratchPath("round.safetensors")
        try Safetensors.write(tensors, to: path, metadata: metadata)

        let loaded = try Safetensors.read(path)
        XCTAssertEqual(Set(loaded.keys), Set(tensors.keys))
        for (name, tensor) in tensors {
            XCTAssertEqual(loaded[name]?.shape, tensor.shape, name)
            XCTAssertEqual(loaded[name]?.values.map(\.bitPattern), tensor.values.map(\.bitPattern), name)
        }
        XCTAssertEqual(try Safetensors.metadata(path), metadata)

        // Layout: 8-byte aligned data start, names sorted, tensors back to back.
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let headerLength = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual((8 + headerLength) % 8, 0)
        XCTAssertEqual(bytes.count, 8 + headerLength + 4 * (6 + 3 + 1))
        let header = String(decoding: bytes[8..<(8 + headerLength)], as: UTF8.self)
        let positions = ["a.bias", "b.weight", "empty", "scale"].map { header.range(of: "\"\($0)\"")!.lowerBound }
        XCTAssertEqual(positions, positions.sorted())
        XCTAssertTrue(header.contains("\"a.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}"), header)
    }

    /// F16, BF16, F64 and I64 widened to Float32; expected values computed with numpy.
    func testHalfPrecisionConversion() throws {
        let f16: [UInt16] = [0x3C00, 0xC000, 0x3555, 0x7BFF, 0x0001, 0xFC00]
        let bf16: [UInt16] = [0x3F80, 0xC049, 0x7F7F, 0x0001, 0x3E20]
        let data = littleEndian(f16) + littleEndian(bf16)
            + littleEndian([Double(0.1).bitPattern]) + littleEndian([Int64(-5)])
        let header = """
            {"h":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},\
            "b":{"dtype":"BF16","shape":[5],"data_offsets":[12,22]},\
            "d":{"dtype":"F64","shape":[],"data_offsets":[22,30]},\
            "i":{"dtype":"I64","shape":[1],"data_offsets":[30,38]}}
            """
        let path = try handcrafted(header, data, name: "half.safetensors")
        let loaded = try Safetensors.read(path)
        XCTAssertEqual(loaded["h"]?.shape, [2, 3])
        XCTAssertEqual(loaded["h"]?.values, [1, -2, 0.333251953125, 65504, 5.960464477539063e-08, -.infinity])
        XCTAssertEqual(loaded["b"]?.values, [1, -3.140625, 3.3895313892515355e+38, Float(9.183549615799121e-41 as Double), 0.15625])
        XCTAssertEqual(loaded["d"]?.shape, [])
        XCTAssertEqual(loaded["d"]?.values, [Float(0.1)])
        XCTAssertEqual(loaded["i"]?.values, [-5])
        XCTAssertEqual(try Safetensors.metadata(path), [:])
    }

    /// Tensors larger than the reader's 4 MiB chunk are read in several pieces, each
    /// widened where it belongs; only the names' shapes are read up front.
    func testLargeTensorsAreReadInChunks() throws {
        let n = 2_500_000                                   // 5 MB of BF16, 10 MB of F32
        let bf16 = (0..<n).map { UInt16(truncatingIfNeeded: 0x3F80 &+ ($0 % 977)) }
        let f32 = (0..<n).map { Float($0) * 0.5 }
        let header = """
            {"b":{"dtype":"BF16","shape":[\(n)],"data_offsets":[0,\(2 * n)]},\
            "f":{"dtype":"F32","shape":[\(n / 1000),1000],"data_offsets":[\(2 * n),\(6 * n)]}}
            """
        let path = try handcrafted(header, littleEndian(bf16) + littleEndian(f32.map(\.bitPattern)), name: "large.safetensors")
        let source = try SafetensorsTensors(path)
        XCTAssertEqual(source.shapes, ["b": [n], "f": [n / 1000, 1000]])
        XCTAssertEqual(try source.values(of: "b").map(\.bitPattern), bf16.map { UInt32($0) << 16 })
        XCTAssertEqual(try source.values(of: "f"), f32)
        XCTAssertThrowsError(try source.values(of: "missing")) { XCTAssertTrue("\($0)".contains("missing"), "\($0)") }
    }

    /// A file cut short after its header is found when a tensor is read, naming the file.
    func testTruncatedDataIsNamed() throws {
        let header = #"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#
        let path = try handcrafted(header, littleEndian([UInt32](repeating: 0, count: 4)), name: "cut.safetensors")
        let source = try SafetensorsTensors(path)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(8 + header.utf8.count + 6))
        try handle.close()
        XCTAssertThrowsError(try source.values(of: "x")) { XCTAssertTrue("\($0)".contains("cut.safetensors"), "\($0)") }
    }

    func testShardedDirectoryWithIndex() throws {
        let dir = scratch.appendingPathComponent("sharded")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Safetensors.write(["x": NamedArray(shape: [2], values: [1, 2]),
                               "unlisted": NamedArray(shape: [1], values: [9])],
                              to: dir.appendingPathComponent("model-00001-of-00002.safetensors").path)
        try Safetensors.write(["y": NamedArray(shape: [1, 1], values: [3])],
                              to: dir.appendingPathComponent("model-00002-of-00002.safetensors").path)
        let index = """
            {"metadata": {"total_size": 12}, "weight_map": {
              "x": "model-00001-of-00002.safetensors", "y": "model-00002-of-00002.safetensors"}}
            """
        let indexPath = dir.appendingPathComponent("model.safetensors.index.json")
        try Data(index.utf8).write(to: indexPath)

        for source in [dir.path, indexPath.path] {
            let loaded = try Safetensors.read(source)
            XCTAssertEqual(loaded, ["x": NamedArray(shape: [2], values: [1, 2]),
                                    "y": NamedArray(shape: [1, 1], values: [3])])
        }

        // A tensor mapped to a shard that lacks it, and a missing shard, name the shard.
        let wrong = #"{"weight_map": {"y": "model-00001-of-00002.safetensors"}}"#
        try Data(wrong.utf8).write(to: indexPath)
        XCTAssertThrowsError(try Safetensors.read(dir.path)) { error in
            guard case SafetensorsError.missingTensor(let path, let tensor) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(path.hasSuffix("model-00001-of-00002.safetensors"))
            XCTAssertEqual(tensor, "y")
        }
        try Data(#"{"weight_map": {"y": "gone.safetensors"}}"#.utf8).write(to: indexPath)
        XCTAssertThrowsError(try Safetensors.read(dir.path)) { XCTAssertTrue("\($0)".contains("gone.safetensors")) }
        try Data(#"{"weights": {}}"#.utf8).write(to: indexPath)
        XCTAssertThrowsError(try Safetensors.read(dir.path)) { error in
            guard case SafetensorsError.badIndex = error else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains(indexPath.path))
        }
    }

    func testDirectoryWithSingleFile() throws {
        let dir = scratch.appendingPathComponent("single")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        XCTAssertThrowsError(try Safetensors.read(dir.path)) { error in
            guard case SafetensorsError.noWeightsInDirectory = error else { return XCTFail("\(error)") }
        }
        try Safetensors.write(["w": NamedArray(shape: [1], values: [4])],
                              to: dir.appendingPathComponent("model.safetensors").path)
        XCTAssertEqual(try Safetensors.read(dir.path)["w"]?.values, [4])
    }

    /// Names and shapes as listed by the fixture's header; values read with numpy.
    func testReadsQwen2Fixture() throws {
        let loaded = try Safetensors.read(Fixtures.reference("llm/qwen2_gqa/model.safetensors"))
        var expected: [String: [Int]] = [
            "lm_head.weight": [320, 64], "model.embed_tokens.weight": [320, 64], "model.norm.weight": [64],
        ]
        for layer in 0..<2 {
            let p = "model.layers.\(layer)."
            expected[p + "input_layernorm.weight"] = [64]
            expected[p + "post_attention_layernorm.weight"] = [64]
            expected[p + "mlp.down_proj.weight"] = [64, 96]
            expected[p + "mlp.gate_proj.weight"] = [96, 64]
            expected[p + "mlp.up_proj.weight"] = [96, 64]
            expected[p + "self_attn.q_proj.weight"] = [64, 64]
            expected[p + "self_attn.q_proj.bias"] = [64]
            expected[p + "self_attn.k_proj.weight"] = [32, 64]
            expected[p + "self_attn.k_proj.bias"] = [32]
            expected[p + "self_attn.v_proj.weight"] = [32, 64]
            expected[p + "self_attn.v_proj.bias"] = [32]
            expected[p + "self_attn.o_proj.weight"] = [64, 64]
        }
        XCTAssertEqual(loaded.count, 27)
        XCTAssertEqual(loaded.mapValues(\.shape), expected)
        XCTAssertEqual(Array(loaded["model.norm.weight"]!.values.prefix(3)), [0.84210205078125, 1.1389005184173584, 1.0395742654800415])
        XCTAssertEqual(Array(loaded["model.layers.1.self_attn.k_proj.bias"]!.values.suffix(2)),
                       [0.022651925683021545, -0.12563608586788177])
        XCTAssertEqual(try Safetensors.metadata(Fixtures.reference("llm/qwen2_gqa/model.safetensors")),
                       ["format": "pt"])
    }

    func testCorruptFilesNameTheFile() throws {
        let f32 = littleEndian([Float(1).bitPattern, Float(2).bitPattern])
        let cases: [(String, String, [UInt8])] = [
            ("invalid-json", "{\"x\": {\"dtype\": \"F32\", ", f32),
            ("not-object", "[1, 2]", f32),
            ("out-of-range", #"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, f32),
            ("size-mismatch", #"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, f32),
            ("no-shape", #"{"x":{"dtype":"F32","data_offsets":[0,8]}}"#, f32),
            ("negative", #"{"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, f32),
            ("overlap", #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, f32),
            ("bad-metadata", #"{"__metadata__":{"a":1}}"#, []),
        ]
        for (name, header, data) in cases {
            let path = try handcrafted(header, data, name: "\(name).safetensors")
            XCTAssertThrowsError(try Safetensors.read(path), name) { error in
                guard case SafetensorsError.corruptHeader = error else { return XCTFail("\(name): \(error)") }
                XCTAssertTrue("\(error)".contains(path), "\(error)")
            }
        }
        // Length prefix larger than the file, and a file shorter than the prefix.
        let huge = scratchPath("huge.safetensors")
        try Data([0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0x7B, 0x7D]).write(to: URL(fileURLWithPath: huge))
        let short = scratchPath("short.safetensors")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: short))
        for path in [huge, short] {
            XCTAssertThrowsError(try Safetensors.read(path)) { error in
                guard case SafetensorsError.corruptHeader = error else { return XCTFail("\(error)") }
                XCTAssertTrue("\(error)".contains(path), "\(error)")
            }
        }
        let u8 = try handcrafted(#"{"x":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#, [1, 2], name: "u8.safetensors")
        XCTAssertThrowsError(try Safetensors.read(u8)) { error in
            guard case SafetensorsError.unsupportedDType(_, "x", "U8") = error else { return XCTFail("\(error)") }
        }
        let missing = scratchPath("nothing.safetensors")
        XCTAssertThrowsError(try Safetensors.read(missing)) { XCTAssertTrue("\($0)".contains(missing)) }
    }

    func testWriterRejectsInconsistentTensors() {
        let path = scratchPath("bad.safetensors")
        XCTAssertThrowsError(try Safetensors.write(["w": NamedArray(shape: [2, 2], values: [1])], to: path)) {
            XCTAssertTrue("\($0)".contains("'w'"))
        }
        XCTAssertThrowsError(try Safetensors.write(["__metadata__": NamedArray(shape: [], values: [1])], to: path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertThrowsError(try Safetensors.write([:], to: scratchPath("no/dir/x.safetensors"))) {
            XCTAssertTrue("\($0)".contains("no/dir/x.safetensors"))
        }
    }
}
