import Foundation
import Core

/// Preprocessed samples on disk, one zstd-compressed shard per source file.
///
/// A shard's key is the SHA-256 of the source file's bytes together with a settings string
/// (tokenizer file hash, schema version, slicing and placeholder parameters, and a digest of
/// every image's resolved path, size and modification time, …). The same key
/// finds the same shard across epochs and runs, so decoding, resizing and tokenising happen
/// once; a changed source file or setting gives a new key and a new build. A shard that fails
/// to open or verify is rebuilt with a warning.
public struct ShardCache {
    public var directory: URL
    /// Where warnings go (a corrupt shard being rebuilt).
    public var log: (String) -> Void

    public enum Outcome: Equatable {
        /// Loaded from an existing shard; nothing was preprocessed.
        case hit
        /// No shard had this key; it was built.
        case built
        /// A shard had this key but was corrupt; it was built again.
        case rebuilt(reason: String)
    }

    /// Raised by the version of the shard layout or of anything that changes shard contents.
    public static let schemaVersion = "trainer-shard-1"

    public init(directory: URL, log: @escaping (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
        self.directory = directory
        self.log = log
    }

    /// The cache key of a source file under the given settings (hex SHA-256).
    public func key(source: URL, settings: String) throws -> String {
        let fileHash = SHA256.hex(try SHA256.file(source))
        return SHA256.hex(SHA256.hash(Array("\(ShardCache.schemaVersion)\n\(fileHash)\n\(settings)".utf8)))
    }

    /// `<directory>/<source name>-<first 24 hex digits of the key>.shard`.
    public func shardURL(source: URL, key: String) -> URL {
        directory.appendingPathComponent("\(source.deletingPathExtension().lastPathComponent)-\(key.prefix(24)).shard")
    }

    /// The shard of `source` under `settings`, built with `build` when missing or corrupt.
    /// `build` appends every sample to the writer and returns its report.
    public func open(source: URL, settings: String, expectedGroupSize: Int? = nil,
                     build: (ShardWriter) throws -> BuildReport) throws -> (shard: ShardReader, outcome: Outcome) {
        let key = try self.key(source: source, settings: settings)
        let url = shardURL(source: source, key: key)
        var rebuildReason: String?
        if FileManager.default.fileExists(atPath: url.path) {
            do {
                let shard = try ShardReader(url: url)
                guard shard.key == key else { throw DataError.corruptShard(file: url.path, reason: "it holds another key") }
                if let expected = expectedGroupSize, shard.groupSize != expected {
                    throw DataError.corruptShard(file: url.path, reason: "groups of \(shard.groupSize), expected \(expected)")
                }
                try shard.verify()
                return (shard, .hit)
            } catch {
                let reason = (error as? DataError)?.description ?? "\(error)"
                log("warning: \(reason); rebuilding it")
                rebuildReason = reason
                try? FileManager.default.removeItem(at: url)
            }
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let writer = try ShardWriter(destination: url)
        do {
            let report = try build(writer)
            try writer.finish(key: key, report: report)
        } catch {
            writer.abandon()
            throw error
        }
        return (try ShardReader(url: url), rebuildReason.map { .rebuilt(reason: $0) } ?? .built)
    }
}
