import Foundation
import Core
#if canImport(Glibc)
import Glibc
#endif

/// What preprocessing a data file produced: how many records, and which were skipped and why
/// (a missing or corrupt image, a sample whose image spans do not match). Stored in the shard,
/// so a cache hit reports the same as the build did.
public struct BuildReport: Codable, Equatable, CustomStringConvertible {
    public struct Skipped: Codable, Equatable {
        public var id: String
        public var location: String
        public var reason: String
        public init(id: String, location: String, reason: String) {
            self.id = id; self.location = location; self.reason = reason
        }
    }

    public var source: String
    public var records = 0
    public var samples = 0
    /// 2 when the samples are preference pairs (chosen, rejected), else 1.
    public var groupSize = 1
    public var skipped: [Skipped] = []

    public init(source: String) { self.source = source }

    public var description: String {
        var s = "\(source): \(records) records → \(samples) samples"
        if !skipped.isEmpty {
            s += ", \(skipped.count) skipped"
            for k in skipped.prefix(5) { s += "\n  \(k.location) (\(k.id)): \(k.reason)" }
            if skipped.count > 5 { s += "\n  … and \(skipped.count - 5) more" }
        }
        return s
    }
}

/// Shard file layout (little-endian):
///
///     "TRSHARD\0" u32 version
///     frame*                       one zstd frame per sample record (`SampleCodec`)
///     footer                       key, report JSON, group size, count, then per sample:
///                                  offset u64, size u32, checksum u64, length u32, imageEnd u32,
///                                  firstSupervised i32
///     u64 checksum of the footer, u64 footer offset, u64 footer size, "TRSHEND\0"
///
/// The index sits at the end so that samples stream to disk while they are built.
enum ShardLayout {
    static let magic = Array("TRSHARD\0".utf8)
    static let endMagic = Array("TRSHEND\0".utf8)
    static let version: UInt32 = 1
    static let trailerSize = 32

    struct Entry {
        var offset: UInt64
        var size: UInt32
        var checksum: UInt64
        var info: SampleInfo
    }
}

/// Streams samples into a new shard; `finish` makes it visible under its final name
/// atomically (write to a temporary file, flush, rename), so a crash never leaves half a shard.
public final class ShardWriter {
    public let destination: URL
    private let temporary: URL
    private let handle: FileHandle
    private var entries: [ShardLayout.Entry] = []
    private var offset: UInt64
    private let level: Int32

    public init(destination: URL, compressionLevel: Int32 = 3) throws {
        self.destination = destination
        self.level = compressionLevel
        let folder = destination.deletingLastPathComponent()
        temporary = folder.appendingPathComponent(".\(destination.lastPathComponent).\(UUID().uuidString).tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil),
              let h = FileHandle(forWritingAtPath: temporary.path) else {
            throw DataError.unreadable(file: temporary.path, reason: "cannot create the file")
        }
        handle = h
        var w = ByteWriter()
        w.bytes = ShardLayout.magic
        w.int(ShardLayout.version)
        offset = UInt64(w.bytes.count)
        try write(w.bytes)
    }

    public var count: Int { entries.count }

    public func append(_ sample: TrainingSample) throws {
        let frame: [UInt8]
        do { frame = try Zstd.compress(SampleCodec.encode(sample), level: level) } catch {
            throw DataError.corruptShard(file: destination.path, reason: "cannot compress sample \(sample.id): \(error)")
        }
        let sum = frame.withUnsafeBytes { checksum64($0) }
        entries.append(.init(offset: offset, size: UInt32(frame.count), checksum: sum, info: sample.info))
        try write(frame)
        offset += UInt64(frame.count)
    }

    public func finish(key: String, report: BuildReport) throws {
        let groupSize = report.groupSize
        guard groupSize >= 1, entries.count % groupSize == 0 else {
            throw DataError.corruptShard(file: destination.path, reason: "\(entries.count) samples do not form groups of \(groupSize)")
        }
        var f = ByteWriter()
        f.string(key)
        f.string(String(decoding: try JSONEncoder().encode(report), as: UTF8.self))
        f.int(UInt32(groupSize))
        f.int(UInt32(entries.count))
        for e in entries {
            f.int(e.offset); f.int(e.size); f.int(e.checksum)
            f.int(UInt32(e.info.length)); f.int(UInt32(e.info.imageEnd)); f.int(Int32(e.info.firstSupervised))
        }
        var t = ByteWriter()
        t.int(f.bytes.withUnsafeBytes { checksum64($0) })
        t.int(offset); t.int(UInt64(f.bytes.count))
        t.bytes += ShardLayout.endMagic
        try write(f.bytes + t.bytes)
        try handle.synchronize()
        try handle.close()
        if FileManager.default.fileExists(atPath: destination.path) { try FileManager.default.removeItem(at: destination) }
        guard rename(temporary.path, destination.path) == 0 else {
            throw DataError.unreadable(file: destination.path, reason: "cannot move the finished shard into place")
        }
    }

    /// Removes the temporary file of a build that failed.
    public func abandon() {
        try? handle.close()
        try? FileManager.default.removeItem(at: temporary)
    }

    private func write(_ bytes: [UInt8]) throws {
        do { try handle.write(contentsOf: bytes) } catch {
            throw DataError.unreadable(file: temporary.path, reason: "write failed: \(error.localizedDescription)")
        }
    }
}

/// A finished shard opened for random access; each sample is read and decompressed on demand.
public final class ShardReader: SampleSource {
    public let url: URL
    public let key: String
    public let report: BuildReport
    public let groupSize: Int
    private let entries: [ShardLayout.Entry]
    private let fd: Int32

    public init(url: URL) throws {
        self.url = url
        fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw DataError.unreadable(file: url.path, reason: "cannot open the shard") }
        do {
            (key, report, groupSize, entries) = try ShardReader.readFooter(fd: fd, file: url.path)
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    public var count: Int { entries.count }
    public func info(_ index: Int) -> SampleInfo { entries[index].info }

    public func sample(_ index: Int) throws -> TrainingSample {
        let frame = try frameBytes(index)
        do {
            return try frame.withUnsafeBytes { try SampleCodec.decode(UnsafeRawBufferPointer($0)) }
        } catch {
            throw fail(url.path, "sample \(index) does not decode")
        }
    }

    /// Reads every frame and checks its checksum (cheap: no decompression).
    public func verify() throws {
        for i in entries.indices { _ = try readFrame(i) }
    }

    private func readFrame(_ index: Int) throws -> [UInt8] {
        let e = entries[index]
        let frame = try ShardReader.pread(fd, count: Int(e.size), at: e.offset, file: url.path)
        guard frame.withUnsafeBytes({ checksum64($0) }) == e.checksum else {
            throw fail(url.path, "sample \(index) fails its checksum")
        }
        return frame
    }

    private func frameBytes(_ index: Int) throws -> [UInt8] {
        let frame = try readFrame(index)
        do { return try frame.withUnsafeBytes { try Zstd.decompress($0) } } catch {
            throw fail(url.path, "sample \(index): \(error)")
        }
    }

    private static func readFooter(fd: Int32, file: String) throws -> (String, BuildReport, Int, [ShardLayout.Entry]) {
        let size = lseek(fd, 0, SEEK_END)
        guard size >= ShardLayout.magic.count + 4 + ShardLayout.trailerSize else { throw fail(file, "file too short") }
        let head = try pread(fd, count: 12, at: 0, file: file)
        guard Array(head[0..<8]) == ShardLayout.magic else { throw fail(file, "not a shard file") }
        let version = head.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) }
        guard version == ShardLayout.version else { throw fail(file, "format version \(version), expected \(ShardLayout.version)") }
        let trailer = try pread(fd, count: ShardLayout.trailerSize, at: UInt64(size) - UInt64(ShardLayout.trailerSize), file: file)
        guard Array(trailer[24..<32]) == ShardLayout.endMagic else { throw fail(file, "the file is truncated (no end marker)") }
        let (sum, offset, length) = trailer.withUnsafeBytes { t in
            (UInt64(littleEndian: t.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
             UInt64(littleEndian: t.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
             UInt64(littleEndian: t.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
        }
        guard offset >= 12, length < UInt64(size), offset + length + UInt64(ShardLayout.trailerSize) == UInt64(size) else {
            throw fail(file, "the index position is inconsistent")
        }
        let footer = try pread(fd, count: Int(length), at: offset, file: file)
        guard footer.withUnsafeBytes({ checksum64($0) }) == sum else { throw fail(file, "the index fails its checksum") }
        do {
            return try footer.withUnsafeBytes { try parseFooter($0, framesEnd: offset) }
        } catch let e as DataError { throw e } catch {
            throw fail(file, "the index does not decode")
        }
    }

    private static func parseFooter(_ bytes: UnsafeRawBufferPointer, framesEnd: UInt64) throws -> (String, BuildReport, Int, [ShardLayout.Entry]) {
        var r = ByteReader(bytes)
        let key = try r.string()
        let report = try JSONDecoder().decode(BuildReport.self, from: Data(try r.string().utf8))
        let groupSize = Int(try r.int(UInt32.self))
        let n = try r.count(unit: 32)   // bytes per index entry
        var entries: [ShardLayout.Entry] = []
        entries.reserveCapacity(n)
        for _ in 0..<n {
            let e = ShardLayout.Entry(
                offset: try r.int(UInt64.self), size: try r.int(UInt32.self), checksum: try r.int(UInt64.self),
                info: SampleInfo(length: Int(try r.int(UInt32.self)), imageEnd: Int(try r.int(UInt32.self)),
                                 firstSupervised: Int(try r.int(Int32.self))))
            guard e.offset >= 12, e.offset + UInt64(e.size) <= framesEnd else { throw ByteReader.Overrun() }
            entries.append(e)
        }
        guard r.atEnd, groupSize >= 1, n % groupSize == 0 else { throw ByteReader.Overrun() }
        return (key, report, groupSize, entries)
    }

    private static func pread(_ fd: Int32, count: Int, at offset: UInt64, file: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = out.withUnsafeMutableBytes { Glibc.pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
            guard got > 0 else { throw fail(file, "unexpected end of file") }
            done += got
        }
        return out
    }
}

private func fail(_ file: String, _ reason: String) -> DataError { .corruptShard(file: file, reason: reason) }
