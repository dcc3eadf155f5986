import Autograd
import Core
import Checkpointing
import Datasets
import Foundation
import Tokenizers
import Training
import XCTest

/// Seeded random-mutation fuzzing of every parser that reads user files: each
/// target starts from real seed inputs (the shipped data, recipes and
/// tokenizer, a checkpoint and a safetensors file written here), mutates them
/// (bit flips, byte overwrites, insertions, deletions, truncation, splices of
/// two inputs, boundary numbers) and feeds them to the parser. Any error is
/// fine; a crash kills the test process, and the input that caused it is in
/// `$TMPDIR/trainer-fuzz-<target>.bin`. `FUZZ_ITERATIONS` sets the executions
/// per target (CI: 150; `make fuzz`: 5,000).
final class FuzzTests: XCTestCase {
    static var iterations: Int {
        ProcessInfo.processInfo.environment["FUZZ_ITERATIONS"].flatMap(Int.init) ?? 150
    }

    var scratch = URL(fileURLWithPath: "/nonexistent")

    override func setUp() { scratch = E2E.scratch("fuzz-\(name.filter(\.isLetter))") }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    /// One mutation of `input`, sometimes spliced with `other`.
    static func mutate(_ input: [UInt8], _ other: [UInt8], rng: inout RNG) -> [UInt8] {
        var b = input
        for _ in 0..<(1 + rng.below(4)) {
            switch rng.below(7) {
            case 0 where !b.isEmpty:                                // flip a bit
                let i = rng.below(b.count); b[i] ^= UInt8(1 << rng.below(8))
            case 1 where !b.isEmpty:                                // overwrite a byte
                b[rng.below(b.count)] = UInt8(rng.below(256))
            case 2:                                                 // insert bytes
                let at = rng.below(b.count + 1)
                b.insert(contentsOf: (0..<(1 + rng.below(8))).map { _ in UInt8(rng.below(256)) }, at: at)
            case 3 where b.count > 1:                               // delete a run
                let at = rng.below(b.count), n = min(b.count - at, 1 + rng.below(16))
                b.removeSubrange(at..<(at + n))
            case 4:                                                 // truncate
                b = Array(b.prefix(rng.below(b.count + 1)))
            case 5 where !other.isEmpty:                            // splice
                let cut = rng.below(b.count + 1), from = rng.below(other.count)
                b = Array(b.prefix(cut)) + other[from...]
            case 6 where !b.isEmpty:                                // a boundary number as text
                let numbers = ["-1", "0", "4294967296", "99999999999999999999", "1e308", "-9223372036854775808", "NaN"]
                let at = rng.below(b.count)
                b.insert(contentsOf: Array(numbers[rng.below(numbers.count)].utf8), at: at)
            default: break
            }
        }
        return b
    }

    /// Runs `parse` on `iterations` mutations of the seeds; returns the executions and
    /// how many inputs the parser accepted (the rest ended in an error, as they may).
    @discardableResult
    func fuzz(_ target: String, seeds: [[UInt8]], _ parse: ([UInt8]) throws -> Void) -> (runs: Int, accepted: Int) {
        var rng = RNG(seed: 2026).derived(target)
        let crashFile = FileManager.default.temporaryDirectory.appendingPathComponent("trainer-fuzz-\(target).bin")
        var accepted = 0
        // A parser that hangs cannot be stopped from inside the process: a watchdog reports
        // the input and ends the run with a failure instead of waiting for ever.
        let progress = Progress(), watchdog = Thread {
            var last = -1
            while !progress.done {
                Thread.sleep(forTimeInterval: 20)
                let now = progress.iteration
                if now == last && !progress.done {
                    print("fuzz \(target): hang on input \(now) (saved in \(crashFile.path))")
                    fflush(stdout)
                    _exit(1)   // not exit(): the library's exit handlers may wait on the hung call
                }
                last = now
            }
        }
        watchdog.start()
        defer { progress.done = true }
        for i in 0..<Self.iterations {
            progress.iteration = i
            let seed = seeds[i % seeds.count], other = seeds[rng.below(seeds.count)]
            let input = i < seeds.count ? seed : Self.mutate(seed, other, rng: &rng)
            try? Data(input).write(to: crashFile)
            if (try? parse(input)) != nil { accepted += 1 }
        }
        try? FileManager.default.removeItem(at: crashFile)
        print("fuzz \(target): \(Self.iterations) executions, \(accepted) accepted, 0 crashes")
        return (Self.iterations, accepted)
    }

    func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = scratch.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: E2E.root.appendingPathComponent(path))) }

    func testRecipeYAML() throws {
        let seeds = try ["foundation", "stage1", "sft", "dpo", "quickstart"].map { try bytes("Recipes/\($0).yaml") }
        let r = fuzz("recipe", seeds: seeds) { _ = try Recipe.parse(String(decoding: $0, as: UTF8.self), file: "fuzz.yaml") }
        XCTAssertGreaterThanOrEqual(r.accepted, seeds.count)
    }

    func testRecordFiles() throws {
        func lines(_ path: String, _ n: Int) throws -> [UInt8] {
            Array((String(decoding: try bytes(path), as: UTF8.self).split(separator: "\n").prefix(n)
                   .joined(separator: "\n") + "\n").utf8)
        }
        var conversations = String(decoding: try bytes("Data/synth/sft-part1-heldout.json"), as: UTF8.self)
            .split(separator: "\n").dropFirst().prefix(12).map(String.init)
        conversations[conversations.count - 1] = String(conversations[conversations.count - 1].dropLast())
        let seeds = [try lines("Data/synth/captions-heldout.jsonl", 12),
                     Array(("[\n" + conversations.joined(separator: "\n") + "\n]\n").utf8),
                     try lines("Data/synth/preference-heldout.jsonl", 8),
                     try lines("Data/synth/regions-heldout.jsonl", 8)]
        let names = ["a.jsonl", "b.json", "c.jsonl"]
        var k = 0
        let r = fuzz("records", seeds: seeds) { input in
            k += 1
            let url = URL(fileURLWithPath: try self.file(names[k % 3], input))
            _ = try? readRegionRecords(url)
            _ = try readRecords(url)
        }
        XCTAssertGreaterThan(r.accepted, 0)
    }

    func testTokenizerJSON() throws {
        let seeds = [try bytes("Data/tokenizer.json")]
        let r = fuzz("tokenizer", seeds: seeds) { input in
            let t = try Tokenizer(json: Data(input), source: "fuzz.json")
            _ = t.encode("A large red circle at the top left.")
        }
        XCTAssertGreaterThanOrEqual(r.accepted, 1)
    }

    func testImageDecoding() throws {
        let seeds = try ["shapes-0001.png", "doc-0001.png"].map { try bytes("Data/synth/images/\($0)") }
        let r = fuzz("image", seeds: seeds) { _ = try RGBImage.decode(data: Data($0), source: "fuzz.png") }
        XCTAssertGreaterThanOrEqual(r.accepted, seeds.count)
    }

    func testSafetensorsHeader() throws {
        let path = scratch.appendingPathComponent("seed.safetensors").path
        try Safetensors.write(["a.weight": NamedArray(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
                               "b.bias": NamedArray(shape: [3], values: [7, 8, 9])], to: path)
        let seeds = [Array(try Data(contentsOf: URL(fileURLWithPath: path)))]
        let r = fuzz("safetensors", seeds: seeds) { _ = try Safetensors.read(try self.file("f.safetensors", $0)) }
        XCTAssertGreaterThanOrEqual(r.accepted, 1)
    }

    func testCheckpointOpening() throws {
        let path = scratch.appendingPathComponent("seed.h5").path
        let h5 = try HDF5File(creatingAt: path)
        try h5.write("model/w", floats: [1, 2, 3, 4], shape: [2, 2])
        try h5.write("config", string: "{\"a\": 1}")
        h5.close()
        let seeds = [Array(try Data(contentsOf: URL(fileURLWithPath: path)))]
        let r = fuzz("hdf5", seeds: seeds) { input in
            let f = try HDF5File(readingAt: try self.file("f.h5", input))
            defer { f.close() }
            _ = try f.readFloats("model/w")
            _ = try f.readString("config")
        }
        XCTAssertGreaterThanOrEqual(r.accepted, 1)
    }
}

/// What the fuzz watchdog reads: the input being parsed, and whether the target is done.
private final class Progress: @unchecked Sendable {
    var iteration = 0
    var done = false
}
