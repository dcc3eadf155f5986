import Foundation
import Core

/// Token log-probabilities and cross-entropy, fused with the log-softmax.

/// log p(target) per row: logits [N, V], targets [N] → [N]; 0 where the target
/// is `ignoreIndex`. Computed in Float32 through a stable log-softmax.
public func selectedLogProbs(_ logits: Tensor, targets: [Int32]) -> Tensor {
    let v = logits.shape.last!, n = logits.count / v
    require(targets.count == n, "\(targets.count) targets for \(n) rows of logits")
    let out = Tensor.zeros([n])
    var lse = [Float](repeating: 0, count: n)
    let x = logits.pointer, o = out.pointer
    lse.withUnsafeMutableBufferPointer { lp in
        let lp = lp.baseAddress!
        parallelFor(n, grain: Swift.max(1, elementwiseGrain / v)) { r in
            for i in r {
                let t = targets[i]
                guard t != ignoreIndex else { continue }
                require(t >= 0 && Int(t) < v, "target \(t) outside a vocabulary of \(v)")
                let l = logSumExp(x + i * v, v)
                lp[i] = l
                o[i] = x[i * v + Int(t)] - l
            }
        }
    }
    return out.recorded([logits]) { g in
        // d log p_t / d x_j = [j == t] − softmax_j
        let gl = Tensor.empty(logits.shape)              // every row is written below
        let gp = g.pointer, d = gl.pointer
        parallelFor(n, grain: Swift.max(1, elementwiseGrain / v)) { r in
            for i in r {
                let t = targets[i]
                guard t != ignoreIndex else { (d + i * v).update(repeating: 0, count: v); continue }
                let gi = gp[i], row = x + i * v, dr = d + i * v
                let l = Vec(repeating: lse[i]), scale = Vec(repeating: -gi)
                @inline(__always) func lane(_ x: Vec) -> Vec { scale * vexp(x - l) }   // −g · softmax
                mapVec(row, dr, v, lane)
                dr[Int(t)] += gi
            }
        }
        return [gl]
    }
}

/// Summed cross-entropy over the rows whose target is not ignored, and how many
/// rows that is; callers normalise by tokens (of the whole accumulated batch).
public func crossEntropy(_ logits: Tensor, targets: [Int32]) -> (loss: Tensor, count: Int) {
    let count = targets.reduce(0) { $0 + ($1 == ignoreIndex ? 0 : 1) }
    return (-selectedLogProbs(logits, targets: targets).sum(), count)
}
