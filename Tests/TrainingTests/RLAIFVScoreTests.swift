import XCTest
import SyntheticWorld
import Datasets
import Training

/// `RLAIFV.score` with a labeler plugged in through `ClaimChecker`: the score
/// counts wrong claims, and unverifiable ones too unless told to ignore them.
final class RLAIFVScoreTests: XCTestCase {
    /// Confirms claims naming red, refutes those naming blue, cannot read the rest.
    struct ColourLabeler: ClaimChecker {
        func check(claim: String, imageID: String) -> ClaimVerdict {
            claim.contains("red") ? .correct : claim.contains("blue") ? .wrong("it is red") : .unverifiable
        }
    }

    let sampled = [RLAIFV.Sampled(image: "a.png", question: "Describe.",
                                  responses: ["A red circle is at the top. A blue square is on the left.",
                                              "A red circle is at the top. At the top left there is white.",
                                              "A red circle is at the top."])]

    func testUnverifiableClaimsCountAsWrongByDefault() throws {
        let r = RLAIFV.score(sampled, checker: ColourLabeler())[0].responses
        XCTAssertEqual(r.map { $0.score }, [-1, -1, 0])
        XCTAssertEqual(r[0].wrong, ["A blue square is on the left"])
        XCTAssertEqual(r[1].wrong, [])
        XCTAssertEqual(r[1].unverifiable, ["At the top left there is white"])
        XCTAssertEqual(r[2].claims, ["A red circle is at the top"])
    }

    func testIgnoringUnverifiableClaims() throws {
        let r = RLAIFV.score(sampled, checker: ColourLabeler(), unverifiable: .ignore)[0].responses
        XCTAssertEqual(r.map { $0.score }, [-1, 0, 0])
        XCTAssertEqual(r[1].unverifiable, ["At the top left there is white"], "recorded either way")
    }

    /// An answer that trades a checkable claim for an unreadable one is not
    /// preferred to one that states only checked facts.
    func testPairsDoNotPreferUnreadableAnswers() throws {
        let scored = RLAIFV.score(sampled, checker: ColourLabeler())
        let (records, _) = try RLAIFV.pairs(scored, config: PairingConfig(minScoreGap: 1, maxPairsPerPrompt: 4, maxLengthRatio: nil))
        let answers = sampled[0].responses
        let pairs = records.map { [$0["chosen"]!, $0["rejected"]!] }
        XCTAssertFalse(pairs.contains { $0[1] == answers[2] }, "the checked-only answer is never rejected")
        XCTAssertTrue(pairs.contains([answers[2], answers[1]]), "it is chosen over the unreadable one")
    }
}

/// The evaluation's claim figures: unreadable claims stay outside the rate but
/// are reported per answer.
final class ClaimTallyTests: XCTestCase {
    func testRatesKeepUnverifiableClaimsApart() {
        var tally = ClaimTally()
        var first = DescriptionScore(), second = DescriptionScore()
        first.verdicts = [.correct, .wrong("it is red"), .unverifiable]
        second.verdicts = [.unverifiable, .unverifiable]
        tally.add(first); tally.add(second)
        var report = EvaluationReport(checkpoint: "c.h5", data: "d.jsonl")
        tally.write(into: &report)
        XCTAssertEqual(report.hallucinationRate, 0.5)
        XCTAssertEqual(report.claimsPerAnswer, 1.0)
        XCTAssertEqual(report.unverifiablePerAnswer, 1.5)
        XCTAssertEqual(report.responsesWithHallucination, 0.5)
        XCTAssertTrue(report.summary.contains("1.50 unverifiable"), report.summary)
    }

    func testNothingScoredLeavesTheRatesOut() {
        var report = EvaluationReport(checkpoint: "c.h5", data: "d.jsonl")
        ClaimTally().write(into: &report)
        XCTAssertNil(report.hallucinationRate)
        XCTAssertNil(report.unverifiablePerAnswer)
    }
}
