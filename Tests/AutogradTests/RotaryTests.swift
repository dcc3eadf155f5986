import XCTest
import Foundation
import Autograd
import Core

/// Rotate-half RoPE in Double: pairs (i, i + Dh/2) turn by position·ω_i with
/// ω_i = θ^(−2i/Dh). The reference models keep ω as a Float32 buffer (and the
/// fixtures promote it to Double), so ω is rounded to Float32 here too.
private func referenceRotary(_ x: Tensor, positions: [Int32], theta: Double) -> [Double] {
    let (b, t, h, dh) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let half = dh / 2, d = doubles(x)
    var out = d
    for n in 0..<(b * t) {
        for hh in 0..<h {
            let base = (n * h + hh) * dh
            for i in 0..<half {
                let omega = Double(Float(1 / Foundation.pow(theta, Double(2 * i) / Double(dh))))
                let angle = Double(positions[n]) * omega
                let (x1, x2) = (d[base + i], d[base + i + half])
                out[base + i] = x1 * Foundation.cos(angle) - x2 * Foundation.sin(angle)
                out[base + i + half] = x2 * Foundation.cos(angle) + x1 * Foundation.sin(angle)
            }
        }
    }
    return out
}

final class RotaryTests: XCTestCase {
    func testForwardMatchesReference() {
        let x = randomTensor([2, 5, 3, 8], seed: 1)
        let positions: [Int32] = [0, 1, 2, 3, 4, 0, 1, 2, 0, 1]       // second row packs two samples
        let y = rotaryEmbedding(x, positions: positions, theta: 10_000)
        assertClose(y, referenceRotary(x, positions: positions, theta: 10_000), rtol: 1e-5, atol: 2e-6, "rope")
        let far: [Int32] = [7, 100, 1000, 4095, 31, 9, 8, 2000, 65, 3]
        assertClose(rotaryEmbedding(x, positions: far, theta: 1_000_000),
                    referenceRotary(x, positions: far, theta: 1_000_000), rtol: 1e-5, atol: 2e-6, "rope far positions")
    }

    /// Position 0 is the identity; a rotation keeps each pair's length.
    func testIdentityAndNorm() {
        let x = randomTensor([1, 3, 2, 6], seed: 2)
        let y = rotaryEmbedding(x, positions: [0, 0, 0], theta: 10_000)
        XCTAssertEqual(y.scalars, x.scalars)
        let z = rotaryEmbedding(x, positions: [5, 17, 123], theta: 10_000)
        let (dx, dz) = (x.scalars, z.scalars)
        for base in stride(from: 0, to: x.count, by: 6) {
            for i in 0..<3 {
                let a = dx[base + i] * dx[base + i] + dx[base + i + 3] * dx[base + i + 3]
                let b = dz[base + i] * dz[base + i] + dz[base + i + 3] * dz[base + i + 3]
                XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, a))
            }
        }
    }

    /// The same positions give the same rotation wherever they sit (packing).
    func testRestartedPositionsMatch() {
        let token = randomTensor([1, 1, 2, 4], seed: 3)
        let x = concat([token, randomTensor([1, 2, 2, 4], seed: 4), token], axis: 1)     // [1, 4, 2, 4]
        let y = rotaryEmbedding(x, positions: [3, 4, 5, 3], theta: 500).scalars
        XCTAssertEqual(Array(y[0..<8]), Array(y[24..<32]))
    }

    /// Tables are reused between calls: a call with other positions of the same
    /// length (or another θ or head size) must not get stale ones.
    func testReusedTablesFollowTheirInputs() {
        let x = randomTensor([1, 4, 2, 6], seed: 6)
        for positions in [[0, 1, 2, 3], [5, 6, 7, 8], [0, 1, 2, 3], [3, 2, 1, 0]] as [[Int32]] {
            for theta: Float in [10_000, 500] {
                assertClose(rotaryEmbedding(x, positions: positions, theta: theta),
                            referenceRotary(x, positions: positions, theta: Double(theta)),
                            rtol: 1e-5, atol: 2e-6, "positions \(positions) θ \(theta)")
            }
        }
        let y = randomTensor([1, 4, 3, 4], seed: 7)
        assertClose(rotaryEmbedding(y, positions: [5, 6, 7, 8], theta: 500),
                    referenceRotary(y, positions: [5, 6, 7, 8], theta: 500), rtol: 1e-5, atol: 2e-6, "head size 4")
    }

    func testGradient() {
        let x = randomTensor([2, 3, 2, 6], seed: 5)
        let positions: [Int32] = [0, 4, 9, 1, 2, 3]
        gradCheck([x], tolerance: 1e-2) { rotaryEmbedding($0[0], positions: positions, theta: 10_000) }
    }
}
