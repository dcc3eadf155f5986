import Datasets
import Foundation
import TestSupport
import SyntheticWorld
import XCTest

/// The sample shipped in Data/synth is exactly what the generator produces for
/// the command its README names, and its texts agree with the checker.
final class SyntheticSampleDataTests: XCTestCase {
    let sample = Fixtures.packageRoot.appendingPathComponent("Data/synth")

    /// count, documents, seed and noise from "trainer data synth --out DIR --count N --seed S …".
    func recordedCommand() throws -> (count: Int, documents: Int?, seed: UInt64, noise: Int) {
        let readme = try String(contentsOf: sample.appendingPathComponent("README.md"), encoding: .utf8)
        let line = try XCTUnwrap(readme.split(separator: "\n").first { $0.contains("trainer data synth") })
        let words = line.split(whereSeparator: { $0 == " " || $0 == "`" }).map(String.init)
        func value(_ flag: String) -> String? { words.firstIndex(of: flag).map { words[$0 + 1] } }
        return (Int(try XCTUnwrap(value("--count")))!, value("--documents").flatMap { Int($0) },
                UInt64(value("--seed") ?? "0")!, Int(value("--noise") ?? "0")!)
    }

    func testSampleIsReproducible() throws {
        let c = try recordedCommand()
        let fresh = FileManager.default.temporaryDirectory.appendingPathComponent("synthetic-sample-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: fresh) }
        let summary = try SyntheticWorld.generate(to: fresh, count: c.count, documents: c.documents, seed: c.seed,
                                                  noise: c.noise)
        XCTAssertLessThan(summary.bytes, 6 << 20, "the shipped sample should stay a few MB")
        let fm = FileManager.default
        let expected = Set(try fm.subpathsOfDirectory(atPath: fresh.path))
        let shipped = Set(try fm.subpathsOfDirectory(atPath: sample.path))
        XCTAssertEqual(shipped, expected)
        for path in expected.sorted() {
            var isDir: ObjCBool = false
            _ = fm.fileExists(atPath: fresh.appendingPathComponent(path).path, isDirectory: &isDir)
            if isDir.boolValue { continue }
            XCTAssertEqual(try Data(contentsOf: sample.appendingPathComponent(path)),
                           try Data(contentsOf: fresh.appendingPathComponent(path)), "Data/synth/\(path) differs")
        }
    }

    func testSamplePreferencePairsAreJudgedAsPlanted() throws {
        let checker = try SyntheticWorldChecker(metadata: sample.appendingPathComponent("metadata.jsonl"))
        var pairs = 0, wrongInRejected = 0
        for name in ["preference.jsonl", "preference-heldout.jsonl"] {
            let text = try String(contentsOf: sample.appendingPathComponent(name), encoding: .utf8)
            for (k, line) in text.split(separator: "\n").enumerated() {
                let p = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
                let id = p["image"]!
                XCTAssertEqual(checker.score(description: p["chosen"]!, imageID: id).wrong, 0, "\(name):\(k + 1)")
                let wrong = checker.score(description: p["rejected"]!, imageID: id).wrong
                XCTAssertTrue((1...3).contains(wrong), "\(name):\(k + 1): \(wrong) wrong claims")
                pairs += 1
                wrongInRejected += wrong
            }
        }
        XCTAssertGreaterThan(pairs, 100)
        XCTAssertGreaterThan(wrongInRejected, pairs)
    }
}
