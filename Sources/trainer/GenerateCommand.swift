import ArgumentParser
import Autograd
import Core
import Foundation
import Training

/// `trainer generate --checkpoint FILE --image IMG --prompt TEXT`
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer a prompt about an image with a trained checkpoint (streamed).")

    @Option(help: "The checkpoint (e.g. Checkpoints/sft/latest.h5).")
    var checkpoint: String
    @Option(help: "An image file (PNG, JPEG, ...). Leave out for a text-only prompt.")
    var image: String?
    @Option(help: "The question or instruction.")
    var prompt: String = "Describe this image in detail."
    @Option(help: "0 = greedy; higher samples more freely.")
    var temperature: Float = 0
    @Option(name: .customLong("top-p"), help: "Nucleus sampling: keep the smallest set of tokens with this much probability.")
    var topP: Float = 1
    @Option(name: .customLong("top-k"), help: "Keep only the k most likely tokens (0 = all).")
    var topK: Int = 0
    @Option(name: .customLong("max-tokens"), help: "Stop after this many tokens.")
    var maxTokens: Int = 128
    @Option(help: "Random seed for sampling.")
    var seed: UInt64 = 0
    @Option(help: "Tokenizer (default: the one in the checkpoint's recipe).")
    var tokenizer: String?

    func run() throws {
        let g = try Generator(checkpoint: checkpoint, tokenizer: tokenizer)
        var rng = RNG(seed: seed)
        _ = try g.generate(question: prompt, images: image.map { [$0] } ?? [],
                           sampling: SamplingConfig(temperature: temperature, topK: topK, topP: topP),
                           maxTokens: maxTokens, rng: &rng) { piece in
            print(piece, terminator: ""); fflush(stdout)
        }
        print("")
    }
}
