import Core
import XCTest
import Autograd

/// Frozen bfloat16 matrices: rounding, widening, and `linear` with float32 GEMMs
/// on widened panels giving what the widened matrix gives.
final class BF16MatrixTests: XCTestCase {
    func testNarrowingRoundsToNearestEven() {
        XCTAssertEqual(BF16Matrix.narrow(1.0), 0x3F80)
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even (1.0).
        XCTAssertEqual(BF16Matrix.narrow(1 + 0x1p-8), 0x3F80)
        XCTAssertEqual(BF16Matrix.narrow(1 + 0x1p-7 + 0x1p-8), 0x3F82)            // tie → even mantissa 2
        XCTAssertEqual(BF16Matrix.narrow(1 + 0x1p-8 + 0x1p-12), 0x3F81)           // above half → up
        XCTAssertEqual(BF16Matrix.narrow(-2.5), 0xC020)
        XCTAssertTrue(Float(bitPattern: UInt32(BF16Matrix.narrow(.nan)) << 16).isNaN)
        XCTAssertEqual(Float(bitPattern: UInt32(BF16Matrix.narrow(.infinity)) << 16), .infinity)
    }

    func testWidenedValuesAreTheRoundedOnes() {
        var rng = RNG(seed: 3)
        let t = Tensor.uniform([37, 53], low: -4, high: 4, rng: &rng)
        let m = BF16Matrix(t)
        let back = m.tensor().scalars
        for (a, b) in zip(t.scalars, back) {
            XCTAssertLessThanOrEqual(abs(a - b), abs(a) * 0x1p-8)
            XCTAssertEqual(b.bitPattern & 0xFFFF, 0)                              // exactly representable in bf16
        }
        XCTAssertEqual(BF16Matrix(m.tensor()).tensor().scalars, back)             // narrowing is idempotent
    }

    func testLinearMatchesTheWidenedMatrixForwardAndBackward() {
        var rng = RNG(seed: 5)
        // More rows than one panel holds (panels of 2^20 / 3000 = 349 rows), with a bias.
        let w = BF16Matrix(Tensor.uniform([800, 3000], low: -0.05, high: 0.05, rng: &rng))
        let wide = w.tensor()
        let bias = Tensor.uniform([800], low: -1, high: 1, rng: &rng)
        let x0 = Tensor.uniform([2, 5, 3000], low: -1, high: 1, rng: &rng)
        let seed = Tensor.uniform([2, 5, 800], low: -1, high: 1, rng: &rng)

        let xa = x0.requiringGrad()
        let ya = linear(xa, w, bias)
        ya.backward(seed)
        let xb = x0.requiringGrad()
        let yb = linear(xb, wide, bias)
        yb.backward(seed)
        func worst(_ a: [Float], _ b: [Float]) -> Float {
            zip(a, b).map { abs($0 - $1) }.max()! / b.map(abs).max()!
        }
        XCTAssertEqual(ya.shape, [2, 5, 800])
        XCTAssertLessThan(worst(ya.scalars, yb.scalars), 1e-6)
        XCTAssertLessThan(worst(xa.grad!.scalars, xb.grad!.scalars), 1e-6)
    }
}
