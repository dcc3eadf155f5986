import ArgumentParser
import Foundation
import Checkpointing
import Training

/// `trainer import --from DIR [DIR] --out Checkpoints/NAME.h5`
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert Hugging Face weights into a checkpoint.",
        discussion: """
            Sources: one MiniCPM-V directory (config.json + safetensors, official or our layout), \
            or a SigLIP/Idefics2 vision directory plus a Qwen2/Llama/MiniCPM LLM directory; then \
            the resampler is initialised from --seed. Every model parameter must be found \
            (except the resampler of a pair) and every tensor used, or nothing is written.
            """)

    @Option(name: .customLong("from"), parsing: .upToNextOption,
            help: "Checkpoint directories: one MiniCPM-V directory, or vision then LLM.")
    var from: [String]

    @Option(help: "The HDF5 checkpoint to write, e.g. Checkpoints/minicpmv.h5.")
    var out: String

    @Option(help: "Seed for parameters the sources do not hold (the resampler of a vision + LLM pair).")
    var seed: UInt64 = 0

    @Option(name: .customLong("query-num"), help: "Resampler queries for a vision + LLM pair (default 64; 96 for Llama 3).")
    var queryNum: Int?

    @Option(help: "How the checkpoint stores the weights: float32 or bfloat16 (half the size; read back as float32).")
    var dtype: String = "float32"

    func run() throws {
        guard let precision = StoredPrecision(rawValue: dtype) else {
            throw ValidationError("--dtype must be float32 or bfloat16, not '\(dtype)'")
        }
        let summary = try ModelStore.importCheckpoint(from: from, to: out, seed: seed, queryNum: queryNum, precision: precision)
        print(summary)
    }
}
