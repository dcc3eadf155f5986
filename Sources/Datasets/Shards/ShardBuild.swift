import Foundation
import Core

extension SampleBuilder {
    /// Builds every record of a data file into `writer`, in file order, several records at a
    /// time on the engine's threads. A record whose image is missing or corrupt, or whose sample
    /// breaks an invariant, is skipped and reported, never trained; a schema error in the file
    /// stops the build (the file must be fixed).
    public func build(_ file: URL, format: DataFormat? = nil, into writer: ShardWriter) throws -> BuildReport {
        try build(try readRecords(file, format: format), from: file, into: writer)
    }

    /// Builds `records`, read from `file`, into `writer` (see `build(_:format:into:)`).
    public func build(_ records: [DataRecord], from file: URL, into writer: ShardWriter) throws -> BuildReport {
        var report = BuildReport(source: file.path)
        report.records = records.count
        if case .preference? = records.first { report.groupSize = 2 }
        let chunk = max(8, 4 * Threads.count)
        for start in stride(from: 0, to: records.count, by: chunk) {
            let part = Array(records[start..<min(start + chunk, records.count)])
            for (record, result) in zip(part, buildConcurrently(part)) {
                switch result {
                case let .success(samples):
                    for s in samples { try writer.append(s) }
                    report.samples += samples.count
                case let .failure(error):
                    report.skipped.append(.init(id: record.id, location: record.location.description, reason: "\(error)"))
                }
            }
        }
        return report
    }

    private func buildConcurrently(_ records: [DataRecord]) -> [Result<[TrainingSample], Error>] {
        let results = UnsafeMutableBufferPointer<Result<[TrainingSample], Error>?>.allocate(capacity: records.count)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        parallelFor(records.count) { range in
            for i in range { results[i] = Result { try samples(records[i]) } }
        }
        return results.map { $0! }
    }
}

extension ShardCache {
    /// The preprocessed samples of a data file: loaded from its shard when the file, every
    /// image it names and the builder's settings are unchanged, else built (and stored) first.
    public func samples(of file: URL, format: DataFormat? = nil,
                        builder: SampleBuilder) throws -> (shard: ShardReader, outcome: Outcome) {
        let records = try readRecords(file, format: format)
        let settings = builder.settings + "; format=\(format?.rawValue ?? "auto")"
            + "; images=\(ShardCache.imageIdentity(of: records))"
        return try open(source: file, settings: settings) { writer in
            try builder.build(records, from: file, into: writer)
        }
    }
}

extension ShardCache {
    /// A digest of the identity of every image the records name: its resolved path, size
    /// and modification time, or that it is missing. A changed, replaced, deleted or
    /// restored image, or the same JSONL in another folder, gives another digest and so
    /// another shard.
    public static func imageIdentity(of records: [DataRecord]) -> String {
        var text = ""
        for r in records {
            let images: [ImageReference]
            switch r {
            case .caption(let c): images = [c.image]
            case .conversation(let c): images = c.images
            case .preference(let p): images = p.images
            }
            for image in images {
                var st = stat()
                if stat(image.path, &st) == 0 {
                    text += "\(image.path)\t\(st.st_size)\t\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)\n"
                } else {
                    text += "\(image.path)\tmissing\n"
                }
            }
        }
        return SHA256.hex(SHA256.hash(Array(text.utf8)))
    }
}
