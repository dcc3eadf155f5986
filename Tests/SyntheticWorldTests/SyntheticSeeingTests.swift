import Datasets
import XCTest
import SyntheticWorld

/// The seeing figures of `trainer eval` on handcrafted descriptions of a handcrafted image.
final class SyntheticSeeingTests: XCTestCase {
    let scene = handcraftedScene
    var checker: SyntheticWorldChecker { SyntheticWorldChecker(truths: [scene]) }

    let faithful = "The image shows three shapes. The background is white. A large red circle is at the top left. "
        + "There is a small blue square in the center. At the bottom right there is a large green star."

    func testFaithfulDescriptionIsRightEverywhere() throws {
        let s = try XCTUnwrap(checker.seeing(description: faithful, imageID: "scene"))
        for a in SeeingAttribute.allCases { XCTAssertEqual(s.accuracy(a), 1, "\(a)") }
        XCTAssertEqual(s.checked[.color], 3)
        XCTAssertEqual(s.checked[.count], 1)
        XCTAssertEqual(s.recall, 1)
        XCTAssertEqual(s.whollyRightRate, 1)
        XCTAssertEqual(s.mentionHallucinationRate, 0)
        XCTAssertEqual(s.responseHallucinationRate, 0)
        XCTAssertEqual(s.smallShapesChecked, 1)
        XCTAssertEqual(s.smallShapeAccuracy, 1)
    }

    func testWrongShapeCostsShapeAndWholeObjectOnly() throws {
        let text = faithful.replacingOccurrences(of: "small blue square", with: "small blue diamond")
        let s = try XCTUnwrap(checker.seeing(description: text, imageID: "scene"))
        XCTAssertEqual(try XCTUnwrap(s.accuracy(.shape)), 2.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(s.accuracy(.color), 1)
        XCTAssertEqual(s.accuracy(.position), 1)
        XCTAssertEqual(s.smallShapeAccuracy, 0)
        XCTAssertEqual(s.recall, 1)                        // the square is still mentioned
        XCTAssertEqual(try XCTUnwrap(s.whollyRightRate), 2.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(s.hallucinatedMentions, 1)          // there is no diamond at all
        XCTAssertEqual(s.responseHallucinationRate, 1)
    }

    func testNamingFewerObjectsLowersRecallNotHallucination() throws {
        let s = try XCTUnwrap(checker.seeing(description: "There is a large red circle at the top left.", imageID: "scene"))
        XCTAssertEqual(s.mentionHallucinationRate, 0)
        XCTAssertEqual(try XCTUnwrap(s.recall), 1.0 / 3.0, accuracy: 1e-12)
        XCTAssertNil(s.accuracy(.count))
    }

    func testWrongCountBackgroundAndPosition() throws {
        let text = "There are two shapes in the image. The background is gray. A large red circle is on the right."
        let s = try XCTUnwrap(checker.seeing(description: text, imageID: "scene"))
        XCTAssertEqual(s.accuracy(.count), 0)
        XCTAssertEqual(s.accuracy(.background), 0)
        XCTAssertEqual(s.accuracy(.position), 0)
        XCTAssertEqual(s.accuracy(.color), 1)
        XCTAssertEqual(s.whollyRight, 0)
        XCTAssertEqual(s.hallucinatedMentions, 0)          // the red circle exists, elsewhere
    }

    func testScoresAddUp() throws {
        var total = SeeingScore()
        total.add(try XCTUnwrap(checker.seeing(description: faithful, imageID: "scene")))
        total.add(try XCTUnwrap(checker.seeing(description: "A yellow triangle on the left.", imageID: "scene")))
        XCTAssertEqual(total.responses, 2)
        XCTAssertEqual(total.objects, 6)
        XCTAssertEqual(total.responseHallucinationRate, 0.5)
        XCTAssertEqual(try XCTUnwrap(total.mentionHallucinationRate), 1.0 / 4.0, accuracy: 1e-12)
        XCTAssertNil(checker.seeing(description: faithful, imageID: "unknown"))
    }
}
