import Autograd
import Core
import Datasets
import Foundation
import Models
import Training
import XCTest

/// Generation from a trained checkpoint: the streamed pieces make up the answer, and
/// every greedy token (decoded one at a time through the KV cache) is the argmax of
/// a full forward pass over the prompt and the tokens before it.
final class GenerationTests: XCTestCase {
    func testGreedyTokensMatchFullForwardPasses() throws {
        let dir = E2E.scratch("generate")
        let r = try E2E.recipe(E2E.captionRecipe(name: "g", dir: dir, steps: 4), in: dir)
        _ = try TrainingRun(recipe: r, options: E2E.quiet(RunOptions())).run()
        let g = try Generator(checkpoint: dir.appendingPathComponent("ckpt/latest.h5").path)
        let image = E2E.root.appendingPathComponent("Data/synth/images/shapes-0001.png").path
        var rng = RNG(seed: 0), pieces = ""
        let answer = try g.generate(question: "Describe the image.", images: [image], maxTokens: 6, rng: &rng) { pieces += $0 }
        XCTAssertEqual(pieces, answer)

        let prompt = try g.builder.prompt(question: "Describe the image.", images: [image])
        var ids = prompt.inputIds
        let generated = g.builder.tokenizer.encode(answer)
        XCTAssertFalse(generated.isEmpty)
        try noGrad {
            for next in generated {
                let batch = PackedBatch.prompt(ids: ids, imageBounds: prompt.imageBounds,
                                           slices: (0..<prompt.sliceCount).map { ImageSlice(tgtSize: prompt.tgtSizes[$0], pixels: prompt.strip($0)) })
                let input = modelInput(batch)
                let hidden = g.model.llm.hiddenStates(embeddings: g.model.inputEmbeddings(input), positions: input.positionIds)
                let logits = g.model.llm.logits(hidden: hidden.slice(axis: 1, ids.count - 1, ids.count))
                XCTAssertEqual(Int32(logits.argmax()[0]), next, "greedy token \(ids.count - prompt.inputIds.count)")
                ids.append(next)
            }
        }
    }
}
