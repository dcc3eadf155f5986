import Foundation
import CStb

/// An 8-bit RGB image, row-major, channels interleaved: `pixels[(y * width + x) * 3 + c]`.
///
/// This is the image every part of the pipeline works on: decoding converts any
/// source (grayscale, grayscale + alpha, palette, RGBA, 16-bit) to it, the way
/// Pillow's `Image.convert("RGB")` does — gray is replicated into the three
/// channels and alpha is dropped, not composited onto a background.
public struct RGBImage: Equatable {
    public let width: Int
    public let height: Int
    /// [H, W, 3]
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0, "negative image size")
        precondition(pixels.count == width * height * 3,
                     "pixel buffer holds \(pixels.count) bytes, \(width)x\(height)x3 needs \(width * height * 3)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// An image filled with one colour.
    public init(width: Int, height: Int, fill: (r: UInt8, g: UInt8, b: UInt8) = (0, 0, 0)) {
        var px = [UInt8](repeating: 0, count: width * height * 3)
        for i in stride(from: 0, to: px.count, by: 3) {
            px[i] = fill.r; px[i + 1] = fill.g; px[i + 2] = fill.b
        }
        self.init(width: width, height: height, pixels: px)
    }

    /// The three channel values at column x, row y.
    public subscript(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8) {
        let i = (y * width + x) * 3
        return (pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// The rectangle [x, x+w) × [y, y+h), which must lie inside the image
    /// (Pillow's `crop((x, y, x+w, y+h))` for in-bounds boxes).
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) -> RGBImage {
        precondition(x >= 0 && y >= 0 && w >= 0 && h >= 0 && x + w <= width && y + h <= height,
                     "crop box (\(x), \(y), \(w)x\(h)) outside a \(width)x\(height) image")
        var out = [UInt8](repeating: 0, count: w * h * 3)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for row in 0..<h {
                    let from = src.baseAddress! + ((y + row) * width + x) * 3
                    (dst.baseAddress! + row * w * 3).update(from: from, count: w * 3)
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }
}

// MARK: - Decoding and encoding (stb_image / stb_image_write)

extension RGBImage {
    /// Reads and decodes an image file (PNG, JPEG, BMP, GIF's first frame, TGA, PSD,
    /// PNM, HDR — whatever stb_image reads).
    public static func load(path: String) throws -> RGBImage {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ImageError.fileNotFound(path: path)
        }
        if isDir.boolValue { throw ImageError.unreadable(path: path, reason: "it is a directory") }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ImageError.unreadable(path: path, reason: error.localizedDescription)
        }
        return try decode(data: data, source: path)
    }

    /// The most pixels an image may have: larger ones are refused before they are decoded
    /// (a small PNG can hold a gigapixel of one colour). Pillow's own bound, 2 × 89,478,485;
    /// set `TRAINER_MAX_IMAGE_PIXELS` to change it.
    public static let pixelLimit: Int = {
        if let v = ProcessInfo.processInfo.environment["TRAINER_MAX_IMAGE_PIXELS"], let n = Int(v), n > 0 { return n }
        return 178_956_970
    }()

    /// Decodes encoded image bytes; `source` names them in errors (a path or a record id).
    public static func decode(data: Data, source: String) throws -> RGBImage {
        if data.isEmpty { throw ImageError.corrupt(source: source, reason: "no data (empty file)") }
        guard data.count <= Int(Int32.max) else {
            throw ImageError.corrupt(source: source, reason: "\(data.count) bytes is more than stb_image accepts")
        }
        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> RGBImage in
            let bytes = raw.bindMemory(to: UInt8.self)
            var w: Int32 = 0, h: Int32 = 0, channelsInFile: Int32 = 0
            if stbi_info_from_memory(bytes.baseAddress, Int32(bytes.count), &w, &h, &channelsInFile) == 1,
               Int(w) * Int(h) > pixelLimit {
                throw ImageError.tooLarge(source: source, width: Int(w), height: Int(h), limit: pixelLimit)
            }
            // Asking for 3 channels makes stb convert gray → RGB (replicated) and drop
            // alpha, which is what Pillow's convert("RGB") does.
            guard let decoded = stbi_load_from_memory(bytes.baseAddress, Int32(bytes.count),
                                                      &w, &h, &channelsInFile, 3) else {
                throw ImageError.corrupt(source: source, reason: failureReason())
            }
            defer { stbi_image_free(decoded) }
            guard w > 0, h > 0 else {
                throw ImageError.invalidSize(source: source, width: Int(w), height: Int(h))
            }
            let count = Int(w) * Int(h) * 3
            let pixels = [UInt8](UnsafeBufferPointer(start: decoded, count: count))
            return RGBImage(width: Int(w), height: Int(h), pixels: pixels)
        }
    }

    /// Writes the image as an 8-bit RGB PNG.
    public func writePNG(to path: String) throws {
        try checkWritable(path)
        let ok = pixels.withUnsafeBytes { raw in
            stbi_write_png(path, Int32(width), Int32(height), 3, raw.baseAddress, Int32(width * 3))
        }
        guard ok != 0 else {
            throw ImageError.writeFailed(path: path, reason: "stb_image_write failed (permissions or disk full?)")
        }
    }

    /// Writes the image as a baseline JPEG; `quality` 1...100 (stb_image_write's encoder).
    public func writeJPEG(to path: String, quality: Int = 90) throws {
        try checkWritable(path)
        guard (1...100).contains(quality) else {
            throw ImageError.writeFailed(path: path, reason: "JPEG quality \(quality) is outside 1...100")
        }
        let ok = pixels.withUnsafeBytes { raw in
            stbi_write_jpg(path, Int32(width), Int32(height), 3, raw.baseAddress, Int32(quality))
        }
        guard ok != 0 else {
            throw ImageError.writeFailed(path: path, reason: "stb_image_write failed (permissions or disk full?)")
        }
    }

    /// A non-empty image and an existing directory: what stb cannot tell us about.
    private func checkWritable(_ path: String) throws {
        guard width > 0, height > 0 else {
            throw ImageError.writeFailed(path: path, reason: "cannot encode an empty \(width)x\(height) image")
        }
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty, !FileManager.default.fileExists(atPath: dir) {
            throw ImageError.writeFailed(path: path, reason: "directory \(dir) does not exist")
        }
    }

    /// stb's reasons are terse ("bad png sig"); keep them, and say what they mean.
    private static func failureReason() -> String {
        guard let c = stbi_failure_reason() else { return "unknown decoding error" }
        let reason = String(cString: c)
        switch reason {
        case "unknown image type": return "not a recognised image format (unknown image type)"
        case "outofmem": return "out of memory while decoding"
        case "outofdata": return "truncated data (the file ends too early)"
        default: return "corrupt or unsupported image data (\(reason))"
        }
    }
}
