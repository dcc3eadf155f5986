import Datasets
import Foundation
import XCTest

/// What `trainer preprocess` reports, from the same plan and placeholders as training.
final class PreprocessReportTests: XCTestCase {
    func testReportAddsUpThePlan() throws {
        let style = PlaceholderStyle(schema: .v2_6)
        let plan = SlicePlan(width: 1344, height: 336, config: SliceConfig())
        let r = PreprocessReport(plan: plan, style: style, imageIndex: 0, source: nil)
        XCTAssertEqual(r.images, plan.tgtSizes.count)
        XCTAssertEqual(r.images, 1 + (plan.grid.map { $0.cols * $0.rows } ?? 0))
        XCTAssertEqual(r.visionPatches, plan.tgtSizes.reduce(0) { $0 + $1.h * $1.w })
        XCTAssertEqual(r.queryTokens, r.images * 64)
        XCTAssertEqual(r.placeholder, style.placeholder(grid: plan.grid, imageIndex: 0))
        XCTAssertGreaterThan(r.placeholderTokens, r.queryTokens)
        let json = try JSONSerialization.jsonObject(with: Data(try r.json().utf8)) as? [String: Any]
        XCTAssertEqual(json?["query_tokens"] as? Int, r.queryTokens)
        XCTAssertTrue(r.table().contains("vision patches"))
    }
}
