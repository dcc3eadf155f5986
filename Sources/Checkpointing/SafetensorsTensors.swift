import Foundation

/// The tensors of one `.safetensors` file, a `model.safetensors.index.json` (sharded)
/// or a folder holding either, read one at a time: the headers are parsed up front,
/// each tensor's bytes are read (`pread`, 4 MiB at a time) and widened to float32
/// only when asked, so nothing of the files stays in memory between tensors.
public struct SafetensorsTensors: TensorSource {
    struct Location {
        var file: String
        var entry: SafetensorsEntry
        var dataStart: Int
    }

    public let origin: String
    let locations: [String: Location]
    public let shapes: [String: [Int]]

    public init(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw SafetensorsError.fileNotFound(path: path)
        }
        origin = path
        if isDirectory.boolValue {
            let directory = URL(fileURLWithPath: path)
            let index = directory.appendingPathComponent(Safetensors.indexFileName).path
            let single = directory.appendingPathComponent(Safetensors.singleFileName).path
            if FileManager.default.fileExists(atPath: index) {
                locations = try Self.indexed(index)
            } else if FileManager.default.fileExists(atPath: single) {
                locations = try Self.file(single)
            } else {
                throw SafetensorsError.noWeightsInDirectory(path: path)
            }
        } else {
            locations = path.hasSuffix(".json") ? try Self.indexed(path) : try Self.file(path)
        }
        shapes = locations.mapValues(\.entry.shape)
    }

    public func values(of name: String) throws -> [Float] {
        guard let at = locations[name] else { throw SafetensorsError.missingTensor(path: origin, tensor: name) }
        guard let size = SafetensorsFormat.elementSize(at.entry.dtype) else {
            throw SafetensorsError.unsupportedDType(path: at.file, tensor: name, dtype: at.entry.dtype)
        }
        let count = at.entry.shape.reduce(1, *)
        guard count > 0 else { return [] }
        let fd = open(at.file, O_RDONLY)
        guard fd >= 0 else { throw SafetensorsError.ioFailed(path: at.file, reason: "cannot open (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        let chunkElements = max(1, (4 << 20) / size)
        let chunk = UnsafeMutableRawPointer.allocate(byteCount: min(count, chunkElements) * size, alignment: 16)
        defer { chunk.deallocate() }
        return try [Float](unsafeUninitializedCapacity: count) { out, initialized in
            var done = 0
            while done < count {
                let n = min(chunkElements, count - done)
                try Self.readFully(fd, into: chunk, bytes: n * size, at: at.dataStart + at.entry.begin + done * size, file: at.file)
                SafetensorsFormat.convert(chunk, count: n, dtype: at.entry.dtype, into: out.baseAddress! + done)
                done += n
            }
            initialized = count
        }
    }

    public func storesBFloat16(_ name: String) -> Bool { locations[name]?.entry.dtype == "BF16" }

    // MARK: - Headers

    /// Where each tensor of one file lies.
    static func file(_ path: String) throws -> [String: Location] {
        let header = try header(path)
        var out: [String: Location] = [:]
        for entry in header.entries { out[entry.name] = Location(file: path, entry: entry, dataStart: header.dataStart) }
        return out
    }

    /// Where each tensor an index names lies, each shard's header read once.
    static func indexed(_ indexPath: String) throws -> [String: Location] {
        let weightMap = try Safetensors.parseIndex(indexPath)
        let directory = URL(fileURLWithPath: indexPath).deletingLastPathComponent()
        var byShard: [String: [String]] = [:]
        for (tensor, shard) in weightMap { byShard[shard, default: []].append(tensor) }
        var out: [String: Location] = [:]
        for shard in byShard.keys.sorted() {
            let path = directory.appendingPathComponent(shard).path
            let inShard = try file(path)
            for tensor in byShard[shard]!.sorted() {
                guard let at = inShard[tensor] else { throw SafetensorsError.missingTensor(path: path, tensor: tensor) }
                out[tensor] = at
            }
        }
        return out
    }

    /// The parsed header of one file, read without touching its data.
    static func header(_ path: String) throws -> SafetensorsHeader {
        guard FileManager.default.fileExists(atPath: path) else { throw SafetensorsError.fileNotFound(path: path) }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw SafetensorsError.ioFailed(path: path, reason: "cannot open (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw SafetensorsError.ioFailed(path: path, reason: "cannot stat") }
        let fileSize = Int(status.st_size)
        var prefix = [UInt8](repeating: 0, count: min(8, fileSize))
        try prefix.withUnsafeMutableBytes { try readFully(fd, into: $0.baseAddress!, bytes: $0.count, at: 0, file: path) }
        let length = try prefix.withUnsafeBytes { try SafetensorsFormat.headerLength($0, fileSize: fileSize, path: path) }
        var bytes = [UInt8](repeating: 0, count: 8 + length)
        try bytes.withUnsafeMutableBytes { try readFully(fd, into: $0.baseAddress!, bytes: $0.count, at: 0, file: path) }
        return try bytes.withUnsafeBytes { try SafetensorsFormat.parseHeader(prefix: $0, fileSize: fileSize, path: path) }
    }

    /// `pread` until `bytes` bytes are in, across short reads and interruptions.
    static func readFully(_ fd: Int32, into buffer: UnsafeMutableRawPointer, bytes: Int, at offset: Int, file: String) throws {
        var done = 0
        while done < bytes {
            let n = pread(fd, buffer + done, bytes - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw SafetensorsError.ioFailed(path: file, reason: n == 0 ? "ends early (truncated?)" : "read failed (\(String(cString: strerror(errno))))")
            }
            done += n
        }
    }
}
