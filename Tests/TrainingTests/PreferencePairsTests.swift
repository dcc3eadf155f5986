import XCTest
import Training

final class PreferencePairsTests: XCTestCase {
    private func response(_ name: String, wrong: Int, tokens: Int = 20) -> ScoredResponse {
        ScoredResponse(text: "answer \(name)", wrongClaims: wrong, tokenCount: tokens)
    }

    private func pairs(_ group: [ScoredResponse], _ config: PairingConfig = PairingConfig()) throws -> [[Int]] {
        try buildPreferencePairs([group], config: config).pairs.map { [$0.chosen, $0.rejected] }
    }

    /// Wrong claims 0, 1, 3, 1. Candidates by gap: (0,2) 3; (1,2), (3,2) 2; (0,1), (0,3) 1.
    /// Disjoint pass takes (0,2) only; the second pass adds the next, (1,2).
    func testLargestGapsFirstPreferringDisjointPairs() throws {
        let group = [response("a", wrong: 0), response("b", wrong: 1), response("c", wrong: 3), response("d", wrong: 1)]
        XCTAssertEqual(try pairs(group), [[0, 2], [1, 2]])
        XCTAssertEqual(try pairs(group, PairingConfig(maxPairsPerPrompt: 5)), [[0, 2], [1, 2], [3, 2], [0, 1], [0, 3]])
        XCTAssertEqual(try pairs(group, PairingConfig(minScoreGap: 2)), [[0, 2], [1, 2]])
        XCTAssertEqual(try pairs(group, PairingConfig(minScoreGap: 3.5)), [])
    }

    /// Wrong claims 0, 0, 2, 2: the disjoint pass finds two pairs.
    func testDisjointPairsWhenAvailable() throws {
        let group = [response("a", wrong: 0), response("b", wrong: 0), response("c", wrong: 2), response("d", wrong: 2)]
        XCTAssertEqual(try pairs(group), [[0, 2], [1, 3]])
    }

    /// Equal scores never pair; a gap below the minimum never pairs.
    func testTiesAndSmallGapsGiveNoPairs() throws {
        XCTAssertEqual(try pairs([response("a", wrong: 1), response("b", wrong: 1)]), [])
        let fractional = [ScoredResponse(text: "x", score: -0.5, tokenCount: 9), ScoredResponse(text: "y", score: -1, tokenCount: 9)]
        XCTAssertEqual(try pairs(fractional), [])
    }

    /// Among equal score gaps the pair with closer lengths wins, then lower indices.
    func testTieBreakByLengthGapThenIndex() throws {
        let group = [response("a", wrong: 0, tokens: 30), response("b", wrong: 1, tokens: 20),
                     response("c", wrong: 1, tokens: 28)]
        XCTAssertEqual(try pairs(group, PairingConfig(maxPairsPerPrompt: 1)), [[0, 2]])
        let same = [response("a", wrong: 0), response("b", wrong: 1), response("c", wrong: 1)]
        XCTAssertEqual(try pairs(same, PairingConfig(maxPairsPerPrompt: 1)), [[0, 1]])
    }

    func testLengthLimitsSkipPairs() throws {
        let group = [response("short", wrong: 0, tokens: 10), response("long", wrong: 2, tokens: 25),
                     response("mid", wrong: 1, tokens: 15)]
        // Ratios: 0–1 2.5, 0–2 1.5, 2–1 1.67.
        XCTAssertEqual(try pairs(group, PairingConfig(maxLengthRatio: 2)), [[0, 2], [2, 1]])
        XCTAssertEqual(try pairs(group, PairingConfig(maxLengthRatio: 1.6)), [[0, 2]])
        XCTAssertEqual(try pairs(group, PairingConfig(maxLengthRatio: nil)), [[0, 1], [0, 2]])
        XCTAssertEqual(try pairs(group, PairingConfig(maxLengthRatio: nil, maxLengthGap: 5)), [[0, 2]])
        let zero = [response("empty", wrong: 0, tokens: 0), response("one", wrong: 1, tokens: 1)]
        XCTAssertEqual(try pairs(zero), [[0, 1]], "a 0-token response counts as length 1")
    }

    func testIdenticalTextsAreSkippedAndReported() throws {
        let group = [ScoredResponse(text: "A cat.", wrongClaims: 0, tokenCount: 3),
                     ScoredResponse(text: " A cat.\n", wrongClaims: 1, tokenCount: 3),
                     ScoredResponse(text: "A dog.", wrongClaims: 2, tokenCount: 3)]
        let (result, report) = try buildPreferencePairs([group, [], group], config: PairingConfig(maxPairsPerPrompt: 1))
        XCTAssertEqual(result.map { [$0.prompt, $0.chosen, $0.rejected] }, [[0, 0, 2], [2, 0, 2]])
        XCTAssertEqual(result[0].scoreGap, 2)
        XCTAssertEqual(report, PairingReport(prompts: 3, promptsWithPairs: 2, candidates: 6, skippedIdentical: 2,
                                             skippedLength: 0, skippedOverLimit: 2, pairs: 2))
    }

    func testDeterministic() throws {
        let groups = (0..<5).map { p in (0..<10).map { i in response("\(p)-\(i)", wrong: (i * 7 + p) % 4, tokens: 10 + (i * 3) % 7) } }
        let a = try buildPreferencePairs(groups), b = try buildPreferencePairs(groups)
        XCTAssertEqual(a.pairs, b.pairs)
        XCTAssertEqual(a.report, b.report)
        for p in 0..<5 { XCTAssertLessThanOrEqual(a.pairs.filter { $0.prompt == p }.count, 2) }
        XCTAssertTrue(a.pairs.allSatisfy { $0.scoreGap >= 1 })
    }

    func testBadInputsThrow() {
        XCTAssertThrowsError(try buildPreferencePairs([[response("a", wrong: 0)],
                                                       [ScoredResponse(text: "b", score: .nan, tokenCount: 1)]])) {
            XCTAssertTrue("\($0)".contains("prompt 1, response 0"), "\($0)")
        }
        XCTAssertThrowsError(try buildPreferencePairs([[ScoredResponse(text: "b", score: 0, tokenCount: -2)]]))
        XCTAssertThrowsError(try buildPreferencePairs([], config: PairingConfig(minScoreGap: 0)))
        XCTAssertThrowsError(try buildPreferencePairs([], config: PairingConfig(maxLengthRatio: 0.5)))
    }
}
