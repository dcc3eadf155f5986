import ArgumentParser
import Checkpointing
import Foundation
import Training

/// `trainer export --checkpoint FILE --out DIR` and `trainer export --checkpoint FILE --gguf DIR [--type T]`
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a checkpoint's model as a Hugging Face directory (config.json + model.safetensors), "
            + "or with --gguf as the two GGUF files llama.cpp's MiniCPM-V support reads.")

    @Option(help: "The HDF5 checkpoint to read (a quantized one is dequantized first).")
    var checkpoint: String

    @Option(help: "The Hugging Face directory to write (created if needed).")
    var out: String?

    @Option(help: "The directory for model-<type>.gguf (the LLM) and mmproj-model-f16.gguf (vision tower + resampler).")
    var gguf: String?

    @Option(help: "GGUF weight type of the LLM: f32, f16, q8_0 or q4_0.")
    var type: String = "f16"

    @Option(help: "Tokenizer, for a checkpoint without a recipe inside (imported weights).")
    var tokenizer: String?

    func validate() throws {
        guard (out == nil) != (gguf == nil) else { throw ValidationError("give exactly one of --out DIR and --gguf DIR") }
        guard GGMLType.allCases.contains(where: { $0.name.lowercased() == type.lowercased() }) else {
            throw ValidationError("--type must be f32, f16, q8_0 or q4_0, got '\(type)'")
        }
    }

    func run() throws {
        if let out {
            print(try ModelStore.exportCheckpoint(checkpoint, to: out))
        } else if let gguf {
            let t = GGMLType.allCases.first { $0.name.lowercased() == type.lowercased() }!
            print(try GGUFExport.run(checkpoint: checkpoint, directory: gguf, type: t, tokenizer: tokenizer))
        }
    }
}
