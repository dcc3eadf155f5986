import XCTest
import Foundation
import Autograd
import Core
import Training

final class SamplingTests: XCTestCase {
    let logits: [Float] = [0.3, 2.0, -1.0, 2.0, 1.1, 0.0]

    func testGreedyIsArgmaxWithLowestIndexOnTies() throws {
        XCTAssertEqual(try greedyToken(logits), 1)
        XCTAssertEqual(try greedyToken([-.infinity, -3, -2.5]), 2)
        var rng = RNG(seed: 1)
        XCTAssertEqual(try sampleToken(logits, config: .greedy, rng: &rng), 1)
        XCTAssertEqual(rng.counter, 0, "greedy draws no random numbers")
    }

    func testTinyTemperatureEqualsGreedy() throws {
        let row: [Float] = [0.5, 1.25, 1.2, -3, 1.0]
        var rng = RNG(seed: 3)
        for t: Float in [1e-2, 1e-3, 1e-6] {
            for _ in 0..<200 {
                XCTAssertEqual(try sampleToken(row, config: SamplingConfig(temperature: t), rng: &rng), 1, "T = \(t)")
            }
        }
    }

    /// Logits ln(0.5), ln(0.25), ln(0.15), ln(0.1): the nucleus for p is the
    /// shortest prefix of [0, 1, 2, 3] whose mass reaches p.
    func testTopPKeepsSmallestSetReachingP() throws {
        let probs = [0.5, 0.25, 0.15, 0.1]
        let row = [2, 0, 3, 1].map { Float(Foundation.log(probs[$0])) }   // token ids shuffled: 2, 0, 3, 1 ↔ ranks
        let expected: [(Float, [Int])] = [(0.3, [1]), (0.5, [1]), (0.6, [1, 3]), (0.74, [1, 3]),
                                          (0.8, [1, 3, 0]), (0.95, [1, 3, 0, 2]), (1, [1, 3, 0, 2])]
        for (p, tokens) in expected {
            let dist = try samplingDistribution(row, config: SamplingConfig(temperature: 1, topP: p))
            XCTAssertEqual(dist.map(\.token), tokens, "top-p \(p)")
            let kept = tokens.map { probs[[2, 0, 3, 1][$0]] }
            for (d, q) in zip(dist, kept) { XCTAssertEqual(d.probability, q / kept.reduce(0, +), accuracy: 1e-6) }
        }
    }

    func testTopKKeepsTheKMostLikely() throws {
        let dist = try samplingDistribution(logits, config: SamplingConfig(temperature: 1, topK: 3))
        XCTAssertEqual(dist.map(\.token), [1, 3, 4])
        let w = [2.0, 2.0, 1.1].map { Foundation.exp($0) }
        XCTAssertEqual(dist[2].probability, w[2] / w.reduce(0, +), accuracy: 1e-6)
        var rng = RNG(seed: 9)
        for _ in 0..<300 {
            XCTAssertTrue([1, 3, 4].contains(try sampleToken(logits, config: SamplingConfig(topK: 3), rng: &rng)))
        }
        // top-k then top-p: of {1, 3, 4} (0.41, 0.41, 0.17), p = 0.5 keeps {1, 3}.
        let both = try samplingDistribution(logits, config: SamplingConfig(temperature: 1, topK: 3, topP: 0.5))
        XCTAssertEqual(both.map(\.token), [1, 3])
    }

    func testSameSeedSameSamples() throws {
        let config = SamplingConfig(temperature: 0.9, topK: 5, topP: 0.95)
        func draw(_ seed: UInt64) throws -> [Int] {
            var rng = RNG(seed: seed).derived("sampling")
            return try (0..<100).map { _ in try sampleToken(logits, config: config, rng: &rng) }
        }
        XCTAssertEqual(try draw(42), try draw(42))
        XCTAssertNotEqual(try draw(42), try draw(43))
    }

    /// 3 tokens at T = 0.7, 40 000 draws: frequencies within 4σ of softmax(x/T).
    func testFrequenciesMatchTemperedSoftmax() throws {
        let row: [Float] = [1.0, 2.0, 0.5], t = 0.7, n = 40_000
        let e = row.map { Foundation.exp(Double($0) / t) }
        let expected = e.map { $0 / e.reduce(0, +) }
        var counts = [0, 0, 0]
        var rng = RNG(seed: 2024)
        for _ in 0..<n { counts[try sampleToken(row, config: SamplingConfig(temperature: Float(t)), rng: &rng)] += 1 }
        for i in 0..<3 {
            let freq = Double(counts[i]) / Double(n)
            let sigma = (expected[i] * (1 - expected[i]) / Double(n)).squareRoot()
            XCTAssertEqual(freq, expected[i], accuracy: 4 * sigma, "token \(i)")
        }
    }

    func testMaskedTokensAreNeverSampled() throws {
        let row: [Float] = [0, -.infinity, 0, -.infinity]
        var rng = RNG(seed: 5)
        for _ in 0..<200 { XCTAssertTrue([0, 2].contains(try sampleToken(row, config: SamplingConfig(), rng: &rng))) }
    }

    func testTensorRowDefaultsToLastRow() throws {
        let t = Tensor([5, 0, 0, 0, 0, 7], shape: [2, 3])
        var rng = RNG(seed: 1)
        XCTAssertEqual(try sampleToken(t, config: .greedy, rng: &rng), 2)
        XCTAssertEqual(try sampleToken(t, row: 0, config: .greedy, rng: &rng), 0)
        XCTAssertThrowsError(try sampleToken(t, row: 2, config: .greedy, rng: &rng))
    }

    func testBadInputsThrow() {
        var rng = RNG(seed: 1)
        XCTAssertThrowsError(try sampleToken([], config: SamplingConfig(), rng: &rng))
        XCTAssertThrowsError(try sampleToken([0, .nan], config: SamplingConfig(), rng: &rng)) {
            XCTAssertTrue("\($0)".contains("logit 1 is nan"), "\($0)")
        }
        XCTAssertThrowsError(try sampleToken([-.infinity, -.infinity], config: .greedy, rng: &rng))
        XCTAssertThrowsError(try sampleToken([0, 1], config: SamplingConfig(topP: 0), rng: &rng))
        XCTAssertThrowsError(try sampleToken([0, 1], config: SamplingConfig(topK: -1), rng: &rng))
    }
}
