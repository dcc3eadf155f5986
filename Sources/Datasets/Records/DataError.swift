import Foundation

/// Errors of the data pipeline (formats, samples, packing, shard cache, data order).
///
/// Every description names the file (or sample) and the problem, so that a bad record in a
/// data set of thousands can be found and fixed from the message alone.
public enum DataError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// The file does not exist or cannot be read.
    case unreadable(file: String, reason: String)
    /// A record is not valid JSON, or is not an object where one is required.
    case malformed(file: String, line: Int, reason: String)
    /// A record is valid JSON but a field is missing or has the wrong type or value.
    case schema(file: String, line: Int, field: String, problem: String)
    /// A built sample breaks an invariant (image bounds, labels); it is never trained.
    case invalidSample(id: String, problem: String)
    /// A shard file is truncated, corrupt or from another format version.
    case corruptShard(file: String, reason: String)
    /// A saved data position does not fit the data set it is restored onto.
    case stateMismatch(reason: String)
    /// Loader or packing settings that cannot work.
    case invalidConfiguration(reason: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason): return "\(file): \(reason)"
        case let .malformed(file, line, reason): return "\(file):\(line): \(reason)"
        case let .schema(file, line, field, problem): return "\(file):\(line): field '\(field)': \(problem)"
        case let .invalidSample(id, problem): return "sample \(id): \(problem)"
        case let .corruptShard(file, reason): return "\(file): corrupt shard: \(reason)"
        case let .stateMismatch(reason): return "cannot restore the data position: \(reason)"
        case let .invalidConfiguration(reason): return "invalid data settings: \(reason)"
        }
    }

    public var errorDescription: String? { description }
}
