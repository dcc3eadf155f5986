import Foundation

/// A named tensor's data as loaded from or written to a weights file: row-major Float32.
public struct NamedArray: Equatable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }
}

public enum SafetensorsError: Error, CustomStringConvertible {
    case fileNotFound(path: String)
    /// A directory without `model.safetensors` or `model.safetensors.index.json`.
    case noWeightsInDirectory(path: String)
    case corruptHeader(path: String, reason: String)
    case unsupportedDType(path: String, tensor: String, dtype: String)
    case badIndex(path: String, reason: String)
    /// The index maps a tensor to a shard that does not contain it.
    case missingTensor(path: String, tensor: String)
    /// A tensor handed to the writer is inconsistent.
    case invalidTensor(name: String, reason: String)
    case ioFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "safetensors: file not found: \(path)"
        case .noWeightsInDirectory(let path):
            return "safetensors: \(path) holds neither model.safetensors nor model.safetensors.index.json"
        case .corruptHeader(let path, let reason):
            return "safetensors: \(path): corrupt header: \(reason)"
        case .unsupportedDType(let path, let tensor, let dtype):
            return "safetensors: \(path): tensor '\(tensor)' has dtype \(dtype); "
                + "supported: F32, F16, BF16, F64, I64, I32"
        case .badIndex(let path, let reason):
            return "safetensors: index \(path): \(reason)"
        case .missingTensor(let path, let tensor):
            return "safetensors: \(path): tensor '\(tensor)' listed in the index is not in this shard"
        case .invalidTensor(let name, let reason):
            return "safetensors: cannot write tensor '\(name)': \(reason)"
        case .ioFailed(let path, let reason):
            return "safetensors: \(path): \(reason)"
        }
    }
}

/// Reader and writer for the safetensors format (Hugging Face weights).
///
/// Reading accepts one `.safetensors` file, a `model.safetensors.index.json` file, or a
/// directory holding either `model.safetensors.index.json` (sharded) or `model.safetensors`.
/// F32, F16, BF16, F64, I64 and I32 tensors are converted to Float32. Writing stores F32,
/// names sorted, the data section 8-byte aligned.
public enum Safetensors {
    public static let indexFileName = "model.safetensors.index.json"
    public static let singleFileName = "model.safetensors"

    /// Every tensor of a file, an index or a folder, in float32.
    public static func read(_ path: String) throws -> [String: NamedArray] {
        try SafetensorsTensors(path).all()
    }

    /// The `__metadata__` map of one `.safetensors` file (empty when absent).
    public static func metadata(_ path: String) throws -> [String: String] {
        try SafetensorsTensors.header(path).metadata
    }

    /// Writes `tensors` as F32 to `path` (through a temporary file renamed into place).
    public static func write(_ tensors: [String: NamedArray], to path: String,
                             metadata: [String: String] = [:]) throws {
        try write(shapes: tensors.mapValues(\.shape), to: path, metadata: metadata) { tensors[$0]!.values }
    }

    /// Writes F32 tensors of the given shapes to `path`, asking `values` for each one
    /// in turn (names sorted) and writing it before asking for the next, so a model
    /// is written without a second copy of it.
    public static func write(shapes: [String: [Int]], to path: String, metadata: [String: String] = [:],
                             values: (String) throws -> [Float]) throws {
        let names = shapes.keys.sorted()
        for name in names {
            guard !name.isEmpty, name != SafetensorsFormat.metadataKey else {
                throw SafetensorsError.invalidTensor(name: name, reason: "reserved or empty name")
            }
            guard shapes[name]!.allSatisfy({ $0 >= 0 }) else {
                throw SafetensorsError.invalidTensor(name: name, reason: "negative dimension in \(shapes[name]!)")
            }
        }
        let header = SafetensorsFormat.encodeHeader(names: names, shapes: names.map { shapes[$0]! }, metadata: metadata)
        let temporary = path + ".partial"
        guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
            throw SafetensorsError.ioFailed(path: path, reason: "cannot create \(temporary)")
        }
        do {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
            defer { try? handle.close() }
            var length = UInt64(header.count).littleEndian
            try handle.write(contentsOf: Data(bytes: &length, count: 8))
            try handle.write(contentsOf: Data(header))
            for name in names {
                let tensor = try values(name)
                let count = shapes[name]!.reduce(1, *)
                guard tensor.count == count else {
                    throw SafetensorsError.invalidTensor(name: name, reason: "shape \(shapes[name]!) does not hold \(tensor.count) values")
                }
                // Float32 is stored little-endian, which is the host order on every supported CPU.
                try tensor.withUnsafeBytes { try writeFully(handle.fileDescriptor, $0, path: temporary) }
            }
            try handle.synchronize()
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            if error is SafetensorsError || error is CheckpointError { throw error }
            throw SafetensorsError.ioFailed(path: path, reason: "write failed: \(error.localizedDescription)")
        }
        guard rename(temporary, path) == 0 else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw SafetensorsError.ioFailed(path: path, reason: "cannot move \(temporary) into place")
        }
    }

    // MARK: - Internals

    /// `write` until every byte is out (no copy of the tensor on the way).
    private static func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SafetensorsError.ioFailed(path: path, reason: "write failed (\(String(cString: strerror(errno))))") }
            done += n
        }
    }

    static func mapFile(_ path: String) throws -> Data {
        guard FileManager.default.fileExists(atPath: path) else { throw SafetensorsError.fileNotFound(path: path) }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw SafetensorsError.ioFailed(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
    }

    static func parseIndex(_ path: String) throws -> [String: String] {
        let data = try mapFile(path)
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw SafetensorsError.badIndex(path: path, reason: "not valid JSON (\(error.localizedDescription))")
        }
        guard let map = (object as? [String: Any])?["weight_map"] as? [String: Any] else {
            throw SafetensorsError.badIndex(path: path, reason: "no 'weight_map' object")
        }
        var result: [String: String] = [:]
        for (tensor, shard) in map {
            guard let file = shard as? String, !file.isEmpty, !file.hasPrefix("/") else {
                throw SafetensorsError.badIndex(path: path, reason: "weight_map['\(tensor)'] is not a file name")
            }
            result[tensor] = file
        }
        return result
    }
}
