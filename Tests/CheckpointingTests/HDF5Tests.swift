import Checkpointing
import Foundation
import TestSupport
import XCTest

/// Writer/reader round trips and error reporting.
final class HDF5Tests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws { scratch = try Fixtures.scratchDirectory("trainer-ckpt-tests") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    private func scratchFile(_ name: String) -> String { scratch.appendingPathComponent(name).path }

    func testRoundTripEveryTypeAndAttribute() throws {
        let path = scratchFile("round.h5")
        let floats: [Float] = [1.5, -2.25, .greatestFiniteMagnitude, .leastNonzeroMagnitude, 0, -0.0]
        let ints: [Int64] = [.min, -1, 0, 1, .max, 42]
        let bytes: [UInt8] = [0, 1, 127, 128, 255, 7]
        let text = "état: ✓ 训练\nline two"
        do {
            let file = try HDF5File(creatingAt: path)
            try file.write("model/layers.0/weight", floats: floats, shape: [2, 3])
            try file.write("state/ids", int64s: ints, shape: [3, 2, 1])
            try file.write("state/pixels", uint8s: bytes, shape: [6])
            try file.write("state/step", int64s: [1234], shape: [])
            try file.write("loss", floats: [0.125], shape: [])
            try file.write("empty", floats: [], shape: [0, 4])
            try file.write("recipe", string: text)
            try file.write("blank", string: "")
            try file.setAttribute("version", on: "", int64s: [3, 1])
            try file.setAttribute("note", on: "/", string: text)
            try file.setAttribute("origin", on: "state/ids", string: "data")
            try file.setAttribute("grid", on: "model", int64s: [])
            try file.flush()
            file.close()
            file.close()  // idempotent
        }
        let file = try HDF5File(readingAt: path)
        XCTAssertEqual(try file.members(of: ""), ["blank", "empty", "loss", "model", "recipe", "state"])
        XCTAssertEqual(try file.members(of: "/state"), ["ids", "pixels", "step"])
        XCTAssertEqual(try file.members(of: "model"), ["layers.0"])

        let f = try file.readFloats("model/layers.0/weight")
        XCTAssertEqual(f.shape, [2, 3])
        XCTAssertEqual(f.values.map(\.bitPattern), floats.map(\.bitPattern))
        let i = try file.readInt64s("state/ids")
        XCTAssertEqual(i.shape, [3, 2, 1])
        XCTAssertEqual(i.values, ints)
        let u = try file.readUInt8s("/state/pixels")
        XCTAssertEqual(u.shape, [6])
        XCTAssertEqual(u.values, bytes)
        XCTAssertEqual(try file.shape(of: "state/step"), [])
        XCTAssertEqual(try file.readInt64s("state/step").values, [1234])
        XCTAssertEqual(try file.readFloats("loss").values, [0.125])
        XCTAssertEqual(try file.readFloats("empty").shape, [0, 4])
        XCTAssertEqual(try file.readFloats("empty").values, [])
        XCTAssertEqual(try file.readString("recipe"), text)
        XCTAssertEqual(try file.readString("blank"), "")

        XCTAssertEqual(try file.attributeInt64s("version", on: "/"), [3, 1])
        XCTAssertEqual(try file.attributeString("note", on: ""), text)
        XCTAssertEqual(try file.attributeString("origin", on: "state/ids"), "data")
        XCTAssertEqual(try file.attributeInt64s("grid", on: "model"), [])
    }

    func testExistsFollowsPaths() throws {
        let path = scratchFile("exists.h5")
        let file = try HDF5File(creatingAt: path)
        try file.write("a/b/c", floats: [1], shape: [1])
        XCTAssertTrue(file.exists("a"))
        XCTAssertTrue(file.exists("a/b"))
        XCTAssertTrue(file.exists("/a/b/c"))
        XCTAssertTrue(file.exists(""))
        XCTAssertFalse(file.exists("a/x"))
        XCTAssertFalse(file.exists("x/y/z"))
        XCTAssertFalse(file.exists("a/b/c/d"))  // below a dataset
        file.close()
        XCTAssertFalse(file.exists("a"))
    }

    func testNumericConversionOnRead() throws {
        let file = try HDF5File(creatingAt: scratchFile("convert.h5"))
        try file.write("ints", int64s: [-3, 0, 70000], shape: [3])
        try file.write("bytes", uint8s: [0, 200, 255], shape: [3])
        XCTAssertEqual(try file.readFloats("ints").values, [-3, 0, 70000])
        XCTAssertEqual(try file.readFloats("bytes").values, [0, 200, 255])
        XCTAssertEqual(try file.readInt64s("bytes").values, [0, 200, 255])
        XCTAssertEqual(try file.readUInt8s("ints").values.count, 3)
    }

    func testWritingAgainReplaces() throws {
        let path = scratchFile("replace.h5")
        let file = try HDF5File(creatingAt: path)
        try file.write("x", floats: [1, 2, 3], shape: [3])
        try file.write("x", floats: [4, 5], shape: [1, 2])
        try file.setAttribute("a", on: "x", int64s: [1])
        try file.setAttribute("a", on: "x", int64s: [2, 3])
        XCTAssertEqual(try file.readFloats("x").values, [4, 5])
        XCTAssertEqual(try file.shape(of: "x"), [1, 2])
        XCTAssertEqual(try file.attributeInt64s("a", on: "x"), [2, 3])
        // Creating again truncates.
        file.close()
        let again = try HDF5File(creatingAt: path)
        XCTAssertEqual(try again.members(of: "/"), [])
    }

    func testMissingFileNamesThePath() {
        let path = scratchFile("does-not-exist.h5")
        XCTAssertThrowsError(try HDF5File(readingAt: path)) { error in
            XCTAssertTrue("\(error)".contains(path), "\(error)")
            guard case HDF5Error.fileNotFound = error else { return XCTFail("\(error)") }
        }
    }

    func testNonHDF5FileIsRejected() throws {
        let path = scratchFile("not.h5")
        try Data("this is not hdf5".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try HDF5File(readingAt: path)) { error in
            XCTAssertTrue("\(error)".contains(path), "\(error)")
            guard case HDF5Error.cannotOpen = error else { return XCTFail("\(error)") }
        }
    }

    func testCannotCreateInMissingDirectory() {
        let path = scratchFile("no/such/dir/x.h5")
        XCTAssertThrowsError(try HDF5File(creatingAt: path)) { error in
            XCTAssertTrue("\(error)".contains(path), "\(error)")
        }
    }

    func testMissingDatasetNamesFileAndDataset() throws {
        let path = scratchFile("missing.h5")
        let file = try HDF5File(creatingAt: path)
        try file.write("inputs/x", floats: [1], shape: [1])
        for name in ["inputs/y", "outputs/loss"] {
            XCTAssertThrowsError(try file.readFloats(name)) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(path) && text.contains(name), text)
                guard case HDF5Error.missingObject = error else { return XCTFail(text) }
            }
        }
        XCTAssertThrowsError(try file.shape(of: "nope")) { XCTAssertTrue("\($0)".contains("nope")) }
        XCTAssertThrowsError(try file.members(of: "nope")) { XCTAssertTrue("\($0)".contains("nope")) }
        XCTAssertThrowsError(try file.attributeInt64s("missing", on: "inputs/x")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(path) && text.contains("missing") && text.contains("inputs/x"), text)
        }
        XCTAssertThrowsError(try file.setAttribute("a", on: "ghost", int64s: [1])) {
            XCTAssertTrue("\($0)".contains("ghost"))
        }
    }

    func testWrongKindsAndTypesAreErrors() throws {
        let file = try HDF5File(creatingAt: scratchFile("kinds.h5"))
        try file.write("g/x", floats: [1.5], shape: [1])
        try file.write("g/s", string: "hello")
        XCTAssertThrowsError(try file.readFloats("g")) { error in
            guard case HDF5Error.wrongKind = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try file.members(of: "g/x")) { error in
            guard case HDF5Error.wrongKind = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try file.readInt64s("g/x")) { error in
            guard case HDF5Error.wrongType = error else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("g/x"))
        }
        XCTAssertThrowsError(try file.readString("g/x")) { error in
            guard case HDF5Error.wrongType = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try file.readFloats("g/s")) { error in
            guard case HDF5Error.wrongType = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try file.attributeString("a", on: "/")) { error in
            guard case HDF5Error.missingAttribute = error else { return XCTFail("\(error)") }
        }
    }

    func testShapeMismatchAndClosedFile() throws {
        let path = scratchFile("shape.h5")
        let file = try HDF5File(creatingAt: path)
        XCTAssertThrowsError(try file.write("x", floats: [1, 2, 3], shape: [2, 2])) { error in
            guard case HDF5Error.shapeMismatch = error else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("x"))
        }
        XCTAssertThrowsError(try file.write("y", floats: [], shape: [-1])) { error in
            guard case HDF5Error.shapeMismatch = error else { return XCTFail("\(error)") }
        }
        file.close()
        XCTAssertThrowsError(try file.write("x", floats: [1], shape: [1])) { error in
            guard case HDF5Error.closed = error else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains(path))
        }
    }
}

/// A global heap whose free-space object has size 0 sends libhdf5 1.10 into an endless
/// loop when a variable-length string is read; the reader refuses such a file instead.
final class HDF5GlobalHeapTests: XCTestCase {
    func testEndlessGlobalHeapIsRefusedAndASoundOneReads() throws {
        let dir = try Fixtures.scratchDirectory("trainer-heap-tests")
        let good = dir.appendingPathComponent("good.h5").path
        let h5 = try HDF5File(creatingAt: good)
        try h5.write("config", string: "{\"a\": 1}")
        h5.close()
        let reread = try HDF5File(readingAt: good)
        XCTAssertEqual(try reread.readString("config"), "{\"a\": 1}")
        reread.close()

        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: good)))
        let at = try XCTUnwrap((0..<(bytes.count - 4)).first { Array(bytes[$0..<($0 + 4)]) == Array("GCOL".utf8) })
        // Object 1 (the string, 8 bytes) spans 16 + 8 bytes; the free space follows it.
        let free = at + 16 + 24
        XCTAssertEqual(bytes[free], 0, "the object after the string is the free space")
        for k in 0..<8 { bytes[free + 8 + k] = 0 }
        let bad = dir.appendingPathComponent("bad.h5").path
        try Data(bytes).write(to: URL(fileURLWithPath: bad))
        let f = try HDF5File(readingAt: bad)
        defer { f.close() }
        XCTAssertThrowsError(try f.readString("config")) { e in
            XCTAssertTrue("\(e)".contains("bad.h5") && "\(e)".contains("global heap"), "\(e)")
        }
    }
}

/// Inputs the fuzzer found that hung or crashed libhdf5 1.10.8 (a free-space heap object of
/// size 0, a heap object larger than its collection, a string naming a heap object that does
/// not exist, a dataset of 2⁶¹ elements): each now ends in an error naming the file.
final class HDF5FuzzRegressionTests: XCTestCase {
    func testFoundInputsEndInErrors() throws {
        let corpus = Fixtures.packageRoot.appendingPathComponent("Tests/CheckpointingTests/Corpus")
        let names = try FileManager.default.contentsOfDirectory(atPath: corpus.path).filter { $0.hasSuffix(".h5") }.sorted()
        XCTAssertEqual(names.count, 4)
        for name in names {
            let path = corpus.appendingPathComponent(name).path
            var failed = false
            do {
                let f = try HDF5File(readingAt: path)
                defer { f.close() }
                _ = try f.readFloats("model/w")
                _ = try f.readString("config")
            } catch {
                failed = true
                XCTAssertTrue("\(error)".contains(name), "\(name): \(error)")
            }
            XCTAssertTrue(failed, "\(name) was read without an error")
        }
    }
}
