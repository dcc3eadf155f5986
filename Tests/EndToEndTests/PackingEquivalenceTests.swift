import Autograd
import Core
import Datasets
import Foundation
import Tokenizers
import Models
import NN
import Training
import XCTest

/// A packed batch (several samples per row, images included) gives the same
/// loss and the same gradient for every parameter as the samples run one by one.
final class PackingEquivalenceTests: XCTestCase {
    func testPackedLossAndGradientsEqualPerSample() throws {
        let root = E2E.root
        let config = try MiniCPMVConfig.preset("micro", directory: root.appendingPathComponent("Recipes/models").path)
        let tokenizer = try Tokenizer(contentsOf: root.appendingPathComponent("Data/tokenizer.json").path)
        let images = ImagePreprocessor(slicing: Datasets.SliceConfig(scaleResolution: 56, neverSplit: true),
                                       placeholders: PlaceholderStyle(schema: .v2_6, queryCount: config.queryNum))
        let builder = try SampleBuilder(tokenizer: tokenizer, images: images)
        let records = try readRecords(root.appendingPathComponent("Data/synth/sft-part2-heldout.json"))
        var samples = try records.prefix(4).flatMap { try builder.samples($0) }
        // A text-only sample in the same row as image samples.
        samples += try builder.samples(.conversation(ConversationRecord(
            location: RecordLocation(file: "test", line: 1), id: "text", images: [],
            turns: [DialogueTurn(role: .user, content: "How many shapes?"),
                    DialogueTurn(role: .assistant, content: "There are two shapes.")])))
        let source = InMemorySamples(samples)
        let (plan, _) = PackPlan.make(groups: (0..<source.count).map { [$0] }, info: source.info,
                                      maxLength: samples.map(\.length).reduce(0, +), policy: .truncate)
        XCTAssertEqual(plan.rows.count, 1, "all samples in one packed row")
        let packed = try PackedBatch.assemble(plan, padId: 0) { try source.sample($0) }
        XCTAssertGreaterThan(packed.sliceCount, 0)

        let model = MiniCPMV(config: config, seed: 11)
        let params = model.namedParameters()
        let (_, packedLoss, packedTokens) = try model.forward(modelInput(packed))
        packedLoss.backward()
        let packedGrads = params.map { $0.parameter.grad?.scalars ?? [] }
        model.zeroGrad()

        var loss: Float = 0, tokens = 0
        for single in packed.unpacked() {
            XCTAssertEqual(single.rows, 1)
            let (_, l, n) = try model.forward(modelInput(single))
            l.backward()
            loss += l.item; tokens += n
        }
        XCTAssertEqual(tokens, packedTokens)
        XCTAssertEqual(packedLoss.item, loss, accuracy: 1e-5 * abs(loss))
        // Gradients that are zero in exact arithmetic (the vision key bias: adding
        // one vector to every key leaves the softmax unchanged) are float noise in
        // both runs; compare each gradient against a floor of 1e-6 of the largest one.
        let largest = packedGrads.map { g in g.reduce(0) { $0 + $1 * $1 }.squareRoot() }.max() ?? 1
        var checked = 0
        for (i, (path, p)) in params.enumerated() {
            let a = packedGrads[i], b = p.grad?.scalars ?? []
            XCTAssertEqual(a.isEmpty, b.isEmpty, path)
            guard !a.isEmpty else { continue }
            var diff: Float = 0, norm: Float = 0
            for k in a.indices { diff += (a[k] - b[k]) * (a[k] - b[k]); norm += b[k] * b[k] }
            let rel = diff.squareRoot() / max(norm.squareRoot(), 1e-6 * largest)
            XCTAssertLessThan(rel, 1e-5, "\(path): relative gradient difference \(rel)")
            checked += 1
        }
        XCTAssertEqual(checked, params.count, "every parameter got a gradient")
    }
}
