import Foundation
import Core

extension SHA256 {
    /// The digest of a file, read in chunks.
    public static func file(_ url: URL) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw DataError.unreadable(file: url.path, reason: "no such file or not readable")
        }
        defer { try? handle.close() }
        var s = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { s.update(chunk) }
        return s.finalize()
    }
}
