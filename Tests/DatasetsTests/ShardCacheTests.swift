import XCTest
import Core
import Datasets

final class ShardCacheTests: XCTestCase {
    private let samples = [
        SampleFactory.sample("a", slices: [TgtSize(h: 2, w: 3), TgtSize(h: 1, w: 1)], seed: 1),
        SampleFactory.sample("b", seed: 2),
        SampleFactory.sample("c", slices: [TgtSize(h: 1, w: 2)], question: 5, answer: 9, seed: 3),
    ]

    /// A cache over one source file whose builds are counted.
    private final class Fixture {
        let folder = ScratchFolder()
        var warnings: [String] = []
        var builds = 0
        lazy var cache = ShardCache(directory: folder.url.appendingPathComponent("cache")) { [unowned self] in
            self.warnings.append($0)
        }
        lazy var source = folder.write("data.jsonl", #"{"image": "a.png", "caption": "x"}"#)

        func open(_ samples: [TrainingSample], settings: String = "q=3") throws -> (ShardReader, ShardCache.Outcome) {
            try cache.open(source: source, settings: settings) { writer in
                self.builds += 1
                for s in samples { try writer.append(s) }
                var report = BuildReport(source: self.source.path)
                report.records = samples.count + 1
                report.samples = samples.count
                report.skipped = [.init(id: "z", location: "data.jsonl:9", reason: "missing image")]
                return report
            }
        }
    }

    private func contents(_ shard: ShardReader) throws -> [TrainingSample] {
        try (0..<shard.count).map { try shard.sample($0) }
    }

    func testHitLoadsWithoutBuilding() throws {
        let f = Fixture()
        let (first, outcome1) = try f.open(samples)
        XCTAssertEqual(outcome1, .built)
        XCTAssertEqual(try contents(first), samples)
        XCTAssertEqual(first.report.skipped.first?.reason, "missing image")
        let (second, outcome2) = try f.open([])
        XCTAssertEqual(outcome2, .hit)
        XCTAssertEqual(f.builds, 1)
        XCTAssertEqual(try contents(second), samples, "a hit gives back exactly what was stored")
        XCTAssertEqual((0..<second.count).map(second.info), samples.map(\.info))
        XCTAssertEqual(second.report, first.report)
        XCTAssertEqual(f.warnings, [])
        let files = try FileManager.default.contentsOfDirectory(atPath: f.cache.directory.path)
        XCTAssertEqual(files.count, 1, "no temporary file is left behind: \(files)")
    }

    func testChangedSourceOrSettingsRebuild() throws {
        let f = Fixture()
        let key1 = try f.cache.key(source: f.source, settings: "q=3")
        _ = try f.open(samples)
        try Data(#"{"image": "a.png", "caption": "y"}"#.utf8).write(to: f.source)
        let key2 = try f.cache.key(source: f.source, settings: "q=3")
        XCTAssertNotEqual(key1, key2)
        let (shard2, outcome2) = try f.open(Array(samples.prefix(1)))
        XCTAssertEqual(outcome2, .built)
        XCTAssertEqual(shard2.count, 1)
        let key3 = try f.cache.key(source: f.source, settings: "q=4")
        XCTAssertNotEqual(key2, key3)
        let (shard3, outcome3) = try f.open(Array(samples.prefix(2)), settings: "q=4")
        XCTAssertEqual(outcome3, .built)
        XCTAssertEqual(shard3.count, 2)
        XCTAssertEqual(f.builds, 3)
        // Both settings stay cached side by side.
        XCTAssertEqual(try f.open([]).1, .hit)
        XCTAssertEqual(try f.open([], settings: "q=4").1, .hit)
    }

    func testCorruptShardIsRebuiltWithAWarning() throws {
        let f = Fixture()
        let (shard, _) = try f.open(samples)
        let url = shard.url
        var bytes = [UInt8](try Data(contentsOf: url))
        bytes[bytes.count / 3] ^= 0x5A                                   // inside a sample frame
        try Data(bytes).write(to: url)
        let (rebuilt, outcome) = try f.open(samples)
        guard case let .rebuilt(reason) = outcome else { return XCTFail("expected a rebuild, got \(outcome)") }
        XCTAssertTrue(reason.contains(url.path) && reason.contains("corrupt"), reason)
        XCTAssertEqual(f.warnings.count, 1)
        XCTAssertTrue(f.warnings[0].contains("rebuilding"), f.warnings[0])
        XCTAssertEqual(try contents(rebuilt), samples)

        // A truncated file (a crash mid-copy) and a file of garbage are rebuilt too.
        let full = try Data(contentsOf: url)
        try full.prefix(full.count - 10).write(to: url)
        XCTAssertEqual(try f.open(samples).1, .rebuilt(reason: DataError.corruptShard(file: url.path, reason: "the file is truncated (no end marker)").description))
        try Data(repeating: 7, count: 100).write(to: url)
        XCTAssertEqual(try f.open(samples).1, .rebuilt(reason: DataError.corruptShard(file: url.path, reason: "not a shard file").description))
        XCTAssertEqual(f.builds, 4)
    }

    func testFailedBuildLeavesNothing() throws {
        let f = Fixture()
        struct Boom: Error {}
        XCTAssertThrowsError(try f.cache.open(source: f.source, settings: "s") { writer in
            try writer.append(self.samples[0])
            throw Boom()
        })
        let files = (try? FileManager.default.contentsOfDirectory(atPath: f.cache.directory.path)) ?? []
        XCTAssertEqual(files, [])
    }

    func testMissingSourceIsAClearError() {
        let f = Fixture()
        let missing = f.folder.url.appendingPathComponent("none.jsonl")
        XCTAssertThrowsError(try f.cache.open(source: missing, settings: "") { _ in BuildReport(source: "") }) { error in
            XCTAssertTrue("\(error)".contains(missing.path), "\(error)")
        }
    }

    /// Published FIPS 180-2 test vectors.
    func testSHA256KnownVectors() {
        XCTAssertEqual(SHA256.hex(SHA256.hash(Array("".utf8))), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(SHA256.hash(Array("abc".utf8))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var s = SHA256()
        let a = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { s.update(a) }
        XCTAssertEqual(SHA256.hex(s.finalize()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
