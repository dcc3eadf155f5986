import ArgumentParser
import Checkpointing
import Foundation
import Training

/// `trainer export --checkpoint FILE --out DIR [--adapter | --merge]` and
/// `trainer export --checkpoint FILE --gguf DIR [--type T]`
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a checkpoint's model as a Hugging Face directory (config.json + model.safetensors), "
            + "a LoRA checkpoint's adapters as a PEFT folder, or with --gguf the two GGUF files llama.cpp's "
            + "MiniCPM-V support reads.")

    @Option(help: "The HDF5 checkpoint to read (a quantized one is dequantized first).")
    var checkpoint: String

    @Option(help: "The Hugging Face directory to write (created if needed).")
    var out: String?

    @Flag(help: "LoRA checkpoints, with --out: write the adapters (adapter_config.json + adapter_model.safetensors, PEFT's layout).")
    var adapter = false

    @Flag(help: "LoRA checkpoints, with --out: write the full model with the adapters folded into its weights.")
    var merge = false

    @Option(help: "The directory for model-<type>.gguf (the LLM) and mmproj-model-f16.gguf (vision tower + resampler).")
    var gguf: String?

    @Option(help: "GGUF weight type of the LLM: f32, f16, q8_0 or q4_0.")
    var type: String = "f16"

    @Option(help: "Tokenizer, for a checkpoint without a recipe inside (imported weights).")
    var tokenizer: String?

    func validate() throws {
        guard (out == nil) != (gguf == nil) else { throw ValidationError("give exactly one of --out DIR and --gguf DIR") }
        if adapter && merge { throw ValidationError("--adapter and --merge exclude each other") }
        if (adapter || merge) && out == nil { throw ValidationError("--adapter and --merge write to --out DIR") }
        guard GGMLType.allCases.contains(where: { $0.name.lowercased() == type.lowercased() }) else {
            throw ValidationError("--type must be f32, f16, q8_0 or q4_0, got '\(type)'")
        }
    }

    func run() throws {
        if let gguf {
            let t = GGMLType.allCases.first { $0.name.lowercased() == type.lowercased() }!
            print(try GGUFExport.run(checkpoint: checkpoint, directory: gguf, type: t, tokenizer: tokenizer))
            return
        }
        guard let out else { return }
        if adapter {
            print(try PEFTAdapter.export(checkpoint: checkpoint, to: out))
            return
        }
        if !merge, try ModelStore.holdsAdapters(checkpoint) {
            throw CheckpointError(file: checkpoint, message: "holds LoRA adapters: pass --adapter (the adapters as a PEFT "
                                  + "folder) or --merge (the full model with the adapters folded in)")
        }
        print(try ModelStore.exportCheckpoint(checkpoint, to: out))
    }
}
