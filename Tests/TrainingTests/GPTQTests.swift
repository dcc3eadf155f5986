import Checkpointing
import Core
import Foundation
import Training
import XCTest

/// GPTQ's parts against plain versions of the same mathematics, and its promise:
/// a smaller output error ‖WX − ŴX‖² than round-to-nearest on the same grid.
final class GPTQTests: XCTestCase {
    /// Inputs [n, d] whose columns are correlated (a random mixing of independent
    /// columns, some far larger than others), as the inputs of trained layers are.
    static func inputs(n: Int, d: Int, seed: UInt64) -> [Float] {
        var rng = RNG(seed: seed)
        let z = (0..<(n * d)).map { _ in Float(rng.normal()) }
        let mix = (0..<(d * d)).map { _ in Float(rng.normal()) / Float(d).squareRoot() }
        var x = [Float](repeating: 0, count: n * d)
        for i in 0..<n {
            for j in 0..<d {
                var s: Float = 0
                for k in 0..<d { s += z[i * d + k] * mix[k * d + j] }
                x[i * d + j] = s * (j % 5 == 0 ? 4 : 1)
            }
        }
        return x
    }

    static func weights(rows: Int, columns: Int, seed: UInt64) -> [Float] {
        var rng = RNG(seed: seed)
        return (0..<(rows * columns)).map { _ in Float(rng.normal()) * 0.05 }
    }

    /// Σ over inputs and rows of ((W − Ŵ) x)².
    static func outputError(_ w: [Float], _ q: [Float], x: [Float], rows: Int, columns: Int) -> Double {
        let n = x.count / columns
        var total = 0.0
        for i in 0..<n {
            for r in 0..<rows {
                var s = 0.0
                for c in 0..<columns { s += Double(w[r * columns + c] - q[r * columns + c]) * Double(x[i * columns + c]) }
                total += s * s
            }
        }
        return total
    }

    func testInverseCholeskyMatchesThePlainThreeStepVersion() throws {
        let n = 24
        let x = Self.inputs(n: 64, d: n, seed: 3)
        var g = GPTQ(rows: 1, columns: n)
        x.withUnsafeBufferPointer { g.addInputs($0.baseAddress!, count: 64) }
        var h = g.hessian
        for j in 0..<n { h[j * n + j] += 0.01 }
        let u = try XCTUnwrap(GPTQ.inverseCholeskyUpper(h, n: n))

        // Plain: invert by Gauss-Jordan in Double, then the upper Cholesky factor of the inverse.
        var a = h.map(Double.init), inv = (0..<(n * n)).map { $0 / n == $0 % n ? 1.0 : 0.0 }
        for p in 0..<n {
            let piv = a[p * n + p]
            for j in 0..<n { a[p * n + j] /= piv; inv[p * n + j] /= piv }
            for i in 0..<n where i != p {
                let f = a[i * n + p]
                for j in 0..<n { a[i * n + j] -= f * a[p * n + j]; inv[i * n + j] -= f * inv[p * n + j] }
            }
        }
        var v = [Double](repeating: 0, count: n * n)      // inv = VᵀV, V upper
        for i in 0..<n {
            var d = inv[i * n + i]
            for k in 0..<i { d -= v[k * n + i] * v[k * n + i] }
            v[i * n + i] = d.squareRoot()
            for j in (i + 1)..<n {
                var s = inv[i * n + j]
                for k in 0..<i { s -= v[k * n + i] * v[k * n + j] }
                v[i * n + j] = s / v[i * n + i]
            }
        }
        let scale = v.map(abs).max()!
        for k in 0..<(n * n) { XCTAssertEqual(Double(u[k]), v[k], accuracy: 2e-3 * scale, "entry \(k / n),\(k % n)") }
    }

    func testGPTQHasSmallerOutputErrorThanRoundToNearest() throws {
        let (rows, columns, n) = (24, 64, 256)
        let x = Self.inputs(n: n, d: columns, seed: 11), w = Self.weights(rows: rows, columns: columns, seed: 12)
        var g = GPTQ(rows: rows, columns: columns)
        // Two halves: the running mean must equal one pass over all inputs.
        x.withUnsafeBufferPointer { g.addInputs($0.baseAddress!, count: n / 2); g.addInputs($0.baseAddress! + n / 2 * columns, count: n / 2) }
        let settings = try QuantizationSettings(bits: 4, groupSize: 16)
        let rtn = RoundToNearest.quantize(w, rows: rows, columns: columns, settings: settings).dequantized()
        for actOrder in [false, true] {
            let r = try g.quantize(w, settings: settings, actOrder: actOrder, blockSize: 24)
            XCTAssertEqual(r.matrix.dequantized(), r.weight, "the stored codes give the weights GPTQ chose")
            let eg = Self.outputError(w, r.weight, x: x, rows: rows, columns: columns)
            let er = Self.outputError(w, rtn, x: x, rows: rows, columns: columns)
            XCTAssertLessThan(eg, 0.8 * er, "act-order \(actOrder): GPTQ \(eg) vs RTN \(er)")
        }
    }

    func testDeadColumnsAreZeroAndASingularHessianRaisesTheDampening() throws {
        let (rows, columns) = (4, 16)
        // 3 inputs for 16 columns (rank 3), and column 5 never sees a non-zero input.
        var x = Self.inputs(n: 3, d: columns, seed: 5)
        for i in 0..<3 { x[i * columns + 5] = 0 }
        var g = GPTQ(rows: rows, columns: columns)
        x.withUnsafeBufferPointer { g.addInputs($0.baseAddress!, count: 3) }
        let w = Self.weights(rows: rows, columns: columns, seed: 6)
        let r = try g.quantize(w, settings: try QuantizationSettings(bits: 4, groupSize: 8), relativeDampening: 0)
        XCTAssertEqual(r.deadColumns, 1)
        for row in 0..<rows { XCTAssertEqual(r.weight[row * columns + 5], 0) }
        XCTAssertGreaterThan(r.dampening, 0, "a zero dampening fails on a rank-3 Hessian and is raised")
        XCTAssertTrue(r.weight.allSatisfy { $0.isFinite })
    }

    func testRoundToNearestStaysWithinHalfAStepAndPacksBothWidths() throws {
        let (rows, columns) = (5, 37)                 // an odd row: the last byte holds one code; last group shorter
        let w = Self.weights(rows: rows, columns: columns, seed: 9)
        for bits in [4, 8] {
            let m = RoundToNearest.quantize(w, rows: rows, columns: columns, settings: try QuantizationSettings(bits: bits, groupSize: 16))
            XCTAssertEqual(m.groups, 3)
            XCTAssertEqual(m.codes.count, rows * (bits == 4 ? 19 : 37))
            let q = m.unpacked()
            XCTAssertTrue(q.allSatisfy { Int($0) < 1 << bits })
            XCTAssertEqual(QuantizedMatrix.pack(q, rows: rows, columns: columns, bits: bits), m.codes)
            let d = m.dequantized()
            for r in 0..<rows {
                for c in 0..<columns {
                    let scale = m.scales[r * m.groups + c / 16]
                    XCTAssertLessThanOrEqual(abs(d[r * columns + c] - w[r * columns + c]), scale / 2 * 1.0001)
                }
            }
        }
    }

    func testGGMLBlockRoundingHoldsWhatTheGGUFBlocksDecodeTo() {
        let (rows, columns) = (3, 96)
        var w = Self.weights(rows: rows, columns: columns, seed: 21)
        w[7] = 0.9; w[100] = -0.8; for k in 130..<162 { w[k] = 0 }       // large values of both signs, a zero block
        for type in [GGMLType.q4_0, .q8_0] {
            let m = GGMLBlockRounding.quantize(w, rows: rows, columns: columns, type: type)
            XCTAssertEqual(m.groups, 3)
            XCTAssertEqual(m.dequantized(), type.decode(type.encode(w)[...], count: w.count), type.name)
        }
    }

    func testSettingsRefuseOtherBitsAndEmptyGroups() {
        XCTAssertThrowsError(try QuantizationSettings(bits: 3, groupSize: 128)) { XCTAssertTrue("\($0)".contains("4 or 8"), "\($0)") }
        XCTAssertThrowsError(try QuantizationSettings(bits: 4, groupSize: 0)) { XCTAssertTrue("\($0)".contains("group-size"), "\($0)") }
        XCTAssertEqual(try QuantizationSettings(bits: 4, groupSize: 128).groups(columns: 688), 6)
    }
}
