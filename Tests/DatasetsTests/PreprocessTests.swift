import XCTest
import Foundation
import Datasets

/// Normalisation, the strip layout, placeholders variants and the preprocessor.
final class PreprocessTests: XCTestCase {
    /// A test pattern whose every value tells where it came from.
    private func pattern(width: Int, height: Int) -> RGBImage {
        var pixels = [UInt8]()
        for y in 0..<height { for x in 0..<width { for c in 0..<3 {
            pixels.append(UInt8((x * 7 + y * 13 + c * 50) % 256))
        } } }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    func testNormalisationMapsToMinusOneOne() {
        XCTAssertEqual(PixelNormalization.normalize(0), -1)
        XCTAssertEqual(PixelNormalization.normalize(255), 1)
        XCTAssertEqual(PixelNormalization.normalize(51), Float(51.0 / 255 * 2 - 1), accuracy: 1e-7)
    }

    func testStripLayoutPutsPatchKInColumnsOf14() {
        // 3 patches across, 2 down: L = 6, strip [3, 14, 84].
        let (w, h, p) = (42, 28, 14)
        let image = pattern(width: w, height: h)
        let strip = image.normalizedPatchStrip(patchSize: p)
        let gw = w / p, L = (h / p) * gw
        XCTAssertEqual(strip.count, 3 * p * L * p)
        for c in 0..<3 { for i in 0..<p { for k in 0..<L { for j in 0..<p {
            // README §1: strip[c, i, 14k + j] = image[c, 14·(k / w) + i, 14·(k % w) + j]
            let (y, x) = (p * (k / gw) + i, p * (k % gw) + j)
            let expected = PixelNormalization.normalize(UInt8((x * 7 + y * 13 + c * 50) % 256))
            XCTAssertEqual(strip[(c * p + i) * (L * p) + k * p + j], expected)
        } } } }
    }

    func testFloatReshapeAgreesWithTheByteVersion() {
        let (w, h, p) = (28, 42, 14)
        let image = pattern(width: w, height: h)
        var chw = [Float](repeating: 0, count: 3 * h * w)
        for y in 0..<h { for x in 0..<w { for c in 0..<3 {
            chw[(c * h + y) * w + x] = PixelNormalization.normalize(image.pixels[(y * w + x) * 3 + c])
        } } }
        XCTAssertEqual(reshapeByPatch(chw, channels: 3, height: h, width: w, patchSize: p),
                       image.normalizedPatchStrip(patchSize: p))
    }

    func testPlaceholderVariants() {
        let q = String(repeating: "<unk>", count: 64)
        let grid = SliceGrid(cols: 2, rows: 1)
        let hf = PlaceholderStyle(schema: .v2_6)
        XCTAssertEqual(hf.placeholder(grid: nil, imageIndex: 3), "<image_id>3</image_id><image>\(q)</image>")
        let finetune = PlaceholderStyle(schema: .v2_6, imageIDs: .slicedOnly)
        XCTAssertEqual(finetune.placeholder(grid: nil, imageIndex: 3), "<image>\(q)</image>")
        XCTAssertEqual(finetune.placeholder(grid: grid, imageIndex: 1),
                       "<image_id>1</image_id><image>\(q)</image><slice>\(q)</slice><slice>\(q)</slice>")
        let v20 = PlaceholderStyle(schema: .v2_0)
        XCTAssertEqual(v20.placeholder(grid: SliceGrid(cols: 1, rows: 2)),
                       "<image>\(q)</image><slice><image>\(q)</image>\n<image>\(q)</image></slice>")
        XCTAssertEqual(PlaceholderStyle(schema: .v2_5).queryTokenCount(grid: grid), 3 * 96)
        XCTAssertEqual(PlaceholderStyle.abbreviated(finetune.placeholder(grid: SliceGrid(cols: 1, rows: 2))),
                       "<image_id>0</image_id><image><unk>×64</image><slice><unk>×64</slice>\\n<slice><unk>×64</slice>")
    }

    func testPreprocessorBundlesStripsSizesAndPlaceholder() {
        let pre = ImagePreprocessor(slicing: SliceConfig(scaleResolution: 56))
        let out = pre(pattern(width: 120, height: 50), imageIndex: 2)
        XCTAssertEqual(out.grid, SliceGrid(cols: 2, rows: 1))
        XCTAssertEqual(out.strips.count, 3)
        XCTAssertEqual(out.tgtSizes.count, 3)
        for (strip, t) in zip(out.strips, out.tgtSizes) { XCTAssertEqual(strip.count, 3 * 14 * t.patchCount * 14) }
        XCTAssertTrue(out.placeholder.hasPrefix("<image_id>2</image_id><image>"))
        XCTAssertEqual(out.placeholder.components(separatedBy: "<slice>").count - 1, 2)
    }

    func testSliceConfigDecodesOfficialNamesWithDefaults() throws {
        let json = #"{"max_slice_nums": 4, "never_split": true, "resize_pass_order": "pillow13"}"#
        let config = try JSONDecoder().decode(SliceConfig.self, from: Data(json.utf8))
        XCTAssertEqual(config, SliceConfig(maxSliceNums: 4, scaleResolution: 448, patchSize: 14, neverSplit: true,
                                           resizePassOrder: .pillow13))
        XCTAssertEqual(try JSONDecoder().decode(SliceConfig.self, from: Data("{}".utf8)), SliceConfig())
    }

    func testInvalidSliceSettingsAreReported() {
        XCTAssertThrowsError(try SliceConfig(maxSliceNums: 0).validate()) { error in
            XCTAssertTrue("\(error)".contains("max_slice_nums"), "\(error)")
        }
        XCTAssertThrowsError(try SliceConfig(scaleResolution: 7).validate())
        XCTAssertNoThrow(try SliceConfig().validate())
    }
}
