import Checkpointing
import Foundation
import TestSupport
import XCTest

/// Reads the shared reference fixtures. Expected shapes and values were read
/// independently with h5py.
final class HDF5FixtureTests: XCTestCase {
    private func flat(_ index: [Int], _ shape: [Int]) -> Int {
        zip(index, shape).reduce(0) { $0 * $1.1 + $1.0 }
    }

    func testVisionIO() throws {
        let file = try HDF5File(readingAt: Fixtures.reference("vision/navit_t8_b3/io.h5"))
        XCTAssertEqual(try file.members(of: ""), ["grads", "inputs", "outputs"])
        XCTAssertEqual(try file.members(of: "inputs"), ["cotangent", "patch_mask", "pixel_values", "tgt_sizes"])
        XCTAssertEqual(try file.members(of: "grads").count, 38)

        let pixels = try file.readFloats("inputs/pixel_values")
        XCTAssertEqual(pixels.shape, [3, 3, 14, 350])
        XCTAssertEqual(Array(pixels.values[0..<3]), [-0.94860053, -0.05661738, -0.84398997])
        XCTAssertEqual(pixels.values[flat([2, 1, 5, 100], pixels.shape)], -0.9070188)

        let tgt = try file.readInt64s("inputs/tgt_sizes")
        XCTAssertEqual(tgt.shape, [3, 2])
        XCTAssertEqual(tgt.values, [4, 6, 5, 5, 3, 7])

        let mask = try file.readInt64s("inputs/patch_mask")
        XCTAssertEqual(mask.shape, [3, 25])
        XCTAssertEqual(Array(mask.values[0..<25]), Array(repeating: 1, count: 24) + [0])

        let hidden = try file.readFloats("outputs/last_hidden_state")
        XCTAssertEqual(hidden.shape, [3, 25, 36])
        XCTAssertEqual(hidden.values[flat([1, 24, 35], hidden.shape)], -0.122973084)

        let positions = try file.readInt64s("outputs/position_ids")
        XCTAssertEqual(Array(positions.values[50..<60]), [0, 1, 2, 3, 4, 5, 6, 16, 17, 18])
        XCTAssertEqual(try file.shape(of: "grads/embeddings.patch_embedding.weight"), [36, 3, 14, 14])
        XCTAssertEqual(Array(try file.readFloats("grads/post_layernorm.bias").values[0..<3]),
                       [-14.151592, 12.831328, -3.4464068])
    }

    func testScalarLoss() throws {
        let file = try HDF5File(readingAt: Fixtures.reference("llm/qwen2_gqa/io.h5"))
        XCTAssertEqual(try file.shape(of: "outputs/loss"), [])
        let loss = try file.readFloats("outputs/loss")
        XCTAssertEqual(loss.shape, [])
        XCTAssertEqual(loss.values, [Float(6.606110095977783)])
    }

    /// images/resize/*.h5 hold gzip-compressed chunked datasets and int64 attributes.
    func testCompressedResize() throws {
        let file = try HDF5File(readingAt: Fixtures.reference("images/resize/camera.h5"))
        XCTAssertEqual(try file.members(of: "slices"), ["0", "1", "2"])
        XCTAssertEqual(try file.attributeInt64s("grid_cols_rows", on: "/"), [1, 2])
        XCTAssertEqual(try file.attributeInt64s("source_size_wh", on: ""), [512, 512])
        XCTAssertEqual(try file.readInt64s("tgt_sizes").values, [32, 32, 23, 45, 23, 45])

        let slice = try file.readUInt8s("slices/1")
        XCTAssertEqual(slice.shape, [322, 630, 3])
        XCTAssertEqual(Array(slice.values[0..<3]), [200, 200, 200])
        XCTAssertEqual(Array(slice.values[flat([321, 629, 0], slice.shape)...]), [162, 162, 162])
        XCTAssertEqual(slice.values.reduce(0) { $0 + Int($1) }, 92_683_974)
        XCTAssertEqual(Array(try file.readUInt8s("slices/0").values[flat([100, 200, 0], [448, 448, 3])...].prefix(3)),
                       [22, 22, 22])

        let strip = try file.readFloats("pixel_values/1")
        XCTAssertEqual(strip.shape, [3, 14, 14490])
        XCTAssertEqual(strip.values.reduce(0.0) { $0 + Double($1) }, 118353.13580003288, accuracy: 1e-3)
        let last = try file.readFloats("pixel_values/2")
        XCTAssertEqual(last.values[flat([2, 13, 14489], last.shape)], 0.16078432)

        let coffee = try HDF5File(readingAt: Fixtures.reference("images/resize/coffee.h5"))
        XCTAssertEqual(try coffee.attributeInt64s("grid_cols_rows", on: "/"), [2, 1])
        XCTAssertEqual(try coffee.shape(of: "slices/0"), [364, 546, 3])
        let c2 = try coffee.readUInt8s("slices/2")
        XCTAssertEqual(Array(c2.values[flat([100, 50, 0], c2.shape)...].prefix(3)), [227, 189, 157])
    }

    /// Every dataset of every fixture file can be read, and its element count matches its shape.
    func testEveryFixtureDatasetReads() throws {
        let root = Fixtures.referenceRoot
        let files = FileManager.default.enumerator(atPath: root.path)?
            .compactMap { $0 as? String }.filter { $0.hasSuffix(".h5") } ?? []
        XCTAssertFalse(files.isEmpty, "no .h5 fixtures under \(root.path)")
        for relative in files {
            let file = try HDF5File(readingAt: root.appendingPathComponent(relative).path)
            var pending = [""]
            while let group = pending.popLast() {
                for name in try file.members(of: group) {
                    let full = group.isEmpty ? name : group + "/" + name
                    if let shape = try? file.shape(of: full) {
                        let read = try file.readFloats(full)
                        XCTAssertEqual(read.shape, shape)
                        XCTAssertEqual(read.values.count, shape.reduce(1, *), "\(relative):\(full)")
                    } else {
                        pending.append(full)
                    }
                }
            }
        }
    }
}
