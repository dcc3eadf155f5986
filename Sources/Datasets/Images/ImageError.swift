import Foundation

/// Why an image could not be read, decoded or written. Every case names the file
/// (or the source the bytes came from) so that a message points at the culprit.
public enum ImageError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// No file at this path.
    case fileNotFound(path: String)
    /// The file exists but could not be read (permissions, a directory, I/O error).
    case unreadable(path: String, reason: String)
    /// The bytes are not an image stb can decode (truncated, corrupt, unknown format).
    case corrupt(source: String, reason: String)
    /// The decoded image has a size the pipeline cannot use.
    case invalidSize(source: String, width: Int, height: Int)
    /// More pixels than `RGBImage.pixelLimit`; refused before decoding.
    case tooLarge(source: String, width: Int, height: Int, limit: Int)
    /// Writing an image file failed.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "image file not found: \(path)"
        case .unreadable(let path, let reason):
            return "cannot read image file \(path): \(reason)"
        case .corrupt(let source, let reason):
            return "cannot decode image \(source): \(reason)"
        case .invalidSize(let source, let width, let height):
            return "image \(source) has unusable size \(width)x\(height)"
        case .tooLarge(let source, let width, let height, let limit):
            return "image \(source) is \(width)x\(height), more than \(limit) pixels "
                + "(TRAINER_MAX_IMAGE_PIXELS raises the limit)"
        case .writeFailed(let path, let reason):
            return "cannot write image file \(path): \(reason)"
        }
    }

    public var errorDescription: String? { description }
}
