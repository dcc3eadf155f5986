import XCTest
import Foundation
import TestSupport
import Autograd
import Core
import NN
import Checkpointing

/// Access to the reference fixtures (`TRAINER_REFERENCE_DIR`, default
/// `../shared/reference` next to the package root).
enum Reference {
    static var root: URL { Fixtures.referenceRoot }

    /// Every case directory of a section (sorted); fails the test when there is none.
    static func cases(_ section: String, file: StaticString = #filePath, line: UInt = #line) -> [URL] {
        let dir = root.appendingPathComponent(section)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        let cases = names.sorted().map { dir.appendingPathComponent($0) }.filter {
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: $0.path, isDirectory: &isDir) && isDir.boolValue
        }
        if cases.isEmpty { XCTFail("no fixture cases under \(dir.path)", file: file, line: line) }
        return cases
    }
}

/// One case's `io.h5`.
struct FixtureIO {
    let file: HDF5File

    init(_ dir: URL) throws { file = try HDF5File(readingAt: dir.appendingPathComponent("io.h5").path) }

    func tensor(_ name: String) throws -> Tensor {
        let (values, shape) = try file.readFloats(name)
        return Tensor(values, shape: shape)
    }

    func ints(_ name: String) throws -> [Int] { try file.readInt64s(name).values.map { Int($0) } }
    func int32s(_ name: String) throws -> [Int32] { try file.readInt64s(name).values.map { Int32($0) } }

    /// (h, w) pairs of a [N, 2] dataset.
    func sizes(_ name: String) throws -> [(h: Int, w: Int)] {
        let v = try ints(name)
        return stride(from: 0, to: v.count, by: 2).map { (v[$0], v[$0 + 1]) }
    }

    /// Names under grads/.
    func gradNames() throws -> [String] { try file.members(of: "grads") }
}

/// ‖a − b‖ / ‖b‖ over all elements (‖a‖ when b is zero).
func relativeError(_ a: Tensor, _ b: Tensor) -> Double {
    relativeError(a.scalars, b.scalars)
}

func relativeError(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count)
    var diff = 0.0, norm = 0.0
    for i in 0..<a.count {
        let d = Double(a[i]) - Double(b[i])
        diff += d * d
        norm += Double(b[i]) * Double(b[i])
    }
    return norm > 0 ? (diff / norm).squareRoot() : diff.squareRoot()
}

/// Asserts shape equality and ‖a − b‖/‖b‖ ≤ tolerance.
func assertClose(_ actual: Tensor?, _ expected: Tensor, tolerance: Double, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    guard let actual else { XCTFail("\(what): no value", file: file, line: line); return }
    guard actual.count == expected.count else {
        XCTFail("\(what): shape \(actual.shape) vs expected \(expected.shape)", file: file, line: line)
        return
    }
    let e = relativeError(actual, expected)
    print("\(what): relative error \(e)")
    XCTAssertLessThanOrEqual(e, tolerance, "\(what): relative error \(e)", file: file, line: line)
}

/// Loads a case's `model.safetensors` into `module` (strict).
func loadWeights(_ dir: URL, into module: Module, prefix: String = "") throws {
    var tensors = try Safetensors.read(dir.appendingPathComponent("model.safetensors").path)
    if !prefix.isEmpty {
        tensors = Dictionary(uniqueKeysWithValues: tensors.map { (prefix + $0.key, $0.value) })
    }
    try ModelWeights.load(tensors, into: module, source: dir.path)
}

/// Decodes a case's config.json.
func loadJSON<T: Decodable>(_ type: T.Type, _ dir: URL) throws -> T {
    let data = try Data(contentsOf: dir.appendingPathComponent("config.json"))
    return try JSONDecoder().decode(T.self, from: data)
}

/// Compares every dataset under grads/: parameters by path, the rest through `inputs`.
///
/// Relative error is ‖a − b‖ / max(‖b‖, 1e-5 · G), G the largest reference
/// gradient norm of the case. The floor only matters for gradients that are
/// zero in exact arithmetic (the key-projection bias: adding one vector to
/// every key shifts a query's scores uniformly, which softmax ignores); their
/// reference holds float64 rounding (~1e-15) and ours float32 rounding, so
/// they are compared at float32 resolution of the case's gradient scale.
func assertGradients(_ io: FixtureIO, model: Module, inputs: [String: Tensor], tolerance: Double,
                     caseName: String, file: StaticString = #filePath, line: UInt = #line) throws {
    let names = try io.gradNames()
    XCTAssertFalse(names.isEmpty, "\(caseName): no gradients in the fixture", file: file, line: line)
    let params = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.path, $0.parameter) })
    let expected = try Dictionary(uniqueKeysWithValues: names.map { ($0, try io.tensor("grads/\($0)")) })
    let scale = expected.values.map { norm($0.scalars) }.max() ?? 0
    var worst = (0.0, "")
    defer { print("\(caseName): \(names.count) gradients, worst relative error \(worst.0) (\(worst.1))") }
    for name in names {
        let want = expected[name]!
        guard let got = params[name]?.grad ?? inputs[name]?.grad else {
            XCTFail("\(caseName): no gradient computed for \(name)", file: file, line: line)
            continue
        }
        guard got.count == want.count else {
            XCTFail("\(caseName) grad \(name): shape \(got.shape) vs \(want.shape)", file: file, line: line)
            continue
        }
        let diff = norm(zip(got.scalars, want.scalars).map { $0 - $1 })
        let e = diff / max(norm(want.scalars), 1e-5 * scale)
        if e >= worst.0 { worst = (e, name) }
        XCTAssertLessThanOrEqual(e, tolerance, "\(caseName) grad \(name): relative error \(e)", file: file, line: line)
    }
    // Every trainable parameter must have a reference gradient.
    for path in params.keys where !names.contains(path) {
        XCTFail("\(caseName): the fixture has no gradient for parameter \(path)", file: file, line: line)
    }
}

func norm(_ v: [Float]) -> Double {
    v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
}

/// Segment ids 0,0,…,1,1,… from sample lengths.
func segmentIds(lengths: [Int]) -> [Int32] {
    lengths.enumerated().flatMap { i, n in [Int32](repeating: Int32(i), count: n) }
}
