import ArgumentParser
import Foundation
import Autograd
import Core
import NN
import Models
import Checkpointing

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

    func run() throws {
        let summary = try ModelTransfer.importCheckpoint(from: from, to: out, seed: seed, queryNum: queryNum)
        print(summary)
    }
}

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
        print(try ModelTransfer.exportCheckpoint(checkpoint, to: out))
    }
}

/// The glue between model configs (Models) and weight files (Checkpointing).
enum ModelTransfer {
    /// Builds the model the sources describe, loads their weights strictly and
    /// writes `/model` + `/config` to `path` (through a temporary file).
    static func importCheckpoint(from directories: [String], to path: String, seed: UInt64,
                                 queryNum: Int?) throws -> String {
        let sources = try CheckpointSources(directories: directories, queryNum: queryNum)
        let (tensors, ignored) = try ModelWeights.readMiniCPMV(from: directories)
        let model = MiniCPMV(config: sources.config, seed: seed)
        let fresh = sources.isComplete ? [] : ["resampler"]
        try ModelWeights.load(tensors, into: model, allowMissing: fresh, source: directories.joined(separator: " + "))
        try writeAtomically(path) { file in try saveModel(model, config: sources.config, to: file) }
        var lines = ["imported MiniCPM-V \(sources.config.version) (\(sources.config.llm.modelType.rawValue)): "
                     + "\(model.parameterCount) parameters, \(tensors.count) tensors → \(path)"]
        if !fresh.isEmpty { lines.append("resampler initialised from seed \(seed) (not in the sources)") }
        if !ignored.isEmpty {
            lines.append("left out \(ignored.count) tensors MiniCPM-V has no use for (e.g. \(ignored.prefix(3).joined(separator: ", ")))")
        }
        return lines.joined(separator: "\n")
    }

    /// Reads a checkpoint (strictly) and writes config.json (official layout) and model.safetensors.
    static func exportCheckpoint(_ path: String, to directory: String) throws -> String {
        let file = try HDF5File(readingAt: path)
        defer { file.close() }
        let (model, config) = try loadModel(from: file, as: MiniCPMVConfig.self) { MiniCPMV(config: $0) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let dir = URL(fileURLWithPath: directory)
        try Data(try config.officialJSON().utf8).write(to: dir.appendingPathComponent("config.json"), options: .atomic)
        // transformers only loads safetensors whose metadata names the framework.
        try Safetensors.write(ModelWeights.export(model), to: dir.appendingPathComponent(Safetensors.singleFileName).path,
                              metadata: ["format": "pt"])
        return "exported \(model.namedParameters().count) tensors (\(model.parameterCount) parameters) → \(directory)"
    }

    private static func writeAtomically(_ path: String, _ body: (HDF5File) throws -> Void) throws {
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let temporary = path + ".partial"
        do {
            let file = try HDF5File(creatingAt: temporary)
            try body(file)
            try file.flush()
            file.close()
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }
}
