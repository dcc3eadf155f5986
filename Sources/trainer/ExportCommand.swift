import ArgumentParser
import Checkpointing
import Foundation
import Training

/// `trainer export --checkpoint FILE --out DIR [--adapter | --merge]`
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a checkpoint's model as a Hugging Face directory (config.json + model.safetensors), "
            + "or a LoRA checkpoint's adapters as a PEFT folder.")

    @Option(help: "The HDF5 checkpoint to read.")
    var checkpoint: String

    @Option(help: "The directory to write (created if needed).")
    var out: String

    @Flag(help: "LoRA checkpoints: write the adapters (adapter_config.json + adapter_model.safetensors, PEFT's layout).")
    var adapter = false

    @Flag(help: "LoRA checkpoints: write the full model with the adapters folded into its weights.")
    var merge = false

    func validate() throws {
        if adapter && merge { throw ValidationError("--adapter and --merge exclude each other") }
    }

    func run() throws {
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
