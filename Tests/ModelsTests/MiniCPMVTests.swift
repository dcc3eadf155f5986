import XCTest
import TestSupport
import Autograd
import Core
import NN
import Models

final class MiniCPMVTests: XCTestCase {
    static func tinyConfig() throws -> MiniCPMVConfig {
        try MiniCPMVConfig.preset("micro", directory: Fixtures.packageRoot.appendingPathComponent("Recipes/models").path)
    }

    /// A row with one 2×3-patch image (Q placeholder tokens at `start`).
    static func imageInput(_ c: MiniCPMVConfig, tokens t: Int, start: Int, seed: UInt64) -> MiniCPMVInput {
        var rng = RNG(seed: seed)
        let ids = (0..<t).map { _ in Int32(rng.below(100)) }
        let labels = ids.enumerated().map { $0.offset > start + c.queryNum ? $0.element : ignoreIndex }
        let pixels = Tensor.randn([1, 3, 14, 6 * 14], std: 0.5, rng: &rng)
        return MiniCPMVInput(inputIds: ids, labels: labels, positionIds: (0..<t).map { Int32($0) }, batch: 1, seqLen: t,
                             pixelValues: pixels, tgtSizes: [(2, 3)], imageBounds: [start..<(start + c.queryNum)])
    }

    func testTextOnlySampleTrains() throws {
        let c = try Self.tinyConfig()
        let m = MiniCPMV(config: c, seed: 1)
        let input = MiniCPMVInput.text([1, 2, 3, 4, 5], labels: [ignoreIndex, 3, 4, 5, ignoreIndex])
        let (logits, loss, tokens) = try m.forward(input)
        XCTAssertEqual(logits.shape, [5, c.llm.vocabSize])
        XCTAssertEqual(tokens, 3)
        (loss / Float(tokens)).backward()
        XCTAssertNotNil(m.llm.model.embedTokens.weight.grad)
        XCTAssertNil(m.vpm.postLayerNorm.weight.grad, "no image: the vision tower takes no part")
        XCTAssertNil(m.resampler.query.grad)
    }

    func testFrozenVisionRecordsNothingAndStillFeedsTheLLM() throws {
        let c = try Self.tinyConfig()
        let m = MiniCPMV(config: c, seed: 2)
        m.setTrainable(false, prefix: "vpm")
        let input = Self.imageInput(c, tokens: 30, start: 4, seed: 3)
        let (_, loss, n) = try m.forward(input)
        (loss / Float(n)).backward()
        XCTAssertNil(m.vpm.embeddings.patchEmbedding.weight.grad)
        XCTAssertNotNil(m.resampler.query.grad)
        XCTAssertNotNil(m.resampler.kvProj?.weight.grad)
        // The image changes the logits: the vision tokens really replace the placeholders.
        var other = input
        other.pixelValues = input.pixelValues! * 2
        let (a, _, _) = try noGrad { try m.forward(input) }
        let (b, _, _) = try noGrad { try m.forward(other) }
        XCTAssertGreaterThan(relativeError(a, b), 1e-4)
    }

    func testSequenceLogProbsOfPackedSamplesEqualSeparateOnes() throws {
        let c = try Self.tinyConfig()
        let m = MiniCPMV(config: c, seed: 4)
        let first = Self.imageInput(c, tokens: 24, start: 2, seed: 5)
        let second = MiniCPMVInput.text([7, 8, 9, 10, 11, 12], labels: [ignoreIndex, ignoreIndex, 9, 10, 11, 12])
        let packed = MiniCPMVInput(
            inputIds: first.inputIds + second.inputIds, labels: first.labels + second.labels,
            positionIds: first.positionIds + second.positionIds,
            segmentIds: [Int32](repeating: 0, count: 24) + [Int32](repeating: 1, count: 6), batch: 1, seqLen: 30,
            pixelValues: first.pixelValues, tgtSizes: first.tgtSizes, imageBounds: first.imageBounds)
        let together = try m.sequenceLogProbs(packed)
        XCTAssertEqual(together.tokenCounts, [first.labels.filter { $0 != ignoreIndex }.count, 4])
        XCTAssertEqual(together.segmentIds, [0, 1])
        let a = try m.sequenceLogProbs(first), b = try m.sequenceLogProbs(second)
        XCTAssertEqual(together.sums.scalars[0], a.sums.item, accuracy: 1e-4 * abs(a.sums.item))
        XCTAssertEqual(together.sums.scalars[1], b.sums.item, accuracy: 1e-4 * abs(b.sums.item))
        // The sums are the negated summed cross-entropy.
        let (_, lossSum, _) = try m.forward(second)
        XCTAssertEqual(b.sums.item, -lossSum.item, accuracy: 1e-4 * abs(lossSum.item))
        // And differentiable.
        together.sums.sum().backward()
        XCTAssertNotNil(m.resampler.proj.grad)
    }

    func testBadInputsAreErrorsNotCrashes() throws {
        let c = try Self.tinyConfig()
        let m = MiniCPMV(config: c, seed: 6)
        var input = Self.imageInput(c, tokens: 30, start: 4, seed: 7)
        input.imageBounds = [4..<(4 + c.queryNum - 1)]
        XCTAssertThrowsError(try m.forward(input)) { XCTAssertTrue("\($0)".contains("query_num")) }
        input = Self.imageInput(c, tokens: 30, start: 4, seed: 7)
        input.inputIds[3] = Int32(c.llm.vocabSize)
        XCTAssertThrowsError(try m.forward(input)) { XCTAssertTrue("\($0)".contains("vocabulary")) }
        input = Self.imageInput(c, tokens: 30, start: 4, seed: 7)
        input.tgtSizes = [(3, 3)]
        XCTAssertThrowsError(try m.forward(input)) { XCTAssertTrue("\($0)".contains("does not fit")) }
        input = Self.imageInput(c, tokens: 30, start: 25, seed: 7)
        XCTAssertThrowsError(try m.forward(input)) { XCTAssertTrue("\($0)".contains("outside")) }
    }

    func testParameterNamesAreTheOfficialOnes() throws {
        let m = MiniCPMV(config: try Self.tinyConfig(), seed: 0)
        let paths = Set(m.namedParameters().map(\.path))
        for name in ["vpm.embeddings.patch_embedding.weight", "vpm.embeddings.position_embedding.weight",
                     "vpm.encoder.layers.1.self_attn.out_proj.bias", "vpm.encoder.layers.0.mlp.fc2.weight",
                     "vpm.post_layernorm.bias", "resampler.query", "resampler.kv_proj.weight",
                     "resampler.attn.in_proj_weight", "resampler.attn.out_proj.weight", "resampler.ln_q.weight",
                     "resampler.ln_kv.bias", "resampler.ln_post.weight", "resampler.proj",
                     "llm.model.embed_tokens.weight", "llm.model.layers.1.mlp.down_proj.weight",
                     "llm.model.layers.0.post_attention_layernorm.weight", "llm.model.norm.weight", "llm.lm_head.weight"] {
            XCTAssertTrue(paths.contains(name), name)
        }
        XCTAssertEqual(m.setTrainable(false, prefix: "resampler"), 13)
    }

    func testInitialisationFollowsTheSeed() throws {
        let c = try Self.tinyConfig()
        let a = MiniCPMV(config: c, seed: 11), b = MiniCPMV(config: c, seed: 11), d = MiniCPMV(config: c, seed: 12)
        XCTAssertEqual(a.resampler.proj.value.scalars, b.resampler.proj.value.scalars)
        XCTAssertNotEqual(a.resampler.proj.value.scalars, d.resampler.proj.value.scalars)
        XCTAssertEqual(a.llm.model.embedTokens.weight.value.scalars, b.llm.model.embedTokens.weight.value.scalars)
        XCTAssertNotEqual(a.llm.model.embedTokens.weight.value.scalars, d.llm.model.embedTokens.weight.value.scalars)
        // Resampler init (FACTS §3): D^-0.5 randn for proj (the queries start spatially, ResamplerTests).
        let proj = a.resampler.proj.value.scalars.map(Double.init)
        let std = (proj.map { $0 * $0 }.reduce(0, +) / Double(proj.count)).squareRoot()
        XCTAssertEqual(std, 1 / Double(c.resampler.embedDim).squareRoot(), accuracy: 0.2 / Double(c.resampler.embedDim).squareRoot())
        XCTAssertEqual(a.resampler.lnPost.weight.value.scalars, [Float](repeating: 1, count: c.resampler.embedDim))
    }
}
