import XCTest
import Foundation
import Autograd
import Core

/// a ∘ b with NumPy broadcasting, in Double.
private func referenceBinary(_ a: Tensor, _ b: Tensor, _ f: (Double, Double) -> Double) -> (shape: [Int], values: [Double]) {
    let r = max(a.rank, b.rank)
    let pa = [Int](repeating: 1, count: r - a.rank) + a.shape, pb = [Int](repeating: 1, count: r - b.rank) + b.shape
    let shape = zip(pa, pb).map { max($0, $1) }
    let (da, db) = (doubles(a), doubles(b))
    let values = (0..<shape.reduce(1, *)).map { i -> Double in
        let idx = unflatten(i, shape)
        return f(da[broadcastIndex(idx, into: pa)], db[broadcastIndex(idx, into: pb)])
    }
    return (shape, values)
}

private let gelu0 = (2 / Double.pi).squareRoot()

/// Unary ops with their Double references.
private let unaryCases: [(name: String, op: (Tensor) -> Tensor, ref: (Double) -> Double, domain: ClosedRange<Float>)] = [
    ("exp", { $0.exp() }, { Foundation.exp($0) }, -3...3),
    ("log", { $0.log() }, { Foundation.log($0) }, 0.3...3),
    ("sqrt", { $0.sqrt() }, { $0.squareRoot() }, 0.3...3),
    ("rsqrt", { $0.rsqrt() }, { 1 / $0.squareRoot() }, 0.3...3),
    ("square", { $0.square() }, { $0 * $0 }, -2...2),
    ("pow 2.5", { $0.pow(2.5) }, { Foundation.pow($0, 2.5) }, 0.3...2),
    ("pow -1.5", { $0.pow(-1.5) }, { Foundation.pow($0, -1.5) }, 0.3...2),
    ("pow 3", { $0.pow(3) }, { $0 * $0 * $0 }, -2...2),
    ("tanh", { $0.tanh() }, { Foundation.tanh($0) }, -4...4),
    ("sigmoid", { $0.sigmoid() }, { 1 / (1 + Foundation.exp(-$0)) }, -6...6),
    ("silu", { $0.silu() }, { $0 / (1 + Foundation.exp(-$0)) }, -6...6),
    ("geluTanh", { $0.geluTanh() }, { 0.5 * $0 * (1 + Foundation.tanh(gelu0 * ($0 + 0.044715 * $0 * $0 * $0))) }, -5...5),
    ("geluErf", { $0.geluErf() }, { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) }, -5...5),
]

/// Ops with a kink at 0 (checked on inputs away from it).
private let kinkedCases: [(name: String, op: (Tensor) -> Tensor, ref: (Double) -> Double)] = [
    ("abs", { $0.abs() }, { Swift.abs($0) }),
    ("relu", { $0.relu() }, { max($0, 0) }),
    ("clamp", { $0.clamp(min: -1, max: 1.1) }, { min(max($0, -1), 1.1) }),
    ("clamp min", { $0.clamp(min: 0.5) }, { max($0, 0.5) }),
]

final class ElementwiseTests: XCTestCase {
    private let broadcastPairs: [([Int], [Int])] = [
        ([3, 1, 5], [4, 1]), ([2, 3, 4], [4]), ([1], [2, 3]), ([], [2, 3]), ([2, 3], []),
        ([3, 5], [3, 5]), ([5, 1], [1, 3]), ([2, 1, 3, 1], [1, 4, 1, 5]),
    ]

    func testBinaryForwardBroadcasting() {
        let ops: [(String, (Tensor, Tensor) -> Tensor, (Double, Double) -> Double)] = [
            ("+", { $0 + $1 }, { $0 + $1 }), ("-", { $0 - $1 }, { $0 - $1 }),
            ("*", { $0 * $1 }, { $0 * $1 }), ("/", { $0 / $1 }, { $0 / $1 }),
        ]
        for (sa, sb) in broadcastPairs {
            let a = randomTensor(sa, seed: 1), b = awayFromZero(sb, seed: 2)
            for (name, op, ref) in ops {
                let c = op(a, b)
                let (shape, expected) = referenceBinary(a, b, ref)
                XCTAssertEqual(c.shape, shape, "\(sa) \(name) \(sb)")
                assertClose(c, expected, rtol: 1e-6, atol: 1e-6, "\(sa) \(name) \(sb)")
            }
        }
    }

    /// Large enough to split across threads; odd so the chunks are uneven.
    func testBinaryForwardLargeOddSizes() {
        let a = randomTensor([131, 257], seed: 3), b = awayFromZero([257], seed: 4), c = randomTensor([131, 257], seed: 5)
        let (_, e1) = referenceBinary(a, b, { $0 * $1 })
        assertClose(a * b, e1, rtol: 1e-6, atol: 1e-7, "row broadcast")
        let (_, e2) = referenceBinary(a, c, { $0 - $1 })
        assertClose(a - c, e2, rtol: 1e-6, atol: 1e-7, "same shape")
        let col = awayFromZero([131, 1], seed: 6)
        let (_, e3) = referenceBinary(a, col, { $0 / $1 })
        assertClose(a / col, e3, rtol: 1e-6, atol: 1e-7, "column broadcast")
    }

    func testBinaryGradientsBroadcasting() {
        for (sa, sb) in broadcastPairs {
            let a = randomTensor(sa, seed: 1), b = awayFromZero(sb, seed: 2)
            gradCheck([a, b], tolerance: 1e-2) { $0[0] + $0[1] }
            gradCheck([a, b], tolerance: 1e-2) { $0[0] - $0[1] }
            gradCheck([a, b], tolerance: 1e-2) { $0[0] * $0[1] }
            gradCheck([a, b], tolerance: 1e-2) { $0[0] / $0[1] }
        }
    }

    func testComposedExpression() {
        let a = randomTensor([3, 1, 4], seed: 1), b = randomTensor([2, 4], seed: 2)
        gradCheck([a, b], tolerance: 1e-2) { ($0[0] + $0[1]) * $0[1] - $0[0] / ($0[1].square() + 1) }
    }

    func testScalarOperands() {
        let a = awayFromZero([3, 5], seed: 3)
        let cases: [(String, (Tensor) -> Tensor, (Double) -> Double)] = [
            ("a+s", { $0 + 1.5 }, { $0 + 1.5 }), ("s+a", { 1.5 + $0 }, { 1.5 + $0 }),
            ("a-s", { $0 - 0.25 }, { $0 - 0.25 }), ("s-a", { 0.25 - $0 }, { 0.25 - $0 }),
            ("a*s", { $0 * -3 }, { $0 * -3 }), ("s*a", { -3 * $0 }, { -3 * $0 }),
            ("a/s", { $0 / 4 }, { $0 / 4 }), ("s/a", { 2 / $0 }, { 2 / $0 }), ("-a", { -$0 }, { -$0 }),
        ]
        for (name, op, ref) in cases {
            assertClose(op(a), doubles(a).map(ref), rtol: 1e-6, atol: 1e-7, name)
            gradCheck([a], tolerance: 1e-2) { op($0[0]) }
        }
    }

    func testUnaryForward() {
        for c in unaryCases {
            let x = uniformTensor([7, 9], seed: 11, c.domain.lowerBound, c.domain.upperBound)
            assertClose(c.op(x), doubles(x).map(c.ref), rtol: 3e-6, atol: 1e-6, c.name)
        }
        for c in kinkedCases {
            let x = awayFromZero([5, 7], seed: 12)
            assertClose(c.op(x), doubles(x).map(c.ref), rtol: 1e-6, atol: 1e-7, c.name)
        }
    }

    func testUnaryGradients() {
        for c in unaryCases {
            let x = uniformTensor([3, 5], seed: 13, c.domain.lowerBound, c.domain.upperBound)
            gradCheck([x], tolerance: 1e-2) { c.op($0[0]) }
        }
        // Both sides of every kink (0, −1, 0.5, 1.1), never within a probe step of one.
        let x = Tensor([-1.6, -1.3, -0.93, -0.7, -0.4, -0.25, -0.05, 0.07, 0.3, 0.45,
                        0.56, 0.8, 1.04, 1.17, 1.5, -2.2, 2.4, -0.6, 0.9, 1.3], shape: [4, 5])
        for c in kinkedCases {
            gradCheck([x], tolerance: 1e-2) { c.op($0[0]) }
        }
    }

    /// The kernels for the hot activations, over a wide range and a size that
    /// runs the multi-threaded, vectorised paths (odd, so loops have tails).
    func testHotUnaryOpsWideRange() {
        let n = 70_001
        let values = (0..<n).map { i in Float(-30 + 60 * Double(i) / Double(n - 1)) }
        let x = Tensor(values, shape: [n])
        let d = doubles(x)
        assertClose(x.exp(), d.map { Foundation.exp($0) }, rtol: 1e-6, atol: 0, "exp")
        assertClose(x.tanh(), d.map { Foundation.tanh($0) }, rtol: 1e-6, atol: 1e-7, "tanh")
        assertClose(x.sigmoid(), d.map { 1 / (1 + Foundation.exp(-$0)) }, rtol: 1e-6, atol: 0, "sigmoid")
        assertClose(x.silu(), d.map { $0 / (1 + Foundation.exp(-$0)) }, rtol: 1e-6, atol: 1e-30, "silu")
        // ½x(1 + tanh u) written as x·σ(2u): the Double reference must not cancel either.
        assertClose(x.geluTanh(), d.map { $0 / (1 + Foundation.exp(-2 * gelu0 * ($0 + 0.044715 * $0 * $0 * $0))) },
                    rtol: 1e-6, atol: 1e-7, "geluTanh")
    }

    /// The vector exp/tanh/sigmoid against Foundation in Double, densely over the
    /// whole range where the result is a normal float: relative error bounds.
    func testVectorisedMathAgainstFoundation() {
        func worst(_ lo: Double, _ hi: Double, _ op: (Tensor) -> Tensor, _ ref: (Double) -> Double) -> (Double, Float) {
            let n = 200_003
            let xs = (0..<n).map { Float(lo + (hi - lo) * Double($0) / Double(n - 1)) }
            let y = op(Tensor(xs, shape: [n])).scalars
            var w = 0.0, at: Float = 0
            for i in 0..<n {
                let e = ref(Double(xs[i]))
                guard Swift.abs(e) >= Double(Float.leastNormalMagnitude) else { continue }
                let rel = Swift.abs(Double(y[i]) - e) / Swift.abs(e)
                if !(rel <= w) { w = rel; at = xs[i] }
            }
            return (w, at)
        }
        let cases: [(String, Double, Double, (Tensor) -> Tensor, (Double) -> Double, Double)] = [
            ("exp", -87.3, 88.7, { $0.exp() }, { Foundation.exp($0) }, 1.2e-7),
            ("exp near 0", -0.5, 0.5, { $0.exp() }, { Foundation.exp($0) }, 1.2e-7),
            ("tanh", -12, 12, { $0.tanh() }, { Foundation.tanh($0) }, 2e-7),
            ("tanh near 0", -0.01, 0.01, { $0.tanh() }, { Foundation.tanh($0) }, 2e-7),
            ("sigmoid", -87, 40, { $0.sigmoid() }, { 1 / (1 + Foundation.exp(-$0)) }, 2e-7),
            ("silu", -80, 80, { $0.silu() }, { $0 / (1 + Foundation.exp(-$0)) }, 2e-7),
            // Below −3 GELU's exponent 2u is large and the float rounding of u alone
            // moves the result by |2u|·6e-8 (the function is ill-conditioned there).
            ("geluTanh", -3, 9, { $0.geluTanh() },
             { $0 / (1 + Foundation.exp(-2 * gelu0 * ($0 + 0.044715 * $0 * $0 * $0))) }, 1e-6),
        ]
        for (name, lo, hi, op, ref, bound) in cases {
            let (w, at) = worst(lo, hi, op, ref)
            XCTAssertLessThanOrEqual(w, bound, "\(name): relative error \(w) at x = \(at)")
        }
    }

    func testSpecialValues() {
        let x = Tensor([-Float.infinity, .infinity, 0, -0.0, 100, -100, -200], shape: [7])
        let e = x.exp().scalars
        XCTAssertEqual(e[0], 0); XCTAssertEqual(e[1], .infinity); XCTAssertEqual(e[2], 1)
        XCTAssertEqual(e[4], .infinity); XCTAssertEqual(e[6], 0)
        XCTAssertEqual(Double(e[5]), Foundation.exp(-100.0), accuracy: 3e-45)
        let t = x.tanh().scalars
        XCTAssertEqual(t[0], -1); XCTAssertEqual(t[1], 1); XCTAssertEqual(t[2], 0); XCTAssertEqual(t[4], 1)
        let s = x.sigmoid().scalars
        XCTAssertEqual(s[0], 0); XCTAssertEqual(s[1], 1); XCTAssertEqual(s[2], 0.5); XCTAssertEqual(s[6], 0)
        XCTAssertTrue(Tensor([.nan], shape: [1]).exp().scalars[0].isNaN)
        XCTAssertTrue(Tensor([.nan], shape: [1]).tanh().scalars[0].isNaN)
    }
}
