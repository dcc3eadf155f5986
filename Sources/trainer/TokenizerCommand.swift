import ArgumentParser
import Datasets
import Foundation
import Tokenizers

/// `trainer tokenizer …`: tokenizer utilities.
///
/// Named `TokenizerCommand` (command name `tokenizer`) so that, inside this module,
/// `Tokenizer` still means `Datasets.Tokenizer`.
struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Tokenizer utilities.",
        subcommands: [Train.self])

    /// `trainer tokenizer train --corpus FILES... --vocab N --out tokenizer.json`
    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train a byte-level BPE tokenizer (Qwen2 layout) and write a Hugging Face tokenizer.json.")

        @Option(name: .long, parsing: .upToNextOption, help: "UTF-8 text files to learn from.")
        var corpus: [String]

        @Option(name: .long, help: "Total vocabulary size: 256 bytes + merges + special tokens.")
        var vocab: Int

        @Option(name: .long, help: "Where to write tokenizer.json.")
        var out: String

        @Option(name: .customLong("special-tokens"), parsing: .upToNextOption,
                help: "Special tokens, given the ids after the learned vocabulary (default: the MiniCPM-V set).")
        var specialTokens: [String] = BPETrainer.defaultSpecialTokens

        @Option(name: .customLong("min-frequency"), help: "Never merge a pair seen fewer times than this.")
        var minFrequency: Int = 2

        func validate() throws {
            guard !corpus.isEmpty else { throw ValidationError("--corpus needs at least one file") }
        }

        func run() throws {
            let start = Date()
            var trainer = try BPETrainer(vocabSize: vocab, specialTokens: specialTokens, minFrequency: minFrequency)
            for file in corpus { try trainer.addFile(file) }
            let trained = trainer.train()
            try trained.write(to: out)
            let seconds = Date().timeIntervalSince(start)
            print("tokenizer: \(corpus.count) files, \(trainer.distinctWords) distinct words, "
                + "\(trained.merges.count) merges, vocabulary \(trained.vocabSize) "
                + "(\(trained.tokens.count) learned + \(trained.specialTokens.count) special) → \(out) "
                + String(format: "in %.1f s", seconds))
            if trained.vocabSize < vocab {
                print("tokenizer: stopped below --vocab \(vocab): no pair left with at least \(minFrequency) occurrences")
            }
        }
    }
}
