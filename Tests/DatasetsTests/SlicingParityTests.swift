import XCTest
import Foundation
import TestSupport
import Datasets

/// Every case of reference/slicing/cases.json: sizes, grid, tgt_sizes and placeholders
/// as produced by the official finetune code.
final class SlicingParityTests: XCTestCase {
    struct Case: Decodable {
        struct Input: Decodable {
            let width, height, max_slice_nums, scale_resolution, patch_size: Int
            let never_split: Bool
        }
        struct Expected: Decodable {
            let grid: [Int]?
            let overview: [Int]
            let refine: [Int]?
            let slice: [Int]?
            let tgt_sizes: [[Int]]
            let placeholder_2_6: String
            let placeholder_2_5: String
        }
        let input: Input
        let expected: Expected
    }

    func loadCases() throws -> [Case] {
        let path = Fixtures.reference("slicing/cases.json")
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let cases = try JSONDecoder().decode([Case].self, from: data)
        XCTAssertFalse(cases.isEmpty, "no cases in \(path)")
        return cases
    }

    private func plan(_ c: Case) -> SlicePlan {
        let config = SliceConfig(maxSliceNums: c.input.max_slice_nums, scaleResolution: c.input.scale_resolution,
                                 patchSize: c.input.patch_size, neverSplit: c.input.never_split)
        return SlicePlan(width: c.input.width, height: c.input.height, config: config)
    }

    private func label(_ c: Case) -> String {
        let i = c.input
        return "\(i.width)x\(i.height) max \(i.max_slice_nums) scale \(i.scale_resolution) never_split \(i.never_split)"
    }

    func testSizesAndGrid() throws {
        for c in try loadCases() {
            let p = plan(c)
            let name = label(c)
            XCTAssertEqual(p.grid.map { [$0.cols, $0.rows] }, c.expected.grid, "grid, \(name)")
            XCTAssertEqual([p.overviewSize.width, p.overviewSize.height], c.expected.overview, "overview, \(name)")
            XCTAssertEqual(p.refineSize.map { [$0.width, $0.height] }, c.expected.refine, "refine, \(name)")
            XCTAssertEqual(p.sliceSize.map { [$0.width, $0.height] }, c.expected.slice, "slice, \(name)")
            XCTAssertEqual(p.tgtSizes.map { [$0.h, $0.w] }, c.expected.tgt_sizes, "tgt_sizes, \(name)")
            XCTAssertEqual(p.imageCount, c.expected.tgt_sizes.count, "image count, \(name)")
        }
    }

    func testPlaceholders() throws {
        let v26 = PlaceholderStyle(schema: .v2_6)
        let v25 = PlaceholderStyle(schema: .v2_5)
        for c in try loadCases() {
            let grid = plan(c).grid
            XCTAssertEqual(v26.placeholder(grid: grid, imageIndex: 0), c.expected.placeholder_2_6,
                           "placeholder 2.6, \(label(c))")
            XCTAssertEqual(v25.placeholder(grid: grid), c.expected.placeholder_2_5,
                           "placeholder 2.5, \(label(c))")
        }
    }

    /// Slicing real pixels gives images of exactly the planned sizes, in order.
    func testSlicedImagesHavePlannedSizes() throws {
        // Small stand-ins keep this fast: scale_resolution 56 gives the same logic on tiny sizes.
        let config = SliceConfig(scaleResolution: 56)
        for (w, h) in [(100, 60), (60, 100), (40, 30), (250, 50)] {
            let image = RGBImage(width: w, height: h, fill: (10, 20, 30))
            let sliced = image.sliced(config: config)
            let sizes = sliced.images.map { TgtSize(h: $0.height / 14, w: $0.width / 14) }
            XCTAssertEqual(sizes, sliced.plan.tgtSizes, "\(w)x\(h)")
            for img in sliced.images {
                XCTAssertEqual(img.width % 14, 0)
                XCTAssertEqual(img.height % 14, 0)
            }
        }
    }
}
