import Checkpointing
import Core
import Foundation
import XCTest

/// The GGUF writer and reader: write → read gives the same metadata and tensors;
/// F16, Q8_0 and Q4_0 decode within the error their formats allow; broken files
/// are refused naming the file.
final class GGUFTests: XCTestCase {
    static func values(_ n: Int, seed: UInt64) -> [Float] {
        var rng = RNG(seed: seed)
        return (0..<n).map { _ in rng.normal() * 0.3 }
    }

    func testWriteThenReadGivesTheSameFile() throws {
        let w = Self.values(4 * 64, seed: 1)
        var f = GGUFFile()
        f.metadata = [
            ("general.architecture", .string("qwen2")),
            ("qwen2.block_count", .uint32(4)),
            ("qwen2.rope.freq_base", .float32(10000)),
            ("clip.minicpmv_version", .int32(3)),
            ("clip.use_gelu", .bool(true)),
            ("general.size", .uint64(1 << 40)),
            ("tokenizer.ggml.tokens", .strings(["a", "Ġb", "<|im_end|>", "é"])),
            ("tokenizer.ggml.token_type", .int32s([1, 1, 3, 1])),
            ("clip.vision.image_mean", .float32s([0.5, 0.5, 0.5])),
        ]
        for type in GGMLType.allCases {
            f.tensors.append(GGUFTensor(name: "w.\(type.name)", shape: [4, 64], type: type, values: w))
        }
        f.tensors.append(GGUFTensor(name: "odd", shape: [3], type: .f32, values: [1, 2, 3]))     // not a multiple of the alignment
        f.tensors.append(GGUFTensor(name: "conv", shape: [2, 3, 2, 2], type: .f16, values: Self.values(24, seed: 2)))
        let bytes = f.encoded()
        XCTAssertEqual(Array(bytes.prefix(4)), Array("GGUF".utf8))
        let back = try GGUFFile(bytes: bytes, source: "mem.gguf")
        XCTAssertEqual(back, f)
        XCTAssertEqual(back["qwen2.block_count"], .uint32(4))
        XCTAssertEqual(try XCTUnwrap(back.tensor("conv")).shape, [2, 3, 2, 2])

        let path = NSTemporaryDirectory() + "gguf-\(getpid()).gguf"
        defer { unlink(path) }
        try f.write(to: path)
        XCTAssertEqual(try GGUFFile(contentsOf: path), f)
    }

    func testBlockFormatsDecodeWithinTheirError() {
        var w = Self.values(32 * 40, seed: 7)
        w[5] = 2.5; w[40] = -3                     // large values of both signs
        for k in 64..<96 { w[k] = 0 }              // an all-zero block
        let f32 = GGMLType.f32.decode(GGMLType.f32.encode(w)[...], count: w.count)
        XCTAssertEqual(f32, w)
        let f16 = GGMLType.f16.decode(GGMLType.f16.encode(w)[...], count: w.count)
        for (a, b) in zip(f16, w) { XCTAssertEqual(a, b, accuracy: abs(b) * 1e-3 + 1e-7) }
        XCTAssertEqual(GGMLType.q8_0.encode(w).count, 40 * 34)
        XCTAssertEqual(GGMLType.q4_0.encode(w).count, 40 * 18)
        // Q8_0: half a step of amax/127. Q4_0: half a step of amax/8, except that the
        // side opposite the largest value reaches only 7 steps, so a value there near
        // amax is clipped by up to one step.
        for (type, tolerated) in [(GGMLType.q8_0, Float(0.5 / 127)), (.q4_0, 1.0 / 8)] {
            let d = type.decode(type.encode(w)[...], count: w.count)
            for b in 0..<40 {
                let block = w[(b * 32)..<(b * 32 + 32)]
                let amax = block.map(abs).max()!
                // Plus the f16 rounding of the scale.
                let tolerance = amax * tolerated + amax * 2e-3 + 1e-7
                for j in 0..<32 { XCTAssertEqual(d[b * 32 + j], w[b * 32 + j], accuracy: tolerance, "\(type.name) block \(b)") }
                // The value of largest magnitude is exact up to the f16 scale.
                if amax > 0, let k = block.indices.first(where: { abs(w[$0]) == amax }) {
                    XCTAssertEqual(d[k], w[k], accuracy: amax * 2e-3)
                }
            }
            XCTAssertTrue(d[64..<96].allSatisfy { $0 == 0 })
        }
    }

    func testBrokenFilesAreRefusedNamingTheFile() {
        var f = GGUFFile(metadata: [("general.architecture", .string("qwen2"))])
        f.tensors = [GGUFTensor(name: "t", shape: [32], type: .q8_0, values: Self.values(32, seed: 3))]
        let good = f.encoded()
        var badMagic = good; badMagic[0] = UInt8(ascii: "X")
        var badVersion = good; badVersion[4] = 2
        var badType = good
        // Header 24 bytes, the one key 8 + 20 + 4 + 8 + 5, then the tensor's name 8 + 1,
        // its dimension count 4 and one dimension 8: its type code starts at byte 90.
        let typeAt = 24 + 45 + 9 + 4 + 8
        XCTAssertEqual(good[typeAt], 8)
        badType[typeAt] = 99
        for (name, bytes) in [("magic", badMagic), ("version", badVersion), ("type", badType),
                              ("truncated", Array(good.prefix(good.count - GGUFFile.padded(34) + 10))), ("empty", [])] {
            XCTAssertThrowsError(try GGUFFile(bytes: bytes, source: "broken-\(name).gguf"), name) { e in
                XCTAssertTrue("\(e)".contains("broken-\(name).gguf"), "\(e)")
            }
        }
        XCTAssertThrowsError(try GGUFFile(contentsOf: "/nonexistent/x.gguf")) { XCTAssertTrue("\($0)".contains("x.gguf")) }
    }
}
