import Training
import XCTest

final class ReadingMetricsTests: XCTestCase {
    func testEditDistance() {
        XCTAssertEqual(ReadingMetrics.editDistance(Array("kitten"), Array("sitting")), 3)
        XCTAssertEqual(ReadingMetrics.editDistance([], Array("abc")), 3)
        XCTAssertEqual(ReadingMetrics.editDistance(Array("abc"), Array("abc")), 0)
        XCTAssertEqual(ReadingMetrics.editDistance(Array("abc"), Array("acb")), 2)
    }

    func testReadingTakesQuotesOrTheWholeAnswer() {
        XCTAssertEqual(ReadingMetrics.reading(of: "The first line reads \"RED CAT\". The second line reads \"SUN 7\"."),
                       "RED CAT SUN 7")
        XCTAssertEqual(ReadingMetrics.reading(of: "RED CAT\nSUN 7"), "RED CAT\nSUN 7")
    }

    func testCharacterErrorsIgnoreCaseAndSpacing() {
        let e = ReadingMetrics.characterErrors(answer: "red  cat\nsun 7", reference: "RED CAT SUN 7")
        XCTAssertEqual(e.edits, 0)
        XCTAssertEqual(e.length, 13)
        XCTAssertEqual(ReadingMetrics.characterErrors(answer: "RED CAR SUN", reference: "RED CAT SUN 7").edits, 3)
    }

    func testSameAnswer() {
        XCTAssertTrue(ReadingMetrics.sameAnswer("Three.", "three"))
        XCTAssertTrue(ReadingMetrics.sameAnswer("A large  orange square.", "a large orange square"))
        XCTAssertFalse(ReadingMetrics.sameAnswer("Two.", "Three."))
        XCTAssertFalse(ReadingMetrics.sameAnswer("A large square.", "A large orange square."))
    }
}
