import Foundation
import CZstd

/// One-shot zstd frames over libzstd.
enum Zstd {
    /// `ZSTD_CONTENTSIZE_UNKNOWN` and `ZSTD_CONTENTSIZE_ERROR` are macros Swift does not import.
    static let contentSizeUnknown = UInt64.max
    static let contentSizeError = UInt64.max - 1

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// A single frame that records its content size (so decompression knows the output size).
    static func compress(_ input: [UInt8], level: Int32 = 3) throws -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        guard ZSTD_isError(bound) == 0 else { throw Failure(description: "input of \(input.count) bytes is too large for zstd") }
        var out = [UInt8](repeating: 0, count: bound)
        let written = out.withUnsafeMutableBytes { dst in
            input.withUnsafeBytes { src in
                ZSTD_compress(dst.baseAddress, bound, src.baseAddress, src.count, level)
            }
        }
        guard ZSTD_isError(written) == 0 else { throw Failure(description: "zstd: " + String(cString: ZSTD_getErrorName(written))) }
        out.removeSubrange(written...)
        return out
    }

    /// The content of one frame; the frame must state its size (ours always do).
    static func decompress(_ input: UnsafeRawBufferPointer) throws -> [UInt8] {
        let size = ZSTD_getFrameContentSize(input.baseAddress, input.count)
        guard size != contentSizeError else { throw Failure(description: "not a zstd frame") }
        guard size != contentSizeUnknown else { throw Failure(description: "zstd frame without a content size") }
        guard size < UInt64(Int.max) else { throw Failure(description: "zstd frame claims \(size) bytes") }
        var out = [UInt8](repeating: 0, count: Int(size))
        let got = out.withUnsafeMutableBytes { dst in
            ZSTD_decompress(dst.baseAddress, dst.count, input.baseAddress, input.count)
        }
        guard ZSTD_isError(got) == 0 else { throw Failure(description: "zstd: " + String(cString: ZSTD_getErrorName(got))) }
        guard got == Int(size) else { throw Failure(description: "zstd frame gave \(got) of \(size) bytes") }
        return out
    }
}
