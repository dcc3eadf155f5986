import XCTest
import Foundation
import TestSupport
import Datasets

/// Decoding, encoding and error reporting of `RGBImage`.
final class ImageTests: XCTestCase {
    // MARK: errors

    func testMissingFileNamesThePath() {
        let path = "/nonexistent/dir/photo.png"
        XCTAssertThrowsError(try RGBImage.load(path: path)) { error in
            XCTAssertEqual(error as? ImageError, .fileNotFound(path: path))
            XCTAssertTrue("\(error)".contains(path), "\(error)")
        }
    }

    /// A PNG whose header promises 16000×16000 pixels is refused before anything is decoded.
    func testImageAboveThePixelLimitIsRefusedBeforeDecoding() {
        func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        png += be32(13) + Array("IHDR".utf8) + be32(16_000) + be32(16_000) + [8, 2, 0, 0, 0] + be32(0)
        XCTAssertGreaterThan(16_000 * 16_000, RGBImage.pixelLimit)
        XCTAssertThrowsError(try RGBImage.decode(data: Data(png), source: "huge.png")) { e in
            XCTAssertEqual(e as? ImageError, .tooLarge(source: "huge.png", width: 16_000, height: 16_000,
                                                       limit: RGBImage.pixelLimit))
            XCTAssertTrue("\(e)".contains("huge.png"), "\(e)")
        }
    }

    func testCorruptBytesNameTheSource() throws {
        let garbage = Data((0..<300).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) })
        XCTAssertThrowsError(try RGBImage.decode(data: garbage, source: "record 17")) { error in
            guard case .corrupt(let source, _)? = error as? ImageError else {
                return XCTFail("expected .corrupt, got \(error)")
            }
            XCTAssertEqual(source, "record 17")
            XCTAssertTrue("\(error)".contains("record 17"), "\(error)")
        }
        XCTAssertThrowsError(try RGBImage.decode(data: Data(), source: "empty.png")) { error in
            XCTAssertTrue("\(error)".contains("empty.png"), "\(error)")
        }
    }

    func testTruncatedFileIsReportedWithItsPath() throws {
        let dir = try Fixtures.scratchDirectory("trainer-image-tests")
        defer { try? FileManager.default.removeItem(at: dir) }
        let full = ImageTestPNG.encode(width: 64, height: 64, colorType: .rgb,
                                       rows: Array(repeating: [UInt8](repeating: 99, count: 192), count: 64))
        let path = dir.appendingPathComponent("cut.png").path
        try full.prefix(full.count / 2).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try RGBImage.load(path: path)) { error in
            guard case .corrupt(let source, _)? = error as? ImageError else {
                return XCTFail("expected .corrupt, got \(error)")
            }
            XCTAssertEqual(source, path)
        }
        XCTAssertThrowsError(try RGBImage.load(path: dir.path)) { error in
            XCTAssertTrue("\(error)".contains(dir.path), "\(error)")
        }
    }

    // MARK: conversion to RGB (Pillow's convert("RGB"))

    func testRGBDecodesAsIs() throws {
        let rows: [[UInt8]] = [[1, 2, 3, 4, 5, 6], [7, 8, 9, 250, 251, 252]]
        let png = ImageTestPNG.encode(width: 2, height: 2, colorType: .rgb, rows: rows)
        let image = try RGBImage.decode(data: png, source: "rgb")
        XCTAssertEqual(image.width, 2)
        XCTAssertEqual(image.height, 2)
        XCTAssertEqual(image.pixels, rows.flatMap { $0 })
    }

    func testGrayIsReplicated() throws {
        let png = ImageTestPNG.encode(width: 3, height: 1, colorType: .gray, rows: [[0, 128, 255]])
        let image = try RGBImage.decode(data: png, source: "gray")
        XCTAssertEqual(image.pixels, [0, 0, 0, 128, 128, 128, 255, 255, 255])
    }

    func testAlphaIsDroppedNotComposited() throws {
        // Fully transparent pixels keep their colour: no blending onto white or black.
        let rgba = ImageTestPNG.encode(width: 2, height: 1, colorType: .rgba, rows: [[10, 20, 30, 0, 200, 100, 50, 128]])
        XCTAssertEqual(try RGBImage.decode(data: rgba, source: "rgba").pixels, [10, 20, 30, 200, 100, 50])
        let la = ImageTestPNG.encode(width: 2, height: 1, colorType: .grayAlpha, rows: [[77, 0, 200, 255]])
        XCTAssertEqual(try RGBImage.decode(data: la, source: "la").pixels, [77, 77, 77, 200, 200, 200])
    }

    func testPaletteIsExpanded() throws {
        let palette: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255]
        let png = ImageTestPNG.encode(width: 3, height: 1, colorType: .palette, rows: [[2, 0, 1]],
                                      palette: palette, transparency: [0, 255, 255])
        XCTAssertEqual(try RGBImage.decode(data: png, source: "palette").pixels,
                       [0, 0, 255, 255, 0, 0, 0, 255, 0])
    }

    func testSixteenBitKeepsTheHighByte() throws {
        let png = ImageTestPNG.encode(width: 1, height: 1, colorType: .rgb, bitDepth: 16,
                                      rows: [[0x12, 0xAB, 0xFF, 0xFF, 0x00, 0x80]])
        XCTAssertEqual(try RGBImage.decode(data: png, source: "16-bit").pixels, [0x12, 0xFF, 0x00])
    }

    // MARK: writing

    func testPNGRoundTripIsLossless() throws {
        let dir = try Fixtures.scratchDirectory("trainer-image-tests")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (w, h) = (37, 23)
        let pixels = (0..<(w * h * 3)).map { UInt8(truncatingIfNeeded: $0 &* 7919 >> 3) }
        let image = RGBImage(width: w, height: h, pixels: pixels)
        let path = dir.appendingPathComponent("roundtrip.png").path
        try image.writePNG(to: path)
        XCTAssertEqual(try RGBImage.load(path: path), image)
    }

    func testJPEGRoundTripIsClose() throws {
        let dir = try Fixtures.scratchDirectory("trainer-image-tests")
        defer { try? FileManager.default.removeItem(at: dir) }
        // A smooth gradient survives JPEG at high quality within a few levels.
        let (w, h) = (64, 48)
        var pixels = [UInt8]()
        for y in 0..<h { for x in 0..<w { pixels += [UInt8(x * 4), UInt8(y * 5), UInt8((x + y) * 2)] } }
        let image = RGBImage(width: w, height: h, pixels: pixels)
        let path = dir.appendingPathComponent("gradient.jpg").path
        try image.writeJPEG(to: path, quality: 95)
        let back = try RGBImage.load(path: path)
        XCTAssertEqual([back.width, back.height], [w, h])
        let worst = zip(back.pixels, pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, 12)
    }

    func testWriteIntoMissingDirectoryFails() {
        let path = "/nonexistent/dir/out.png"
        XCTAssertThrowsError(try RGBImage(width: 2, height: 2).writePNG(to: path)) { error in
            XCTAssertTrue("\(error)".contains(path), "\(error)")
        }
    }

    // MARK: crop and resize

    func testCropTakesTheBox() {
        let pixels = (0..<(4 * 3 * 3)).map { UInt8($0) }
        let image = RGBImage(width: 4, height: 3, pixels: pixels)
        let crop = image.cropped(x: 1, y: 1, width: 2, height: 2)
        // Rows 1-2, columns 1-2 of a 4-wide image: byte offsets (y*4 + x)*3.
        XCTAssertEqual(crop.pixels, [15, 16, 17, 18, 19, 20, 27, 28, 29, 30, 31, 32])
    }

    func testResizeKeepsConstantImagesConstant() {
        let image = RGBImage(width: 33, height: 21, fill: (200, 17, 90))
        for (w, h) in [(14, 14), (70, 42), (33, 50), (5, 21), (1, 1)] {
            let out = image.resizedBicubic(width: w, height: h)
            XCTAssertEqual(out, RGBImage(width: w, height: h, fill: (200, 17, 90)), "\(w)x\(h)")
        }
    }

    func testResizeToTheSameSizeIsIdentity() {
        let pixels = (0..<(9 * 7 * 3)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let image = RGBImage(width: 9, height: 7, pixels: pixels)
        XCTAssertEqual(image.resizedBicubic(width: 9, height: 7), image)
    }

    func testHalvingAStripeAveragesIt() {
        // Columns alternate 0/255: the antialiased 2x reduction must give mid-gray everywhere
        // except near the edges, where the normalised kernel is cut.
        var pixels = [UInt8]()
        for _ in 0..<8 { for x in 0..<32 { pixels += Array(repeating: x % 2 == 0 ? 0 : 255, count: 3) } }
        let out = RGBImage(width: 32, height: 8, pixels: pixels).resizedBicubic(width: 16, height: 8)
        for y in 0..<8 { for x in 2..<14 { XCTAssertEqual(Int(out[x, y].r), 128, accuracy: 1, "(\(x), \(y))") } }
    }

    /// 9x12 → 10x3 shrinks the height by 9 pixels and grows the width, so Pillow 13 runs
    /// the vertical pass first and Pillow ≤ 12 does not; the intermediate rounding differs.
    /// Expected bytes: `Image.fromarray(pattern).resize((10, 3), BICUBIC)` in each version.
    func testPassOrderMatchesEachPillowVersion() {
        let (w, h) = (9, 12)
        var pixels = [UInt8]()
        for y in 0..<h { for x in 0..<w { for c in 0..<3 {
            pixels.append(UInt8((x * 37 + y * 91 + c * 53 + x * y * 11) % 256))
        } } }
        let image = RGBImage(width: w, height: h, pixels: pixels)
        let pillow10: [UInt8] = [
            84, 142, 121, 133, 127, 154, 107, 159, 106, 148, 116, 135, 129, 130, 135, 111, 145, 121,
            134, 119, 131, 127, 127, 122, 131, 131, 103, 141, 99, 151, 116, 150, 137, 135, 142, 141,
            136, 114, 141, 150, 76, 137, 139, 118, 107, 105, 153, 118, 105, 138, 157, 150, 136, 136,
            161, 128, 91, 128, 144, 113, 148, 99, 157, 126, 146, 145, 123, 130, 117, 137, 113, 107,
            143, 90, 123, 158, 86, 134, 145, 122, 121, 101, 150, 117, 139, 121, 153, 115, 124, 129,
        ]
        let pillow13: [UInt8] = [
            84, 141, 120, 133, 128, 153, 107, 159, 106, 148, 116, 135, 129, 130, 136, 111, 144, 121,
            134, 119, 130, 126, 126, 122, 130, 131, 103, 141, 99, 151, 117, 150, 137, 135, 142, 141,
            136, 115, 141, 150, 76, 136, 139, 118, 107, 105, 153, 118, 105, 138, 156, 150, 136, 136,
            161, 127, 91, 128, 144, 112, 149, 99, 157, 127, 146, 144, 123, 130, 117, 136, 113, 107,
            143, 91, 123, 159, 86, 134, 145, 122, 120, 101, 150, 116, 140, 121, 154, 115, 124, 129,
        ]
        XCTAssertEqual(image.resizedBicubic(width: 10, height: 3, passOrder: .horizontalFirst).pixels, pillow10)
        XCTAssertEqual(image.resizedBicubic(width: 10, height: 3, passOrder: .pillow13).pixels, pillow13)
    }
}
