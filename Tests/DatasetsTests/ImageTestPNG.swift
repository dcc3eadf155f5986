import Foundation

/// A minimal PNG encoder for tests, independent of stb: uncompressed ("stored")
/// deflate blocks, filter 0 on every row. It writes the colour types a decoder has to
/// convert (gray, gray + alpha, palette, RGBA, 16-bit) so decoding can be checked
/// against values known by construction.
enum ImageTestPNG {
    enum ColorType: UInt8 { case gray = 0, rgb = 2, palette = 3, grayAlpha = 4, rgba = 6 }

    /// `rows`: raw samples per row (big-endian for 16-bit), without filter bytes.
    static func encode(width: Int, height: Int, colorType: ColorType, bitDepth: UInt8 = 8,
                       rows: [[UInt8]], palette: [UInt8]? = nil, transparency: [UInt8]? = nil) -> Data {
        var png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var ihdr = Data()
        ihdr.append(be32(width)); ihdr.append(be32(height))
        ihdr.append(contentsOf: [bitDepth, colorType.rawValue, 0, 0, 0])
        png.append(chunk("IHDR", ihdr))
        if let palette = palette { png.append(chunk("PLTE", Data(palette))) }
        if let trns = transparency { png.append(chunk("tRNS", Data(trns))) }
        var raw = [UInt8]()
        for row in rows { raw.append(0); raw.append(contentsOf: row) }
        png.append(chunk("IDAT", zlibStored(raw)))
        png.append(chunk("IEND", Data()))
        return png
    }

    private static func be32(_ v: Int) -> Data {
        Data([UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)])
    }

    private static func chunk(_ type: String, _ body: Data) -> Data {
        var out = be32(body.count)
        let typed = Data(type.utf8) + body
        out.append(typed)
        out.append(be32(Int(crc32(typed))))
        return out
    }

    /// zlib header, stored deflate blocks (at most 65535 bytes each), Adler-32.
    private static func zlibStored(_ bytes: [UInt8]) -> Data {
        var out = Data([0x78, 0x01])
        var offset = 0
        repeat {
            let n = min(65535, bytes.count - offset)
            let last: UInt8 = offset + n == bytes.count ? 1 : 0
            out.append(contentsOf: [last, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)])
            out.append(contentsOf: bytes[offset..<offset + n])
            offset += n
        } while offset < bytes.count
        var a: UInt32 = 1, b: UInt32 = 0
        for x in bytes { a = (a + UInt32(x)) % 65521; b = (b + a) % 65521 }
        out.append(be32(Int(b << 16 | a)))
        return out
    }

    private static func crc32(_ data: Data) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
