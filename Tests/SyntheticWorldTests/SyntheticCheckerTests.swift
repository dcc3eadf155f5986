import Core
import Datasets
import XCTest
import SyntheticWorld

/// A large red circle top left, a small blue square in the center, a large green star bottom right
/// (the handcrafted scene of the checker's tests and the seeing tests).
let handcraftedScene = SyntheticImageTruth(
    id: "scene", image: "images/scene.png", kind: .shapes, size: [224, 224], split: "train",
    background: .white,
    objects: [
        SyntheticObject(shape: .circle, color: .red, size: .large, position: .topLeft),
        SyntheticObject(shape: .square, color: .blue, size: .small, position: .center),
        SyntheticObject(shape: .star, color: .green, size: .large, position: .bottomRight),
    ])

/// The claim checker on handcrafted descriptions of handcrafted images.
final class SyntheticCheckerTests: XCTestCase {
    let scene = handcraftedScene
    let page = SyntheticImageTruth(
        id: "page", image: "images/page.png", kind: .document, size: [1344, 336], split: "train",
        background: .beige, lines: ["RED CAT 42", "SUN 7"])

    var checker: SyntheticWorldChecker { SyntheticWorldChecker(truths: [scene, page]) }

    let faithful = "There are three shapes. The background is white. A large red circle is at the top left. "
        + "There is a small blue square in the center. At the bottom right there is a large green star."

    func testFaithfulDescriptionHasNoWrongClaim() {
        let s = checker.score(description: faithful, imageID: "scene")
        XCTAssertEqual(s.claims.count, 5, "\(s.claims)")
        XCTAssertEqual(s.wrong, 0, "\(s.verdicts)")
        XCTAssertEqual(s.correct, 5)
        XCTAssertFalse(s.hallucinated)
        XCTAssertEqual(s.attributeAccuracy, 1)
        XCTAssertEqual(s.attributesChecked, 12)   // 3 objects × (shape, color, size, position)
    }

    func testExtraObjectIsOneWrongClaim() {
        let s = checker.score(description: "A red circle at the top left and a blue square in the center. "
                                  + "There is also a yellow triangle on the right.", imageID: "scene")
        XCTAssertEqual(s.claims.count, 3, "\(s.claims)")
        XCTAssertEqual(s.wrong, 1, "\(s.verdicts)")
        XCTAssertEqual(s.hallucinatedObjects, 1)
        XCTAssertTrue(s.hallucinated)
        XCTAssertTrue(s.verdicts[2].isWrong)
    }

    func testWrongColorIsOneWrongClaim() {
        let s = checker.score(description: faithful.replacingOccurrences(of: "blue square", with: "pink square"),
                              imageID: "scene")
        XCTAssertEqual(s.wrong, 1, "\(s.verdicts)")
        XCTAssertEqual(s.hallucinatedObjects, 0)
        XCTAssertEqual(s.attributesChecked, 12)
        XCTAssertEqual(s.attributesCorrect, 11)
        XCTAssertEqual(s.attributeAccuracy!, 11.0 / 12.0, accuracy: 1e-12)
    }

    func testWrongSizeShapeAndPositionAreDetected() {
        XCTAssertTrue(checker.check(claim: "a small red circle at the top left", imageID: "scene").isWrong)
        XCTAssertTrue(checker.check(claim: "a red square at the top left", imageID: "scene").isWrong)
        // The red circle exists, but not there: a wrong position, not an invented object.
        let moved = checker.score(description: "A red circle is at the bottom left.", imageID: "scene")
        XCTAssertEqual(moved.wrong, 1)
        XCTAssertEqual(moved.hallucinatedObjects, 0)
        XCTAssertEqual(moved.attributesCorrect, 2)
        XCTAssertEqual(moved.attributesChecked, 3)
        XCTAssertEqual(checker.check(claim: "The star is green", imageID: "scene"), .correct)
        XCTAssertEqual(checker.check(claim: "a big circle in the upper left", imageID: "scene"), .correct)
        XCTAssertTrue(checker.check(claim: "the star is blue", imageID: "scene").isWrong)
    }

    func testCountsAndNegations() {
        XCTAssertEqual(checker.check(claim: "There are three shapes", imageID: "scene"), .correct)
        XCTAssertEqual(checker.check(claim: "There are 3 objects", imageID: "scene"), .correct)
        XCTAssertTrue(checker.check(claim: "The image shows four shapes", imageID: "scene").isWrong)
        XCTAssertEqual(checker.check(claim: "There are no triangles", imageID: "scene"), .correct)
        XCTAssertTrue(checker.check(claim: "There are two stars", imageID: "scene").isWrong)
        XCTAssertEqual(checker.check(claim: "there is no green circle", imageID: "scene"), .correct)
        XCTAssertTrue(checker.check(claim: "there is no red circle", imageID: "scene").isWrong)
        XCTAssertEqual(checker.check(claim: "There is one large star", imageID: "scene"), .correct)
        XCTAssertEqual(checker.check(claim: "There is nothing at the top right", imageID: "scene"), .correct)
        XCTAssertTrue(checker.check(claim: "There is nothing in the center", imageID: "scene").isWrong)
    }

    func testClaimSplittingKeepsPlacesWithTheirObjects() {
        let s = checker.score(description: "At the top left, there is a large red circle; a small blue square "
                                  + "next to a large green star.", imageID: "scene")
        XCTAssertEqual(s.claims, ["At the top left, there is a large red circle", "a small blue square next to",
                                  "a large green star"])
        XCTAssertEqual(s.wrong, 0, "\(s.verdicts)")
        XCTAssertEqual(SyntheticWorldChecker.claims(in: "Two shapes: a red circle and a blue square."),
                       ["Two shapes", "a red circle", "a blue square"])
    }

    func testBackgroundAndFillerClaims() {
        XCTAssertEqual(checker.check(claim: "The background is white", imageID: "scene"), .correct)
        XCTAssertTrue(checker.check(claim: "The background is gray", imageID: "scene").isWrong)
        XCTAssertEqual(checker.check(claim: "It is a simple picture", imageID: "scene"), .unverifiable)
        // A shape with nothing said about it states no checkable fact.
        XCTAssertEqual(checker.check(claim: "The first shape", imageID: "scene"), .unverifiable)
        XCTAssertEqual(checker.check(claim: "There is a shape", imageID: "scene"), .unverifiable)
        XCTAssertEqual(checker.check(claim: "There is a shape at the top left", imageID: "scene"), .correct)
        XCTAssertEqual(checker.check(claim: "a red circle", imageID: "no-such-image"), .unverifiable)
        // Images are found by id, by their path in the data files, or by any path to the file.
        XCTAssertEqual(checker.check(claim: "a red circle", imageID: "images/scene.png"), .correct)
        XCTAssertEqual(checker.check(claim: "a red circle", imageID: "/data/synth/images/scene.png"), .correct)
        XCTAssertEqual(checker.truth(for: "scene")?.background, .white)
    }

    func testTextClaims() {
        let good = "A document with two lines of printed text. The first line reads \"RED CAT 42\". "
            + "The second line reads \"SUN 7\"."
        let s = checker.score(description: good, imageID: "page")
        XCTAssertEqual(s.claims.count, 3, "\(s.claims)")
        XCTAssertEqual(s.wrong, 0, "\(s.verdicts)")
        XCTAssertEqual(s.attributeAccuracy, nil)
        let misread = checker.score(description: good.replacingOccurrences(of: "SUN 7", with: "SUN 1"), imageID: "page")
        XCTAssertEqual(misread.wrong, 1)
        XCTAssertTrue(checker.check(claim: "A document with three lines of text", imageID: "page").isWrong)
        XCTAssertTrue(checker.check(claim: "The first line reads \"SUN 7\"", imageID: "page").isWrong)
        XCTAssertTrue(checker.check(claim: "The third line reads \"SUN 7\"", imageID: "page").isWrong)
        XCTAssertEqual(checker.check(claim: "It says \u{201C}cat 42\u{201D}", imageID: "page"), .correct)
        XCTAssertEqual(checker.check(claim: "The last word is \"7\"", imageID: "page"), .correct)
        XCTAssertTrue(checker.check(claim: "It reads \"CAT 4\"", imageID: "page").isWrong)
        // Text claimed on an image without text, objects claimed on a page.
        XCTAssertTrue(checker.check(claim: "It reads \"RED\"", imageID: "scene").isWrong)
        XCTAssertTrue(checker.check(claim: "a red circle", imageID: "page").isWrong)
    }

    /// Every generated caption and description is faithful, and every rejected
    /// answer has exactly the planted errors.
    func testGeneratedTextsAgreeWithTheChecker() {
        var truths: [SyntheticImageTruth] = []
        for i in 0..<60 { truths.append(SyntheticWorld.image(.shapes, index: i, total: 60, seed: 7).0) }
        for i in 0..<12 { truths.append(SyntheticWorld.image(.document, index: i, total: 12, seed: 7).0) }
        let checker = SyntheticWorldChecker(truths: truths)
        var planted = 0
        for (k, t) in truths.enumerated() {
            var rng = RNG(seed: UInt64(k))
            let description = SyntheticLanguage.description(t, rng: &rng)
            XCTAssertEqual(checker.score(description: description, imageID: t.id).wrong, 0, description)
            if t.kind == .shapes {
                let caption = SyntheticLanguage.caption(t, rng: &rng)
                let s = checker.score(description: caption, imageID: t.id)
                XCTAssertEqual(s.wrong, 0, caption)
                XCTAssertEqual(s.correct, s.claims.count, caption)
            }
            let pair = SyntheticPreference.pair(t, rng: &rng)
            XCTAssertEqual(checker.score(description: pair.chosen, imageID: t.id).wrong, 0, pair.chosen)
            let rejected = checker.score(description: pair.rejected, imageID: t.id)
            XCTAssertEqual(rejected.wrong, pair.wrongClaims, "\(pair.rejected) \(pair.hallucinations)")
            XCTAssertTrue((1...2).contains(pair.hallucinations.count))
            XCTAssertNotEqual(pair.chosen, pair.rejected)
            planted += pair.hallucinations.count
        }
        XCTAssertGreaterThan(planted, truths.count)
    }
}

/// Odd input never crashes the checker or the text generators.
final class SyntheticCheckerRobustnessTests: XCTestCase {
    func testOddDescriptions() {
        let page = SyntheticImageTruth(id: "p", image: "p.png", kind: .document, size: [10, 10], split: "train",
                                       background: .white, lines: [""])
        let empty = SyntheticImageTruth(id: "e", image: "e.png", kind: .shapes, size: [10, 10], split: "train",
                                        background: .gray, objects: [])
        let checker = SyntheticWorldChecker(truths: [page, empty])
        for text in ["", "...", "\"unclosed", "and and , ;", "The last word is \"X\"", "3.5 circles", "a a a circle",
                     "There are 99999999999999999999999 shapes", "\u{201C}", "top left", "The 9th line reads \"A\""] {
            for id in ["p", "e", "missing"] {
                let s = checker.score(description: text, imageID: id)
                XCTAssertEqual(s.verdicts.count, s.claims.count)
            }
        }
        XCTAssertTrue(checker.check(claim: "The last word is \"X\"", imageID: "p").isWrong)
        XCTAssertEqual(checker.check(claim: "There are no shapes", imageID: "e"), .correct)
        XCTAssertTrue(checker.check(claim: "The first shape", imageID: "e").isWrong, "no shape to speak of")
        var rng = RNG(seed: 1)
        for t in [page, empty] {
            _ = SyntheticLanguage.description(t, rng: &rng)
            _ = SyntheticQuestions.questions(t, count: 3, rng: &rng)
            _ = SyntheticPreference.pair(t, rng: &rng)
        }
    }
}
