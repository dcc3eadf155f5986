import XCTest
import Foundation
import Autograd
import Core
import NN
import Models
import Checkpointing

/// Parity with the reference fixtures: every case directory under vision/,
/// resampler/, llm/ and minicpmv/ is discovered and compared (outputs 1e-4,
/// gradients 1e-3 relative, position ids exactly).
final class ModelsParityTests: XCTestCase {
    let outputTolerance = 1e-4
    let gradTolerance = 1e-3

    func testVisionTowerCases() throws {
        for dir in Reference.cases("vision") {
            let name = "vision/" + dir.lastPathComponent
            let config = try loadJSON(VisionConfig.self, dir)
            let model = VisionTransformer(config: config)
            try loadWeights(dir, into: model)
            let io = try FixtureIO(dir)
            let pixels = try io.tensor("inputs/pixel_values").requiringGrad()       // [B, 3, 14, maxL·14]
            let sizes = try io.sizes("inputs/tgt_sizes")
            let maxL = pixels.shape[3] / config.patchSize

            let ids = PositionBuckets.ids(tgtSizes: sizes, length: maxL, numPatchesPerSide: config.numPatchesPerSide)
            XCTAssertEqual(ids, try io.int32s("outputs/position_ids"), "\(name): position ids")

            let out = model(pixels, tgtSizes: sizes)                                 // [B, maxL, D]
            assertClose(out, try io.tensor("outputs/last_hidden_state"), tolerance: outputTolerance,
                        "\(name) last_hidden_state")
            out.backward(try io.tensor("inputs/cotangent"))
            try assertGradients(io, model: model, inputs: ["pixel_values": pixels], tolerance: gradTolerance,
                                caseName: name)
        }
    }

    func testPositionBuckets() throws {
        let url = Reference.root.appendingPathComponent("vision/position_buckets.json")
        struct Entry: Decodable {
            let num_patches_per_side: Int
            let n: Int
            let buckets: [Int]
            let differs_from_simple_product_at: [Int]
        }
        let entries = try JSONDecoder().decode([Entry].self, from: Data(contentsOf: url))
        XCTAssertFalse(entries.isEmpty)
        var tricky = 0
        for e in entries {
            let ours = PositionBuckets.buckets(n: e.n, numPatchesPerSide: e.num_patches_per_side)
            XCTAssertEqual(ours, e.buckets, "buckets for n = \(e.n), nps = \(e.num_patches_per_side)")
            // The naive fl32(i·fl32(1/n)) must really differ there, or the case proves nothing.
            let naive = naiveBuckets(n: e.n, nps: e.num_patches_per_side)
            for i in e.differs_from_simple_product_at {
                XCTAssertNotEqual(naive[i], e.buckets[i], "n = \(e.n) position \(i)")
                tricky += 1
            }
        }
        XCTAssertGreaterThan(tricky, 0, "the fixture should contain float32 tie cases")
    }

    func testResamplerCases() throws {
        for dir in Reference.cases("resampler") {
            let name = "resampler/" + dir.lastPathComponent
            let config = try loadJSON(ResamplerConfig.self, dir)
            let model = Resampler(config: config)
            try loadWeights(dir, into: model)
            let io = try FixtureIO(dir)
            let x = try io.tensor("inputs/x").requiringGrad()                        // [B, maxL, kv_dim]
            let sizes = try io.sizes("inputs/tgt_sizes")
            let out = model(x, tgtSizes: sizes)                                      // [B, Q, D]
            assertClose(out, try io.tensor("outputs/out"), tolerance: outputTolerance, "\(name) out")
            out.backward(try io.tensor("inputs/cotangent"))
            try assertGradients(io, model: model, inputs: ["x": x], tolerance: gradTolerance, caseName: name)
        }
    }

    func testLanguageModelCases() throws {
        for dir in Reference.cases("llm") {
            let name = "llm/" + dir.lastPathComponent
            let config = try loadJSON(LanguageModelConfig.self, dir)
            let model = LanguageModel(config: config)
            try loadWeights(dir, into: model)
            let io = try FixtureIO(dir)
            let ids = try io.int32s("inputs/input_ids"), labels = try io.int32s("inputs/labels")
            let positions = try io.int32s("inputs/position_ids")
            let lengths = try io.ints("inputs/sequence_lengths")
            let expectedLogits = try io.tensor("outputs/logits")                     // [1, T, V]
            let expectedLoss = try io.tensor("outputs/loss").item

            // Packed: one row, attention kept within samples by segment ids.
            let logits = model(ids: ids, batch: 1, positions: positions, segmentIds: segmentIds(lengths: lengths))
            assertClose(logits, expectedLogits, tolerance: outputTolerance, "\(name) logits (packed)")
            let (lossSum, count) = crossEntropy(logits.reshaped([ids.count, config.vocabSize]), targets: labels)
            let loss = lossSum / Float(count)
            XCTAssertEqual(Double(loss.item), Double(expectedLoss), accuracy: outputTolerance * Double(abs(expectedLoss)),
                           "\(name) loss")
            loss.backward()
            try assertGradients(io, model: model, inputs: [:], tolerance: gradTolerance, caseName: name + " (packed)")

            // One sample at a time, gradients accumulated: the same loss and gradients.
            model.zeroGrad()
            try assertPerSampleMatches(model, io: io, ids: ids, labels: labels, lengths: lengths,
                                       expectedLogits: expectedLogits, expectedLoss: expectedLoss, name: name)
        }
    }

    private func assertPerSampleMatches(_ model: LanguageModel, io: FixtureIO, ids: [Int32], labels: [Int32],
                                        lengths: [Int], expectedLogits: Tensor, expectedLoss: Float,
                                        name: String) throws {
        let total = labels.filter { $0 != ignoreIndex }.count
        var start = 0, lossTotal: Float = 0
        var pieces: [Tensor] = []
        for n in lengths {
            let range = start..<(start + n)
            let logits = model(ids: Array(ids[range]), batch: 1, positions: (0..<n).map { Int32($0) })
            pieces.append(logits.detached())
            let (sum, _) = crossEntropy(logits.reshaped([n, model.config.vocabSize]), targets: Array(labels[range]))
            let part = sum / Float(total)
            lossTotal += part.item
            part.backward()
            start += n
        }
        assertClose(concat(pieces, axis: 1), expectedLogits, tolerance: outputTolerance, "\(name) logits (per sample)")
        XCTAssertEqual(Double(lossTotal), Double(expectedLoss), accuracy: outputTolerance * Double(abs(expectedLoss)),
                       "\(name) loss (per sample)")
        try assertGradients(io, model: model, inputs: [:], tolerance: gradTolerance, caseName: name + " (per sample)")
    }

    func testMiniCPMVCases() throws {
        for dir in Reference.cases("minicpmv") {
            let name = "minicpmv/" + dir.lastPathComponent
            let config = try MiniCPMVConfig.load(from: dir.appendingPathComponent("config.json"))
            let model = MiniCPMV(config: config)
            try loadWeights(dir, into: model)
            let io = try FixtureIO(dir)
            let input = try miniCPMVInput(io)
            let (logits, lossSum, tokens) = try model.forward(input)
            assertClose(logits, try io.tensor("outputs/logits"), tolerance: outputTolerance, "\(name) logits")
            let loss = lossSum / Float(tokens)
            let expectedLoss = try io.tensor("outputs/loss").item
            XCTAssertEqual(Double(loss.item), Double(expectedLoss), accuracy: outputTolerance * Double(abs(expectedLoss)),
                           "\(name) loss")
            loss.backward()
            try assertGradients(io, model: model, inputs: [:], tolerance: gradTolerance, caseName: name)

            // Each sample alone, with only its own slices: same loss and gradients.
            model.zeroGrad()
            var lossTotal: Float = 0
            for sample in try perSampleInputs(io, packed: input) {
                let (_, sum, _) = try model.forward(sample)
                let part = sum / Float(tokens)
                lossTotal += part.item
                part.backward()
            }
            XCTAssertEqual(Double(lossTotal), Double(expectedLoss), accuracy: outputTolerance * Double(abs(expectedLoss)),
                           "\(name) loss (per sample)")
            try assertGradients(io, model: model, inputs: [:], tolerance: gradTolerance, caseName: name + " (per sample)")
        }
    }

    // MARK: - Helpers

    private func miniCPMVInput(_ io: FixtureIO) throws -> MiniCPMVInput {
        let ids = try io.int32s("inputs/input_ids")
        let bounds = try io.ints("inputs/image_bound")
        return MiniCPMVInput(
            inputIds: ids, labels: try io.int32s("inputs/labels"), positionIds: try io.int32s("inputs/position_ids"),
            segmentIds: segmentIds(lengths: try io.ints("inputs/sequence_lengths")), batch: 1, seqLen: ids.count,
            pixelValues: try io.tensor("inputs/pixel_values"), tgtSizes: try io.sizes("inputs/tgt_sizes"),
            imageBounds: stride(from: 0, to: bounds.count, by: 2).map { bounds[$0]..<bounds[$0 + 1] })
    }

    /// The packed row cut into its samples, each with the slices whose bounds fall inside it.
    private func perSampleInputs(_ io: FixtureIO, packed: MiniCPMVInput) throws -> [MiniCPMVInput] {
        var out: [MiniCPMVInput] = []
        var start = 0
        for n in try io.ints("inputs/sequence_lengths") {
            let range = start..<(start + n)
            let slices = packed.imageBounds.indices.filter { range.contains(packed.imageBounds[$0].lowerBound) }
            var pixels: Tensor? = nil
            if let first = slices.first, let all = packed.pixelValues {
                pixels = all.slice(axis: 0, first, slices.last! + 1)
            }
            out.append(MiniCPMVInput(
                inputIds: Array(packed.inputIds[range]), labels: Array(packed.labels[range]),
                positionIds: (0..<n).map { Int32($0) }, batch: 1, seqLen: n, pixelValues: pixels,
                tgtSizes: slices.map { packed.tgtSizes[$0] },
                imageBounds: slices.map { (packed.imageBounds[$0].lowerBound - start)..<(packed.imageBounds[$0].upperBound - start) }))
            start += n
        }
        return out
    }

    /// bucketize(fl32(i · fl32(1/n))) against fl32(k/nps) boundaries: the formula that is *not* official.
    private func naiveBuckets(n: Int, nps: Int) -> [Int] {
        let boundaries = PositionBuckets.arangeFloat32(start: 1 / Double(nps), end: 1, step: 1 / Double(nps))
        let step = Float(1) / Float(n)
        return (0..<n).map { i in
            let x = Float(i) * step
            return boundaries.filter { $0 <= x }.count
        }
    }
}
