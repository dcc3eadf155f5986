import Foundation
import Core

/// log σ(x), fused and stable for every x.
///
/// Composed naively, log(sigmoid(x)) underflows to log(0) = −∞ for x ≲ −88 and
/// loses all precision long before; DPO feeds it margins that can be large in
/// either direction. Here log σ(x) = min(x, 0) − log1p(exp(−|x|)), which never
/// overflows, and the backward uses d/dx log σ(x) = σ(−x) = 1 − σ(x).

extension Tensor {
    public func logSigmoid() -> Tensor {
        map({ x in
            Swift.min(x, 0) - Foundation.log1p(Foundation.exp(-Swift.abs(x)))
        }, saving: .input) { g, x in
            // σ(−x), evaluated without overflow on either side.
            let e = Foundation.exp(-Swift.abs(x))
            return g * (x >= 0 ? e / (1 + e) : 1 / (1 + e))
        }
    }
}
