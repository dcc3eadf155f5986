import Datasets
import Foundation
import SyntheticWorld
import XCTest

/// The written pixels agree with the ground truth (images decoded back from PNG).
final class SyntheticRenderingTests: XCTestCase {
    static var folder: URL!
    static var truths: [SyntheticImageTruth] = []

    override class func setUp() {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("synthetic-render-\(UUID().uuidString)")
        _ = try? SyntheticWorld.generate(to: folder, count: 80, documents: 8, seed: 11)
        truths = (try? SyntheticWorld.readMetadata(folder.appendingPathComponent("metadata.jsonl"))) ?? []
    }

    override class func tearDown() { try? FileManager.default.removeItem(at: folder) }

    func load(_ t: SyntheticImageTruth) throws -> RGBImage {
        try RGBImage.load(path: Self.folder.appendingPathComponent(t.image).path)
    }

    func same(_ a: (r: UInt8, g: UInt8, b: UInt8), _ b: (UInt8, UInt8, UInt8)) -> Bool {
        a.r == b.0 && a.g == b.1 && a.b == b.2
    }

    func testShapesMatchTheirGroundTruth() throws {
        let shapes = Self.truths.filter { $0.kind == .shapes }
        XCTAssertEqual(shapes.count, 80)
        var counts = [Int](repeating: 0, count: 5)
        for t in shapes {
            let image = try load(t)
            XCTAssertEqual([image.width, image.height], [224, 224])
            XCTAssertEqual(t.size, [224, 224])
            XCTAssertTrue(same(image[0, 0], t.background.rgb), t.id)
            let objects = try XCTUnwrap(t.objects)
            counts[objects.count] += 1
            for o in objects {
                let b = o.bbox
                XCTAssertEqual(b.count, 4)
                // The centre of the box is inside every shape, and nothing overlaps it.
                XCTAssertTrue(same(image[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2], o.color.rgb), "\(t.id) \(o)")
                // The box is tight: its edges hold the colour, the pixels just outside do not.
                let rows = b[1]..<b[3], cols = b[0]..<b[2]
                XCTAssertTrue(rows.contains { same(image[b[0], $0], o.color.rgb) }, "\(t.id) left edge")
                XCTAssertTrue(rows.contains { same(image[b[2] - 1, $0], o.color.rgb) }, "\(t.id) right edge")
                XCTAssertTrue(cols.contains { same(image[$0, b[1]], o.color.rgb) }, "\(t.id) top edge")
                XCTAssertTrue(cols.contains { same(image[$0, b[3] - 1], o.color.rgb) }, "\(t.id) bottom edge")
                if b[0] > 0 { XCTAssertFalse(rows.contains { same(image[b[0] - 1, $0], o.color.rgb) }, t.id) }
                if b[3] < 224 { XCTAssertFalse(cols.contains { same(image[$0, b[3]], o.color.rgb) }, t.id) }
                // The box lies in the grid cell its position names.
                let cell = 224.0 / 3
                XCTAssertGreaterThanOrEqual(Double(b[0]), Double(o.position.column) * cell)
                XCTAssertLessThanOrEqual(Double(b[2]), Double(o.position.column + 1) * cell)
                XCTAssertGreaterThanOrEqual(Double(b[1]), Double(o.position.row) * cell)
                XCTAssertLessThanOrEqual(Double(b[3]), Double(o.position.row + 1) * cell)
                // Small and large are far apart.
                let side = max(b[2] - b[0], b[3] - b[1])
                XCTAssertTrue(o.size == .small ? (38...50).contains(side) : (56...70).contains(side), "\(o) \(side)")
            }
            XCTAssertEqual(Set(objects.map(\.position)).count, objects.count, t.id)
        }
        XCTAssertEqual(counts[0], 0)
        XCTAssertTrue(counts[1...].allSatisfy { $0 > 5 }, "\(counts)")
    }

    /// Reads every glyph cell of every line back from the pixels.
    func testDocumentsPrintTheirLines() throws {
        let docs = Self.truths.filter { $0.kind == .document }
        XCTAssertEqual(docs.count, 8)
        for t in docs {
            let image = try load(t)
            XCTAssertEqual([image.width, image.height], [1344, 336])
            let scale = try XCTUnwrap(t.fontScale)
            let lines = try XCTUnwrap(t.lines), boxes = try XCTUnwrap(t.lineBoxes)
            XCTAssertEqual(lines.count, boxes.count)
            XCTAssertTrue((1...3).contains(lines.count))
            var inkPixels = 0
            for (line, box) in zip(lines, boxes) {
                XCTAssertEqual(box[2] - box[0], BitmapFont.width(of: line, scale: scale))
                for (k, c) in line.enumerated() {
                    for row in 0..<7 {
                        for column in 0..<5 {
                            let x = box[0] + k * 6 * scale + column * scale + scale / 2
                            let y = box[1] + row * scale + scale / 2
                            let ink = same(image[x, y], SyntheticLayout.textColor)
                            XCTAssertEqual(ink, BitmapFont.ink(c, column: column, row: row), "\(t.id) \(line) \(k)")
                            if ink { inkPixels += 1 }
                        }
                    }
                }
            }
            // No ink outside the lines: total dark pixels = inked font pixels × scale².
            var dark = 0
            for i in stride(from: 0, to: image.pixels.count, by: 3) where image.pixels[i] < 100 { dark += 1 }
            XCTAssertEqual(dark, inkPixels * scale * scale, t.id)
        }
    }

    /// Documents are cut into a 4×1 grid by the adaptive slicing; shapes images are never sliced.
    func testDocumentsNeedSlicing() {
        let doc = SlicePlan(width: SyntheticLayout.documentSize.width, height: SyntheticLayout.documentSize.height)
        XCTAssertEqual(doc.grid, SliceGrid(cols: 4, rows: 1))
        let shapes = SlicePlan(width: SyntheticLayout.shapesSize.width, height: SyntheticLayout.shapesSize.height)
        XCTAssertNil(shapes.grid)
    }

    func testNoiseOnlyTouchesTheBackground() throws {
        let (plain, a) = SyntheticWorld.image(.shapes, index: 2, total: 10, seed: 5)
        let (noisy, b) = SyntheticWorld.image(.shapes, index: 2, total: 10, seed: 5, noise: 8)
        XCTAssertEqual(plain, noisy)
        XCTAssertNotEqual(a.pixels, b.pixels)
        for o in plain.objects! {
            let x = (o.bbox[0] + o.bbox[2]) / 2, y = (o.bbox[1] + o.bbox[3]) / 2
            XCTAssertTrue(same(b[x, y], o.color.rgb))
        }
        var maxDiff = 0
        for i in a.pixels.indices { maxDiff = max(maxDiff, abs(Int(a.pixels[i]) - Int(b.pixels[i]))) }
        XCTAssertLessThanOrEqual(maxDiff, 8)
        XCTAssertGreaterThan(maxDiff, 0)
    }
}
