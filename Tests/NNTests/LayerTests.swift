import XCTest
import Foundation
import Autograd
import Core
import NN

/// Layers against plain Double loops written from the formulas.
final class LayerTests: XCTestCase {
    func random(_ shape: [Int], _ seed: UInt64, std: Float = 1) -> Tensor {
        var rng = RNG(seed: seed)
        return Tensor.randn(shape, std: std, rng: &rng)
    }

    func seeded<M: Module>(_ m: M, _ seed: UInt64) -> M {
        // Random values everywhere (also norms and biases), so nothing is trivially 0 or 1.
        var rng = RNG(seed: seed)
        for p in m.parameters() { Initializer.normal(mean: 0.5, std: 0.5).fill(p.value, rng: &rng) }
        return m
    }

    /// x [n, in] · Wᵀ + b, in Double.
    func naiveLinear(_ x: [Double], _ n: Int, _ w: Linear) -> [Double] {
        let (i, o) = (w.inFeatures, w.outFeatures)
        let wv = w.weight.value.scalars, bv = w.bias?.value.scalars
        var y = [Double](repeating: 0, count: n * o)
        for r in 0..<n {
            for c in 0..<o {
                var s = Double(bv?[c] ?? 0)
                for k in 0..<i { s += x[r * i + k] * Double(wv[c * i + k]) }
                y[r * o + c] = s
            }
        }
        return y
    }

    func assertNear(_ a: [Float], _ b: [Double], _ tol: Double = 1e-5, _ msg: String = "",
                    file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, msg, file: file, line: line)
        var diff = 0.0, norm = 0.0
        for (x, y) in zip(a, b) { diff += (Double(x) - y) * (Double(x) - y); norm += y * y }
        let e = (diff / max(norm, 1e-30)).squareRoot()
        XCTAssertLessThan(e, tol, "\(msg) relative error \(e)", file: file, line: line)
    }

    func testLinearAndNorms() {
        let lin = seeded(Linear(5, 3), 1)
        let x = random([4, 5], 2)
        assertNear(lin(x).scalars, naiveLinear(x.scalars.map(Double.init), 4, lin))

        let ln = seeded(LayerNorm(5, eps: 1e-6), 3), rms = seeded(RMSNorm(5, eps: 1e-6), 4)
        var expectLN: [Double] = [], expectRMS: [Double] = []
        let xv = x.scalars.map(Double.init), w = ln.weight.value.scalars, b = ln.bias.value.scalars
        let rw = rms.weight.value.scalars
        for r in 0..<4 {
            let row = Array(xv[(r * 5)..<(r * 5 + 5)])
            let mu = row.reduce(0, +) / 5
            let v = row.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / 5
            let ms = row.map { $0 * $0 }.reduce(0, +) / 5
            for j in 0..<5 {
                expectLN.append((row[j] - mu) / (v + 1e-6).squareRoot() * Double(w[j]) + Double(b[j]))
                expectRMS.append(row[j] / (ms + 1e-6).squareRoot() * Double(rw[j]))
            }
        }
        assertNear(ln(x).scalars, expectLN)
        assertNear(rms(x).scalars, expectRMS)
    }

    func testMLPs() {
        let x = random([3, 6], 5)
        let xv = x.scalars.map(Double.init)
        let swiglu = seeded(SwiGLUMLP(dim: 6, hidden: 10), 6)
        let g = naiveLinear(xv, 3, swiglu.gate), u = naiveLinear(xv, 3, swiglu.up)
        let hidden = zip(g, u).map { gv, uv in gv / (1 + Foundation.exp(-gv)) * uv }
        assertNear(swiglu(x).scalars, naiveLinear(hidden, 3, swiglu.down))

        let mlp = seeded(GELUMLP(dim: 6, hidden: 10, activation: .geluTanh), 7)
        let h = naiveLinear(xv, 3, mlp.fc1).map { v in
            0.5 * v * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v)))
        }
        assertNear(mlp(x).scalars, naiveLinear(h, 3, mlp.fc2))
    }

    /// softmax(q kᵀ/√d + mask) v per head, q head h reading kv head h / (H/Hkv).
    func naiveAttention(q: [Double], k: [Double], v: [Double], b: Int, tq: Int, tk: Int, heads: Int, kvHeads: Int,
                        dh: Int, visible: (Int, Int, Int) -> Bool) -> [Double] {
        var out = [Double](repeating: 0, count: b * tq * heads * dh)
        for bi in 0..<b {
            for h in 0..<heads {
                let kh = h / (heads / kvHeads)
                for i in 0..<tq {
                    var scores: [Double] = []
                    var keys: [Int] = []
                    for j in 0..<tk where visible(bi, i, j) {
                        var s = 0.0
                        for d in 0..<dh {
                            s += q[((bi * tq + i) * heads + h) * dh + d] * k[((bi * tk + j) * kvHeads + kh) * dh + d]
                        }
                        scores.append(s / Double(dh).squareRoot())
                        keys.append(j)
                    }
                    let m = scores.max() ?? 0
                    let e = scores.map { Foundation.exp($0 - m) }
                    let z = e.reduce(0, +)
                    for (p, j) in zip(e, keys) {
                        for d in 0..<dh {
                            out[((bi * tq + i) * heads + h) * dh + d] += p / z * v[((bi * tk + j) * kvHeads + kh) * dh + d]
                        }
                    }
                }
            }
        }
        return out
    }

    func testGroupedQueryCausalPackedSelfAttention() {
        let (b, t, dim, heads, kvHeads, dh) = (2, 5, 12, 4, 2, 3)
        let attn = seeded(Attention(dim: dim, heads: heads, kvHeads: kvHeads, headDim: dh, qkvBias: true, outBias: true), 8)
        let x = random([b, t, dim], 9)
        let xv = x.scalars.map(Double.init)
        let seg: [Int32] = [0, 0, 0, 1, 1, 4, 4, 4, 4, 4]
        let y = attn(x, mask: AttentionMask(causal: true, segmentIds: seg))
        let q = naiveLinear(xv, b * t, attn.qProj), k = naiveLinear(xv, b * t, attn.kProj), v = naiveLinear(xv, b * t, attn.vProj)
        let o = naiveAttention(q: q, k: k, v: v, b: b, tq: t, tk: t, heads: heads, kvHeads: kvHeads, dh: dh) { bi, i, j in
            j <= i && seg[bi * t + i] == seg[bi * t + j]
        }
        assertNear(y.scalars, naiveLinear(o, b * t, attn.outProj))
    }

    func testCrossAttentionWithKeyPadding() {
        let (b, tq, tk, dim, ctx, heads) = (2, 3, 4, 8, 6, 2)
        let attn = seeded(Attention(dim: dim, heads: heads, contextDim: ctx, qkvBias: false, outBias: true,
                                    outputKey: "out_proj"), 10)
        XCTAssertNotNil(attn.parameter(at: "out_proj.bias"))
        let x = random([b, tq, dim], 11), c = random([b, tk, ctx], 12)
        let lengths = [4, 2]
        let y = attn(x, context: c, mask: AttentionMask(keyLengths: lengths))
        let q = naiveLinear(x.scalars.map(Double.init), b * tq, attn.qProj)
        let cv = c.scalars.map(Double.init)
        let k = naiveLinear(cv, b * tk, attn.kProj), v = naiveLinear(cv, b * tk, attn.vProj)
        let o = naiveAttention(q: q, k: k, v: v, b: b, tq: tq, tk: tk, heads: heads, kvHeads: heads, dh: dim / heads) {
            bi, _, j in j < lengths[bi]
        }
        assertNear(y.scalars, naiveLinear(o, b * tq, attn.outProj))
    }

    func testPackedMultiheadAttentionMatchesSeparateProjections() {
        let (dim, heads) = (8, 2)
        let packed = seeded(PackedMultiheadAttention(dim: dim, heads: heads), 13)
        let separate = Attention(dim: dim, heads: heads, qkvBias: true, outBias: true, outputKey: "out_proj")
        let w = packed.inProjWeight.value.scalars, bias = packed.inProjBias.value.scalars
        let n = dim * dim
        separate.qProj.weight.assign(Tensor(Array(w[0..<n]), shape: [dim, dim]))
        separate.kProj.weight.assign(Tensor(Array(w[n..<(2 * n)]), shape: [dim, dim]))
        separate.vProj.weight.assign(Tensor(Array(w[(2 * n)...]), shape: [dim, dim]))
        separate.qProj.bias!.assign(Tensor(Array(bias[0..<dim]), shape: [dim]))
        separate.kProj.bias!.assign(Tensor(Array(bias[dim..<(2 * dim)]), shape: [dim]))
        separate.vProj.bias!.assign(Tensor(Array(bias[(2 * dim)...]), shape: [dim]))
        separate.outProj.weight.assign(packed.outProj.weight.value)
        separate.outProj.bias!.assign(packed.outProj.bias!.value)
        let q = random([2, 3, dim], 14), kv = random([2, 5, dim], 15)
        let mask = AttentionMask(keyLengths: [5, 3])
        let a = packed(query: q, key: kv, value: kv, mask: mask)
        let b = separate(q, context: kv, mask: mask)
        assertNear(a.scalars, b.scalars.map(Double.init), 1e-6)
        XCTAssertEqual(packed.namedParameters().map(\.path),
                       ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"])
    }

    func testAttentionGradientsByFiniteDifferences() {
        let attn = seeded(Attention(dim: 6, heads: 3, kvHeads: 1, qkvBias: true, outBias: false), 16)
        let x = random([1, 4, 6], 17)
        let w = random([1, 4, 6], 18)
        let positions: [Int32] = [0, 1, 0, 1]
        let rotary = RotaryEmbedding(theta: 100)
        func loss(_ input: Tensor) -> Tensor {
            (attn(input, mask: AttentionMask(causal: true, segmentIds: [0, 0, 1, 1]), rotary: rotary,
                  positions: positions) * w).sum()
        }
        let leaf = x.requiringGrad()
        loss(leaf).backward()
        let analytic = leaf.grad!.scalars
        let eps: Float = 1e-2
        var numeric: [Double] = []
        for i in 0..<x.count {
            let plus = x.copy(), minus = x.copy()
            plus.pointer[i] += eps
            minus.pointer[i] -= eps
            numeric.append(Double(noGrad { loss(plus).item - loss(minus).item }) / Double(2 * eps))
        }
        assertNear(analytic, numeric, 2e-2, "dL/dx")
        XCTAssertNotNil(attn.qProj.weight.grad)
        XCTAssertNotNil(attn.kProj.bias?.grad)
    }

    func testSinCosGrid() {
        let (dim, h, w) = (8, 3, 4)
        let grid = SinCosEmbedding.grid2D(dim: dim, height: h, width: w)
        XCTAssertEqual(grid.shape, [h * w, dim])
        var expected: [Double] = []
        for r in 0..<h {
            for c in 0..<w {
                // [sin(c ω), cos(c ω), sin(r ω), cos(r ω)], ω_k = 10000^(−k/(D/4)).
                for p in [c, r] {
                    let omegas = (0..<(dim / 4)).map { Foundation.pow(10000.0, -Double($0) / Double(dim / 4)) }
                    expected += omegas.map { Foundation.sin(Double(p) * $0) }
                    expected += omegas.map { Foundation.cos(Double(p) * $0) }
                }
            }
        }
        assertNear(grid.scalars, expected, 1e-6)
    }

    func testEmbeddingLookupAndGradient() {
        let e = seeded(Embedding(4, 3), 19)
        let rows = e([2, 0, 2])
        let table = e.weight.value.scalars
        XCTAssertEqual(rows.scalars, Array(table[6..<9]) + Array(table[0..<3]) + Array(table[6..<9]))
        rows.sum().backward()
        XCTAssertEqual(e.weight.grad?.scalars, [1, 1, 1, 0, 0, 0, 2, 2, 2, 0, 0, 0])
    }
}
