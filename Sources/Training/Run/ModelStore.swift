import Checkpointing
import Foundation
import Models

/// Where models come from and go to: HDF5 checkpoints and Hugging Face folders.
/// Every command and the run loop load and save through here.
public enum ModelStore {
    /// Opens a checkpoint for reading, naming the file when it is missing.
    public static func open(_ path: String) throws -> HDF5File {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CheckpointError(file: path, message: "checkpoint not found (run the previous phase first?)")
        }
        return try HDF5File(readingAt: path)
    }

    /// The model of an open checkpoint (strict: every parameter present, every shape right).
    /// A LoRA checkpoint gives its base with the adapters folded in. `bf16`: weights
    /// to freeze and keep in bfloat16, narrowed before they are read (see `skeleton`).
    /// Weights the file stores in bfloat16 stay bfloat16 (frozen) in memory: nothing
    /// is lost, and a real-size base imported with `--dtype bfloat16` loads in half
    /// the memory for `eval`, `generate` or `export --merge`. (A phase that trains
    /// them widens them back to float32.)
    public static func model(in file: HDF5File, seed: UInt64 = 0, bf16: ((String) -> Bool)? = nil) throws -> MiniCPMV {
        if LoRARun.holdsAdapters(file) { return try LoRARun.mergedModel(file, seed: seed) }
        let config = try MiniCPMVConfig.decode(json: try loadModelConfigJSON(from: file), file: file.path)
        let source = try CheckpointTensors(file)
        let model = skeleton(config, bf16: { bf16?($0) == true || source.storesBFloat16($0) })
        try ModelWeights.load(source, into: model)
        return model
    }

    /// A model about to be loaded: nothing drawn but what `drawn` selects (the pages
    /// of its large parameters are not even committed), the weights `bf16` selects
    /// frozen and already in bfloat16. Loading it tensor by tensor then holds the
    /// model once, in the precision it keeps, plus the one tensor being copied.
    static func skeleton(_ config: MiniCPMVConfig, seed: UInt64 = 0, bf16: ((String) -> Bool)?,
                         drawing drawn: (String) -> Bool = { _ in false }) -> MiniCPMV {
        let model = MiniCPMV(config: config, initialize: false)
        model.initialize(seed: seed, bf16: bf16, where: drawn)
        return model
    }

    /// Whether a checkpoint file holds LoRA adapters over a base kept elsewhere.
    public static func holdsAdapters(_ path: String) throws -> Bool {
        let file = try open(path)
        defer { file.close() }
        return LoRARun.holdsAdapters(file)
    }

    /// The model of a checkpoint file.
    public static func model(checkpoint path: String, seed: UInt64 = 0, bf16: ((String) -> Bool)? = nil) throws -> MiniCPMV {
        let file = try open(path)
        defer { file.close() }
        return try model(in: file, seed: seed, bf16: bf16)
    }

    /// The model Hugging Face folders describe (one MiniCPM-V folder, or a vision
    /// folder and an LLM folder), loaded strictly and tensor by tensor; the resampler
    /// of a pair starts from `seed`. Also returns the tensors the folders hold that
    /// MiniCPM-V does not use.
    public static func model(huggingFace directories: [String], seed: UInt64, queryNum: Int? = nil,
                             bf16: ((String) -> Bool)? = nil)
        throws -> (model: MiniCPMV, sources: CheckpointSources, read: Int, ignored: [String]) {
        let sources = try CheckpointSources(directories: directories, queryNum: queryNum)
        let (tensors, ignored) = try ModelWeights.miniCPMV(from: directories)
        let held = tensors.shapes
        let model = skeleton(sources.config, seed: seed, bf16: { bf16?($0) == true || tensors.storesBFloat16($0) },
                             drawing: { held[$0] == nil })
        try ModelWeights.load(tensors, into: model, allowMissing: sources.isComplete ? [] : ["resampler"])
        return (model, sources, held.count, ignored)
    }

    /// Writes an HDF5 file atomically: `body` fills a temporary file beside `path`
    /// (`NAME.tmp-PID`), which is flushed, synced and renamed into place, so a kill
    /// during the write leaves whatever was at `path` intact.
    public static func writeAtomically(_ path: String, _ body: (HDF5File) throws -> Void) throws {
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        let temp = path + ".tmp-\(getpid())"
        do {
            let h5 = try HDF5File(creatingAt: temp)
            try body(h5)
            try h5.flush()
            h5.close()
            let fd = Foundation.open(temp, O_RDONLY)
            if fd >= 0 { fsync(fd); close(fd) }
            guard rename(temp, path) == 0 else {
                throw CheckpointError(file: path, message: "cannot rename the temporary file into place (\(String(cString: strerror(errno))))")
            }
        } catch {
            unlink(temp)
            throw error
        }
    }

    /// `trainer import`: Hugging Face folders → one checkpoint holding `/model` and
    /// `/config`, streamed: each tensor is read, converted to `precision` and written
    /// before the next is read, so the import holds one tensor at a time (and the
    /// resampler of a pair, drawn from `seed`).
    public static func importCheckpoint(from directories: [String], to path: String, seed: UInt64, queryNum: Int?,
                                        precision: StoredPrecision = .float32) throws -> String {
        let sources = try CheckpointSources(directories: directories, queryNum: queryNum)
        let (tensors, ignored) = try ModelWeights.miniCPMV(from: directories)
        let held = tensors.shapes
        let model = skeleton(sources.config, seed: seed, bf16: nil, drawing: { held[$0] == nil })
        try ModelWeights.check(tensors, against: model, allowMissing: sources.isComplete ? [] : ["resampler"])
        try writeAtomically(path) { file in
            try saveModel(model, config: sources.config, to: file, precision: precision) { name in
                held[name] == nil ? nil : try tensors.values(of: name)
            }
        }
        var lines = ["imported MiniCPM-V \(sources.config.version) (\(sources.config.llm.modelType.rawValue)): "
                     + "\(model.parameterCount) parameters, \(held.count) tensors → \(path)"
                     + (precision == .bfloat16 ? " (stored in bfloat16)" : "")]
        if !sources.isComplete { lines.append("resampler initialised from seed \(seed) (not in the sources)") }
        if !ignored.isEmpty {
            lines.append("left out \(ignored.count) tensors MiniCPM-V has no use for (e.g. \(ignored.prefix(3).joined(separator: ", ")))")
        }
        return lines.joined(separator: "\n")
    }

    /// `trainer export`: a checkpoint → config.json (official layout) and model.safetensors.
    public static func exportCheckpoint(_ path: String, to directory: String) throws -> String {
        let model = try model(checkpoint: path)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let dir = URL(fileURLWithPath: directory)
        try Data(try model.config.officialJSON().utf8).write(to: dir.appendingPathComponent("config.json"), options: .atomic)
        // transformers only loads safetensors whose metadata names the framework.
        let parameters = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.path, $0.parameter) })
        try Safetensors.write(shapes: parameters.mapValues(\.shape), to: dir.appendingPathComponent(Safetensors.singleFileName).path,
                              metadata: ["format": "pt"]) { parameters[$0]!.floats }
        return "exported \(model.namedParameters().count) tensors (\(model.parameterCount) parameters) → \(directory)"
    }
}
