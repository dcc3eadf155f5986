import XCTest
import Foundation
import Autograd
import Core

final class RNGTests: XCTestCase {
    private func draws(_ rng: inout RNG, _ n: Int) -> [UInt64] { (0..<n).map { _ in rng.next() } }

    func testSameSeedSameStream() {
        var a = RNG(seed: 42), b = RNG(seed: 42), c = RNG(seed: 43)
        let (da, db, dc) = (draws(&a, 1000), draws(&b, 1000), draws(&c, 1000))
        XCTAssertEqual(da, db)
        XCTAssertNotEqual(da, dc)
        XCTAssertEqual(Set(da).count, 1000, "no repeats in a short stream")
        XCTAssertEqual(a, b)
    }

    func testDerivedStreamsDiffer() {
        let root = RNG(seed: 7)
        var s1 = root.derived("init"), s2 = root.derived("dropout"), s3 = root.derived("init"), r = root
        let (d1, d2, d3, dr) = (draws(&s1, 64), draws(&s2, 64), draws(&s3, 64), draws(&r, 64))
        XCTAssertEqual(d1, d3, "a purpose always derives the same stream")
        XCTAssertNotEqual(d1, d2)
        XCTAssertNotEqual(d1, dr)
        XCTAssertTrue(Set(d1).isDisjoint(with: Set(d2)))
        XCTAssertNotEqual(RNG(seed: 8).derived("init"), root.derived("init"))
    }

    func testSavedStateContinuesExactly() {
        var rng = RNG(seed: 99)
        _ = draws(&rng, 37)
        _ = rng.normal(); _ = rng.permutation(10)
        let (key, counter) = (rng.key, rng.counter)
        let expected = draws(&rng, 100) + [UInt64(rng.uniform().bitPattern), UInt64(rng.normal().bitPattern)]
        var restored = RNG(key: key, counter: counter)
        let got = draws(&restored, 100) + [UInt64(restored.uniform().bitPattern), UInt64(restored.normal().bitPattern)]
        XCTAssertEqual(got, expected)
    }

    func testCodableRoundTrip() throws {
        var rng = RNG(seed: 5).derived("shuffle")
        _ = draws(&rng, 11)
        let data = try JSONEncoder().encode(rng)
        var decoded = try JSONDecoder().decode(RNG.self, from: data)
        XCTAssertEqual(decoded, rng)
        XCTAssertEqual(draws(&decoded, 20), draws(&rng, 20))
    }

    /// Tensor fills (generated in parallel) hold exactly the serial stream's values.
    func testTensorFillsEqualTheSerialStream() {
        let n = 70_001
        var a = RNG(seed: 12), b = RNG(seed: 12)
        _ = a.next(); _ = b.next()
        XCTAssertEqual(Tensor.randn([n], std: 0.5, rng: &a).scalars, (0..<n).map { _ in b.normal() * 0.5 })
        XCTAssertEqual(a, b)
        XCTAssertEqual(Tensor.uniform([n], low: -1, high: 2, rng: &a).scalars, (0..<n).map { _ in -1 + 3 * b.uniform() })
        XCTAssertEqual(a, b)
        let dropped = dropout(Tensor.ones([n]), p: 0.25, rng: &a).scalars
        XCTAssertEqual(dropped, (0..<n).map { _ in b.uniform() < 0.25 ? 0 : 1 / 0.75 })
        XCTAssertEqual(a, b)
    }

    func testUniformRangeAndMoments() {
        var rng = RNG(seed: 1)
        let n = 20_000
        let u = (0..<n).map { _ in rng.uniform() }
        XCTAssertTrue(u.allSatisfy { $0 >= 0 && $0 < 1 })
        let mean = u.reduce(0.0) { $0 + Double($1) } / Double(n)
        XCTAssertEqual(mean, 0.5, accuracy: 0.01)
        let d = (0..<n).map { _ in rng.uniformDouble() }
        XCTAssertTrue(d.allSatisfy { $0 >= 0 && $0 < 1 })
        let t = Tensor.uniform([1000], low: -2, high: 3, rng: &rng).scalars
        XCTAssertTrue(t.allSatisfy { $0 >= -2 && $0 < 3 })
    }

    func testNormalMeanAndStd() {
        var rng = RNG(seed: 2)
        let n = 20_000
        let x = (0..<n).map { _ in Double(rng.normal()) }
        let mean = x.reduce(0, +) / Double(n)
        let std = (x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 0.03)                  // 4σ of the sample mean is 0.028
        XCTAssertEqual(std, 1, accuracy: 0.03)
        let within1 = Double(x.filter { Swift.abs($0) < 1 }.count) / Double(n)
        XCTAssertEqual(within1, 0.6827, accuracy: 0.015)
        let t = Tensor.randn([10_000], std: 0.5, rng: &rng).scalars.map(Double.init)
        let tStd = (t.reduce(0) { $0 + $1 * $1 } / 10_000).squareRoot()
        XCTAssertEqual(tStd, 0.5, accuracy: 0.02)
    }

    func testTruncatedNormal() {
        var rng = RNG(seed: 3)
        let x = (0..<5000).map { _ in rng.truncatedNormal(std: 1, a: -1, b: 1.5) }
        XCTAssertTrue(x.allSatisfy { $0 >= -1 && $0 <= 1.5 })
        XCTAssertGreaterThan(x.filter { $0 > 1 }.count, 100, "the upper tail up to 1.5 is used")
        let t = Tensor.truncatedNormal([4000], std: 0.02, rng: &rng).scalars
        let std = (t.reduce(0.0) { $0 + Double($1) * Double($1) } / 4000).squareRoot()
        XCTAssertEqual(std, 0.02, accuracy: 0.002)
    }

    func testPermutation() {
        var rng = RNG(seed: 4)
        for n in [0, 1, 2, 17, 1000] {
            let p = rng.permutation(n)
            XCTAssertEqual(p.sorted(), Array(0..<n), "a permutation of \(n)")
        }
        var a = RNG(seed: 4), b = RNG(seed: 4)
        XCTAssertEqual(a.permutation(50), b.permutation(50))
        XCTAssertNotEqual(a.permutation(50), Array(0..<50))
        // Every position receives every value over many draws (no fixed points forced).
        var firstValues = Set<Int>()
        for _ in 0..<400 { firstValues.insert(a.permutation(8)[0]) }
        XCTAssertEqual(firstValues.count, 8)
    }

    func testBelowIsInRangeAndCoversIt() {
        var rng = RNG(seed: 6)
        let x = (0..<2000).map { _ in rng.below(7) }
        XCTAssertEqual(Set(x), Set(0..<7))
    }

    func testDropout() {
        let x = Tensor.ones([10_000])
        var rng = RNG(seed: 10)
        let y = dropout(x, p: 0.3, rng: &rng).scalars
        let zeros = y.filter { $0 == 0 }.count
        XCTAssertEqual(Double(zeros) / 10_000, 0.3, accuracy: 0.02)
        XCTAssertTrue(y.allSatisfy { $0 == 0 || Swift.abs($0 - 1 / 0.7) < 1e-6 })
        var again = RNG(seed: 10)
        XCTAssertEqual(dropout(x, p: 0.3, rng: &again).scalars, y, "same stream, same mask")
        XCTAssertEqual(again, rng)
        XCTAssertEqual(dropout(x, p: 0, rng: &rng).scalars, x.scalars)
        // The gradient is the same mask.
        let leaf = randomTensor([4, 5], seed: 1).requiringGrad()
        var r1 = RNG(seed: 11)
        let out = dropout(leaf, p: 0.5, rng: &r1)
        out.sum().backward()
        let mask = zip(out.scalars, leaf.scalars).map { $0.0 == 0 ? Float(0) : Float(2) }
        XCTAssertEqual(leaf.grad!.scalars, mask)
    }
}
