import XCTest
import Foundation
import Autograd
import Core
import TestSupport
import Training

final class BenchmarkTests: XCTestCase {
    /// One step of the tiny preset at a short row length: every key present, every number finite and positive.
    func testTinyStepReportsEveryKey() throws {
        var lines: [String] = []
        let result = try TrainingBenchmark.run(preset: "tiny", threads: 1, steps: 1, warmup: 0, seqLen: 160,
                                               gemmProfile: true) {
            lines.append($0)
        }
        XCTAssertTrue(lines.contains { $0.contains("preset tiny") }, "header names the preset: \(lines)")
        // The profiled step's sgemm work is the preset's matmul FLOPs less what the
        // step skips: the LM head runs on labelled rows only and causal attention
        // skips the upper triangle, so somewhat fewer, never more.
        let total = try XCTUnwrap(lines.first { $0.hasPrefix("sgemm: ") }, "\(lines)")
        let gflop = try XCTUnwrap(Double(total.split(separator: " ")[3]), total)
        let counted = try BenchmarkPreset.named("tiny", seqLen: 160).matmulFLOPs / 1e9
        XCTAssertTrue(gflop > 0.7 * counted && gflop <= counted, "\(total) against \(counted) counted")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.jsonLine.utf8)) as? [String: Any])
        XCTAssertEqual(Set(object.keys), ["preset", "threads", "tokens_per_s", "images_per_s", "step_ms_median",
                                          "peak_rss_mb", "matmul_gflops", "sgemm_peak_gflops"])
        XCTAssertEqual(object["preset"] as? String, "tiny")
        XCTAssertEqual(object["threads"] as? Int, 1)
        for key in ["tokens_per_s", "images_per_s", "step_ms_median", "peak_rss_mb", "matmul_gflops", "sgemm_peak_gflops"] {
            let x = try XCTUnwrap((object[key] as? NSNumber)?.doubleValue, key)
            XCTAssertTrue(x.isFinite && x > 0, "\(key) = \(x)")
        }
        // 2 rows of 160 tokens in one step: tokens/s and step time agree.
        XCTAssertEqual(result.tokensPerSecond * result.stepMillisecondsMedian / 1000, 320, accuracy: 1e-6)
        XCTAssertEqual(result.imagesPerSecond * result.stepMillisecondsMedian / 1000, 4, accuracy: 1e-9)
        // The Codable keys are the JSON line's keys.
        let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(result)) as? [String: Any]
        XCTAssertEqual(Set(encoded?.keys ?? [:].keys), Set(object.keys))
    }

    /// The analytic FLOP count agrees with bench/torch_reference.py's `matmul_flops`
    /// (values printed by that script).
    func testMatmulFLOPsMatchThePythonFormula() throws {
        XCTAssertEqual(try BenchmarkPreset.named("tiny").matmulFLOPs, 43_072_880_640)
        XCTAssertEqual(try BenchmarkPreset.named("small").matmulFLOPs, 873_864_364_032)
        XCTAssertEqual(try BenchmarkPreset.named("tiny", seqLen: 160).matmulFLOPs, 23_487_578_112)
    }

    /// The real-shape presets: one sample of ten 448-px slices (640 vision tokens) and 512 text tokens.
    func testRealShapePresetLayout() throws {
        let p = try BenchmarkPreset.named("minicpm-v-2_6", modelDirectory: Fixtures.packageRoot.appendingPathComponent("Recipes/models").path)
        XCTAssertEqual([p.rows, p.samplesPerRow, p.imagesPerSample, p.patchesPerSide, p.seqLen], [1, 1, 10, 32, 1152])
        XCTAssertEqual(p.config.llm.hiddenSize, 3584)
        let config = p.config
        // The input, without its 10 × 3 × 14 × 14,336 pixels: build it on a one-slice copy.
        var rng = RNG(seed: 1)
        let small = BenchmarkPreset(name: "x", config: config, rows: 1, seqLen: 3 * 66 + 10, samplesPerRow: 1,
                                    imagesPerSample: 3, patchesPerSide: 2)
        let input = small.makeInput(rng: &rng)
        XCTAssertEqual(input.imageBounds, [2..<66, 68..<132, 134..<198])
        XCTAssertEqual(input.inputIds[1], 1)            // <image> before each slice, </image> after
        XCTAssertEqual(input.inputIds[66], 2)
        XCTAssertEqual(input.inputIds[67], 1)
        XCTAssertEqual(input.labels.filter { $0 == ignoreIndex }.count, 3 * 64)
    }

    func testProcStatusKilobytes() {
        XCTAssertEqual(TrainingBenchmark.kilobytes("VmHWM", in: "VmPeak:\t 2000 kB\nVmHWM:\t10183532 kB\n"), 10_183_532)
        XCTAssertEqual(TrainingBenchmark.kilobytes("VmHWM", in: "VmHWM:\t  336344 kB"), 336_344)
        XCTAssertEqual(TrainingBenchmark.kilobytes("MemAvailable", in: "MemAvailable:   21852892 kB"), 21_852_892)
        XCTAssertNil(TrainingBenchmark.kilobytes("VmHWM", in: "VmRSS: 1 kB"))
    }

    func testPackingLayout() throws {
        let p = try BenchmarkPreset.named("tiny")
        var rng = RNG(seed: 5)
        let input = p.makeInput(rng: &rng)
        XCTAssertEqual(input.batch, 2)
        XCTAssertEqual(input.seqLen, 512)
        XCTAssertEqual(input.imageBounds, [2..<66, 258..<322, 514..<578, 770..<834])
        XCTAssertEqual(input.positionIds[255], 255)
        XCTAssertEqual(input.positionIds[256], 0)
        XCTAssertEqual(input.segmentIds?[255], 0)
        XCTAssertEqual(input.segmentIds?[256], 1)
        XCTAssertEqual(input.labels.filter { $0 == ignoreIndex }.count, 4 * 64)
        XCTAssertEqual(input.pixelValues?.shape, [4, 3, 14, 256 * 14])
        XCTAssertNoThrow(try input.validate(for: p.config))
    }

    func testBadRequestsNameTheProblem() {
        XCTAssertThrowsError(try BenchmarkPreset.named("huge")) { error in
            XCTAssertTrue("\(error)".contains("huge") && "\(error)".contains("tiny"), "\(error)")
        }
        XCTAssertThrowsError(try BenchmarkPreset.named("tiny", seqLen: 100)) { error in
            XCTAssertTrue("\(error)".contains("100"), "\(error)")
        }
        XCTAssertThrowsError(try TrainingBenchmark.run(preset: "tiny", threads: 0, steps: 1) { _ in })
    }
}
