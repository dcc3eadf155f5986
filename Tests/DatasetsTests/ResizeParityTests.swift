import XCTest
import Foundation
import TestSupport
import Checkpointing
import Datasets

/// Real photographs (reference/images) decoded, sliced with the default settings and
/// resized with the Pillow-compatible bicubic filter, against the uint8 slices and the
/// float strips the official pipeline produced (reference/images/resize/*.h5).
final class ResizeParityTests: XCTestCase {
    /// Difference counts between two uint8 buffers.
    struct Match {
        var total = 0, exact = 0, withinOne = 0, maxDiff = 0
        mutating func add(_ ours: [UInt8], _ theirs: [UInt8]) {
            for (a, b) in zip(ours, theirs) {
                let d = abs(Int(a) - Int(b))
                total += 1
                if d == 0 { exact += 1 }
                if d <= 1 { withinOne += 1 }
                maxDiff = max(maxDiff, d)
            }
        }
        var exactPercent: Double { 100 * Double(exact) / Double(max(total, 1)) }
        var withinOnePercent: Double { 100 * Double(withinOne) / Double(max(total, 1)) }
    }

    func fixtureFiles() throws -> [String] {
        let dir = Fixtures.reference("images/resize")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
            .filter { $0.hasSuffix(".h5") }.sorted()
        XCTAssertFalse(files.isEmpty, "no .h5 fixtures in \(dir)")
        return files.map { (dir as NSString).appendingPathComponent($0) }
    }

    func testSlicesMatchPillow() throws {
        var overall = Match()
        for file in try fixtureFiles() {
            let name = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
            let image = try RGBImage.load(path: Fixtures.reference("images/\(name).png"))
            let h5 = try HDF5File(readingAt: file)
            defer { h5.close() }

            XCTAssertEqual(try h5.attributeInt64s("source_size_wh", on: "/"),
                           [Int64(image.width), Int64(image.height)], "\(name): source size")
            let sliced = image.sliced()
            let cols = sliced.plan.grid?.cols ?? 0, rows = sliced.plan.grid?.rows ?? 0
            let grid: [Int64] = [Int64(cols), Int64(rows)]
            XCTAssertEqual(try h5.attributeInt64s("grid_cols_rows", on: "/"), grid, "\(name): grid")
            let tgt = try h5.readInt64s("tgt_sizes").values.map(Int.init)
            XCTAssertEqual(sliced.plan.tgtSizes.flatMap { [$0.h, $0.w] }, tgt, "\(name): tgt_sizes")

            let keys = try h5.members(of: "slices").sorted { Int($0)! < Int($1)! }
            XCTAssertEqual(keys.count, sliced.images.count, "\(name): number of slices")
            var match = Match()
            for (k, ours) in zip(keys, sliced.images) {
                let (expected, shape) = try h5.readUInt8s("slices/\(k)")
                XCTAssertEqual(shape, [ours.height, ours.width, 3], "\(name): slice \(k) shape")
                guard shape == [ours.height, ours.width, 3] else { continue }
                var one = Match()
                one.add(ours.pixels, expected)
                match.add(ours.pixels, expected)
                try checkStrip(ours, expected: expected, sliceMaxDiff: one.maxDiff, file: h5, key: k, name: name)
            }
            print(String(format: "ResizeParity %@: %d values, exact %.4f %%, within 1 %.4f %%, max diff %d",
                         name, match.total, match.exactPercent, match.withinOnePercent, match.maxDiff))
            overall.total += match.total; overall.exact += match.exact
            overall.withinOne += match.withinOne; overall.maxDiff = max(overall.maxDiff, match.maxDiff)
        }
        print(String(format: "ResizeParity all: %d values, exact %.4f %%, within 1 %.4f %%, max diff %d",
                     overall.total, overall.exactPercent, overall.withinOnePercent, overall.maxDiff))
        XCTAssertGreaterThan(overall.total, 0)
        XCTAssertGreaterThanOrEqual(overall.withinOnePercent, 99.9, "pixels within 1 of Pillow")
        XCTAssertLessThanOrEqual(overall.maxDiff, 2, "largest difference from Pillow")
        // The resampler reproduces Pillow's fixed-point arithmetic, so it is bit-exact on
        // these photos; a drift here means the arithmetic changed (e.g. weight rounding).
        XCTAssertEqual(overall.exact, overall.total, "bit-exact with Pillow")
    }

    /// pixel_values/<k>: the strip of our slice must equal the official float pixels
    /// (exactly up to float rounding when our bytes equal Pillow's), and the strip of
    /// the fixture's own bytes must match too (normalisation and layout on their own).
    private func checkStrip(_ ours: RGBImage, expected bytes: [UInt8], sliceMaxDiff: Int,
                            file h5: HDF5File, key k: String, name: String) throws {
        let (values, shape) = try h5.readFloats("pixel_values/\(k)")
        let patches = (ours.height / 14) * (ours.width / 14)
        XCTAssertEqual(shape, [3, 14, patches * 14], "\(name): pixel_values \(k) shape")
        let fromFixtureBytes = RGBImage(width: ours.width, height: ours.height, pixels: bytes)
            .normalizedPatchStrip(patchSize: 14)
        XCTAssertLessThanOrEqual(maxAbsDiff(fromFixtureBytes, values), 1e-5,
                                 "\(name): strip of the fixture's bytes, slice \(k)")
        let tolerance = 1e-5 + Float(sliceMaxDiff) * 2 / 255
        XCTAssertLessThanOrEqual(maxAbsDiff(ours.normalizedPatchStrip(patchSize: 14), values), tolerance,
                                 "\(name): strip of our slice \(k)")
    }

    private func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count else { return .infinity }
        var worst: Float = 0
        for (x, y) in zip(a, b) { worst = max(worst, abs(x - y)) }
        return worst
    }

    /// sources.json: decoded size, and grayscale sources come out with r = g = b.
    func testDecodedSourcesMatchTheirDescription() throws {
        struct Source: Decodable { let file: String; let size_wh: [Int]; let mode: String }
        let path = Fixtures.reference("images/sources.json")
        let sources = try JSONDecoder().decode([Source].self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertFalse(sources.isEmpty)
        for s in sources {
            let image = try RGBImage.load(path: Fixtures.reference("images/\(s.file)"))
            XCTAssertEqual([image.width, image.height], s.size_wh, s.file)
            if s.mode == "L" {
                let px = image.pixels
                var gray = true
                for i in stride(from: 0, to: px.count, by: 3) where px[i] != px[i + 1] || px[i] != px[i + 2] {
                    gray = false
                }
                XCTAssertTrue(gray, "\(s.file): gray source must give r = g = b")
            }
        }
    }
}
