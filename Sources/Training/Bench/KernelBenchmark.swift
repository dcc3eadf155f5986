import Autograd
import Foundation
import Core

/// Times the engine's own (non-GEMM) kernels at model-like sizes: forward on
/// constants, and backward of a freshly recorded graph (forward not counted).
/// Best of several rounds, as in `MatmulBenchmark`.
public enum KernelBenchmark {
    public struct Row: Sendable {
        public let label: String
        public let shape: String
        public let forwardSeconds: Double
        public let backwardSeconds: Double?
    }

    /// One case: a label, its inputs and the op.
    struct Case {
        let label: String
        let inputs: [Tensor]
        let backward: Bool
        let op: ([Tensor]) -> Tensor
    }

    static func cases() -> [Case] {
        var rng = RNG(seed: 3)
        func r(_ shape: [Int], _ std: Float = 1) -> Tensor { Tensor.randn(shape, std: std, rng: &rng) }
        let act = r([2048, 2816]), x = r([4096, 1024]), bias = r([1024]), w = r([1024])
        let ln = r([4096, 1152]), lnw = r([1152]), lnb = r([1152])
        let logits = r([1024, 32000], 2)
        let targets = (0..<1024).map { Int32(($0 * 7919) % 32000) }
        let (q, k, v) = (r([1, 1024, 8, 64]), r([1, 1024, 8, 64]), r([1, 1024, 8, 64]))
        let packed = AttentionMask(causal: true, segmentIds: (0..<1024).map { Int32($0 / 256) })
        return [
            Case(label: "exp", inputs: [act], backward: true) { $0[0].exp() },
            Case(label: "tanh", inputs: [act], backward: true) { $0[0].tanh() },
            Case(label: "sigmoid", inputs: [act], backward: true) { $0[0].sigmoid() },
            Case(label: "silu", inputs: [act], backward: true) { $0[0].silu() },
            Case(label: "gelu tanh", inputs: [act], backward: true) { $0[0].geluTanh() },
            Case(label: "mul", inputs: [act, act], backward: true) { $0[0] * $0[1] },
            Case(label: "add bias", inputs: [x, bias], backward: true) { $0[0] + $0[1] },
            Case(label: "sum axis 0", inputs: [x], backward: false) { $0[0].sum(axis: 0) },
            Case(label: "grad accumulate ×4", inputs: [x], backward: true) { t in
                (t[0] * 0.5) + (t[0] * 1.5) + (t[0] * 2.5) + (t[0] * 3.5)
            },
            Case(label: "softmax", inputs: [x], backward: true) { $0[0].softmax() },
            Case(label: "logSoftmax", inputs: [x], backward: true) { $0[0].logSoftmax() },
            Case(label: "layerNorm", inputs: [ln, lnw, lnb], backward: true) {
                layerNorm($0[0], weight: $0[1], bias: $0[2], eps: 1e-6)
            },
            Case(label: "rmsNorm", inputs: [x, w], backward: true) { rmsNorm($0[0], weight: $0[1], eps: 1e-6) },
            Case(label: "cross-entropy", inputs: [logits], backward: true) { crossEntropy($0[0], targets: targets).loss },
            Case(label: "attention full", inputs: [q, k, v], backward: true) {
                scaledDotProductAttention($0[0], $0[1], $0[2])
            },
            Case(label: "attention causal", inputs: [q, k, v], backward: true) {
                scaledDotProductAttention($0[0], $0[1], $0[2], mask: AttentionMask(causal: true))
            },
            Case(label: "attention packed ×4", inputs: [q, k, v], backward: true) {
                scaledDotProductAttention($0[0], $0[1], $0[2], mask: packed)
            },
        ]
    }

    /// Runs every case (or those whose label contains `filter`) for about
    /// `secondsPerCase` each.
    public static func run(filter: String? = nil, secondsPerCase: Double = 0.5, minRepeats: Int = 3) -> [Row] {
        cases().filter { c in filter.map { $0.isEmpty || c.label.contains($0) } ?? true }.map { c in
            let shape = c.inputs.map { "\($0.shape)" }.joined(separator: " ")
            let forward = best(seconds: secondsPerCase, minRepeats: minRepeats) {
                time { _ = noGrad { c.op(c.inputs) } }
            }
            var backward: Double? = nil
            if c.backward {
                backward = best(seconds: secondsPerCase, minRepeats: minRepeats) {
                    let leaves = c.inputs.map { $0.requiringGrad() }
                    let out = c.op(leaves)
                    let seed = Tensor.ones(out.shape)
                    return time { out.backward(seed) }
                }
            }
            return Row(label: c.label, shape: shape, forwardSeconds: forward, backwardSeconds: backward)
        }
    }

    /// The smallest value `sample` returns over at least `minRepeats` calls and `seconds`.
    static func best(seconds: Double, minRepeats: Int, _ sample: () -> Double) -> Double {
        _ = sample()                                   // warm-up
        var bestTime = Double.infinity, rounds = 0
        let start = monotonicSeconds()
        while rounds < minRepeats || monotonicSeconds() - start < seconds {
            bestTime = min(bestTime, sample())
            rounds += 1
        }
        return bestTime
    }
}
