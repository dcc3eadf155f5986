import ArgumentParser
import Foundation
import Training

/// `trainer export --checkpoint FILE --out DIR`
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a checkpoint's model as a Hugging Face directory (config.json + model.safetensors).")

    @Option(help: "The HDF5 checkpoint to read.")
    var checkpoint: String

    @Option(help: "The directory to write (created if needed).")
    var out: String

    func run() throws {
        print(try ModelStore.exportCheckpoint(checkpoint, to: out))
    }
}
