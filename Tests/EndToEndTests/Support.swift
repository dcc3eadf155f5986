import Checkpointing
import Foundation
import TestSupport
import Training
import XCTest

/// Shared helpers: the package root, a scratch folder and small recipes over
/// the shipped synthetic data with the `micro` model.
enum E2E {
    static let root: URL = Fixtures.packageRoot

    static func scratch(_ name: String) -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trainer-e2e-\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A caption recipe on the micro model at 56 px (4×4 patches per image).
    static func captionRecipe(name: String, dir: URL, steps: Int, extra: String = "") -> String {
        """
        name: \(name)
        model: \(root.path)/Recipes/models/micro.yaml
        train: [vpm, resampler, llm]
        data:
          format: captions
          train: \(root.path)/Data/synth/captions-heldout.jsonl
          tokenizer: \(root.path)/Data/tokenizer.json
          resolution: 56
          max_length: 256
          rows: 2
          cache: \(dir.path)/cache
        optimizer:
          lr: 3.0e-3
          weight_decay: 0.1
          clip: 1.0
          accumulation: 2
        schedule:
          kind: wsd
          warmup: 2
          decay_fraction: 0.25
        steps: \(steps)
        checkpoint:
          dir: \(dir.path)/ckpt
          every: 0
          keep: 5
        seed: 7
        threads: 2
        \(extra)
        """
    }

    static func recipe(_ text: String, in dir: URL, overrides: [String] = []) throws -> Recipe {
        let path = dir.appendingPathComponent("recipe.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return try Recipe.load(path, overrides: overrides)
    }

    static func quiet(_ o: RunOptions) -> RunOptions {
        var o = o
        o.showProgress = false
        o.log = { _ in }
        return o
    }

    /// Asserts that two checkpoints hold bit-identical weights and optimizer moments.
    static func assertSameTrainState(_ a: String, _ b: String, file: StaticString = #filePath, line: UInt = #line) throws {
        for group in ["model", "optimizer"] {
            let ta = try tensors(a, group: group), tb = try tensors(b, group: group)
            XCTAssertFalse(ta.isEmpty, file: file, line: line)
            XCTAssertEqual(Set(ta.keys), Set(tb.keys), group, file: file, line: line)
            for (k, v) in ta {
                XCTAssertEqual(v.map(\.bitPattern), tb[k]?.map(\.bitPattern), "\(k) differs after resume", file: file, line: line)
            }
        }
    }

    /// Every dataset under a group of a checkpoint, by name.
    static func tensors(_ path: String, group: String) throws -> [String: [Float]] {
        let f = try HDF5File(readingAt: path)
        defer { f.close() }
        var out: [String: [Float]] = [:]
        func walk(_ g: String) throws {
            for m in try f.members(of: g) {
                let full = "\(g)/\(m)"
                if (try? f.shape(of: full)) != nil { out[full] = try f.readFloats(full).values } else { try walk(full) }
            }
        }
        try walk(group)
        return out
    }
}
