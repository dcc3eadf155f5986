import XCTest
import Datasets

/// The `regions` format: per-cell labels of an image, read for the vision pre-training phase.
final class RegionRecordsTests: XCTestCase {
    func testRegionRecordsParseAndEnterThePipelineAsImagesWithoutText() throws {
        let folder = ScratchFolder()
        let file = folder.write("regions.jsonl", """
            {"id": "a", "image": "img/a.png", "grid": [1, 2], "labels": {"shape": ["star", null], "occupied": ["yes", "no"]}}
            {"image": "img/b.png", "grid": [2, 1], "labels": {"shape": [null, "circle"]}}
            """)
        let regions = try readRegionRecords(file)
        XCTAssertEqual(regions.map(\.id), ["a", "regions.jsonl:2"])
        XCTAssertEqual(regions[0].rows, 1)
        XCTAssertEqual(regions[0].columns, 2)
        XCTAssertEqual(regions[0].labels["shape"], ["star", nil])
        XCTAssertEqual(regions[0].labels["occupied"], ["yes", "no"])
        XCTAssertEqual(regions[1].image.path, folder.url.standardizedFileURL.path + "/img/b.png")

        // Detected from `labels`; the sample pipeline sees the image with an empty text.
        let records = try readRecords(file)
        guard case let .caption(c) = records[0] else { return XCTFail("expected an image record, got \(records[0])") }
        XCTAssertEqual(c.id, "a")
        XCTAssertEqual(c.caption, "")
    }

    func testBadRegionRecordsNameTheFileLineAndField() {
        let cases: [(String, String)] = [
            (#"{"image": "a.png", "labels": {"shape": ["star"]}}"#, "field 'grid': missing"),
            (#"{"image": "a.png", "grid": [0, 3], "labels": {"shape": []}}"#, "field 'grid': expected [rows, columns]"),
            (#"{"image": "a.png", "grid": [1, 2], "labels": {"shape": ["star"]}}"#, "field 'labels.shape': 1 cells for a 1×2 grid"),
            (#"{"image": "a.png", "grid": [1, 1], "labels": {"shape": [3]}}"#, "field 'labels.shape[0]': expected a class name or null"),
            (#"{"image": "a.png", "grid": [1, 1], "labels": {"shape": "star"}}"#, "field 'labels.shape': expected an array"),
            (#"{"image": "a.png", "grid": [1, 1], "labels": {}}"#, "field 'labels': expected an object"),
            (#"{"grid": [1, 1], "labels": {"shape": ["star"]}}"#, "field 'image': missing"),
        ]
        for (line, expected) in cases {
            let folder = ScratchFolder()
            let file = folder.write("r.jsonl", "\n" + line + "\n")
            XCTAssertThrowsError(try readRecords(file, format: .regions), line) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("r.jsonl:2"), "\(text) names the line")
                XCTAssertTrue(text.contains(expected), "\(text) should contain \(expected)")
            }
        }
    }

    func testCellsTakeThePatchesWhoseCentresTheyHold() throws {
        let folder = ScratchFolder()
        let file = folder.write("r.jsonl", #"{"image": "a.png", "grid": [3, 3], "labels": {"shape": [null, null, null, null, null, null, null, null, null]}}"#)
        let record = try readRegionRecords(file)[0]
        // 224 px at 14 px a patch: 16 × 16 patches, the grid lines at 74.7 and 149.3 px.
        let cells = record.cellPatches(patchRows: 16, patchColumns: 16)
        XCTAssertEqual(cells.map(\.count), [25, 30, 25, 30, 36, 30, 25, 30, 25])
        XCTAssertEqual(cells.flatMap { $0 }.sorted(), Array(0..<256), "every patch in exactly one cell")
        XCTAssertEqual(cells[0].prefix(6), [0, 1, 2, 3, 4, 16])
        XCTAssertTrue(cells[8].contains(255))
        // A non-square image: 2 patch rows, 5 columns.
        XCTAssertEqual(record.cellPatches(patchRows: 2, patchColumns: 5).map(\.count), [2, 1, 2, 0, 0, 0, 2, 1, 2])
    }
}
