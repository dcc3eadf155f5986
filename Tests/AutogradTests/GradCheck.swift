import XCTest
import Autograd
import Core

// Shared test helpers: finite-difference gradient checks, random inputs and
// Double-precision comparisons.

/// Central finite differences against the tape's gradients.
///
/// `f` maps the inputs to a tensor; the checked scalar is Σ f(x) ⊙ w for a fixed
/// random w (so every output element contributes with a different weight).
/// The ops run in Float32, so the step is large (1e-2) and the numeric scalar is
/// summed in Double; the tolerance is relative on the whole gradient:
/// ‖analytic − numeric‖ / max(‖numeric‖, 1e-3).
func gradCheck(_ inputs: [Tensor], eps: Float = 1e-2, tolerance: Float = 2e-2, seed: UInt64 = 7,
               file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) -> Tensor) {
    let leaves = inputs.map { $0.requiringGrad() }
    let out = f(leaves)
    var rng = RNG(seed: seed)
    let w = Tensor.randn(out.shape, rng: &rng)
    let weights = w.scalars.map(Double.init)
    (out * w).sum().backward()
    for (index, leaf) in leaves.enumerated() {
        guard let analytic = leaf.grad else { XCTFail("input \(index) got no gradient", file: file, line: line); continue }
        XCTAssertEqual(analytic.shape, leaf.shape, "input \(index): gradient shape", file: file, line: line)
        var numeric = [Double](repeating: 0, count: leaf.count)
        for i in 0..<leaf.count {
            func value(_ delta: Float) -> Double {
                noGrad {
                    let probe = inputs.map { $0.copy() }
                    probe[index].pointer[i] += delta
                    return zip(f(probe).scalars, weights).reduce(0) { $0 + Double($1.0) * $1.1 }
                }
            }
            numeric[i] = (value(eps) - value(-eps)) / (2 * Double(eps))
        }
        let a = analytic.scalars
        var diff = 0.0, norm = 0.0
        for i in 0..<a.count { diff += (Double(a[i]) - numeric[i]) * (Double(a[i]) - numeric[i]); norm += numeric[i] * numeric[i] }
        let rel = Float(diff.squareRoot() / max(norm.squareRoot(), 1e-3))
        XCTAssertLessThan(rel, tolerance, "input \(index) \(leaf.shape): relative gradient error \(rel)", file: file, line: line)
    }
}

/// Normal(0, scale²) values from a fixed seed.
func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor.randn(shape, std: scale, rng: &rng)
}

/// Uniform values in [low, high) from a fixed seed.
func uniformTensor(_ shape: [Int], seed: UInt64, _ low: Float, _ high: Float) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor.uniform(shape, low: low, high: high, rng: &rng)
}

/// Values whose magnitude is in [0.2, 2] with random signs: safe from the kinks
/// of abs, relu and clamp at 0 under the ±1e-2 probes.
func awayFromZero(_ shape: [Int], seed: UInt64) -> Tensor {
    var rng = RNG(seed: seed)
    let values = (0..<shape.reduce(1, *)).map { _ -> Float in
        let m = 0.2 + 1.8 * rng.uniform()
        return rng.uniform() < 0.5 ? -m : m
    }
    return Tensor(values, shape: shape)
}

/// The values of `t`, widened.
func doubles(_ t: Tensor) -> [Double] { t.scalars.map(Double.init) }

/// |actual − expected| ≤ atol + rtol·|expected| for every element.
func assertClose(_ actual: Tensor, _ expected: [Double], rtol: Double = 1e-5, atol: Double = 1e-6,
                 _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(message): element count", file: file, line: line)
    var worst = 0.0, worstIndex = -1
    for (i, (a, e)) in zip(actual.scalars, expected).enumerated() {
        let excess = Swift.abs(Double(a) - e) - (atol + rtol * Swift.abs(e))
        if !(excess <= worst) { worst = excess.isNaN ? .infinity : excess; worstIndex = i }
    }
    if worstIndex >= 0 {
        XCTFail("\(message): element \(worstIndex) is \(actual.scalars[worstIndex]), expected \(expected[worstIndex])",
                file: file, line: line)
    }
}

/// Row-major strides of `shape`.
func strides(_ shape: [Int]) -> [Int] {
    var s = [Int](repeating: 1, count: shape.count)
    for i in stride(from: shape.count - 2, through: 0, by: -1) { s[i] = s[i + 1] * shape[i + 1] }
    return s
}

/// The multi-index of flat position `flat` in `shape`.
func unflatten(_ flat: Int, _ shape: [Int]) -> [Int] {
    var rem = flat
    var idx = [Int](repeating: 0, count: shape.count)
    for i in stride(from: shape.count - 1, through: 0, by: -1) { idx[i] = rem % shape[i]; rem /= shape[i] }
    return idx
}

/// The flat position in `shape` of `idx` read with NumPy broadcasting (size-1
/// axes repeat, missing leading axes are ignored).
func broadcastIndex(_ idx: [Int], into shape: [Int]) -> Int {
    let pad = idx.count - shape.count
    let st = strides(shape)
    var off = 0
    for i in 0..<shape.count where shape[i] != 1 { off += idx[i + pad] * st[i] }
    return off
}
