import Core

/// Activation recomputation: `body` runs without recording, so none of its
/// intermediate tensors are kept; backward runs it again with recording on, and
/// backpropagates through that second pass. Only `inputs` (and what `body`
/// captures) stay alive between forward and backward.
///
/// `body` must compute the same function both times (deterministic, drawing
/// no fresh randomness). Parameters it reads receive their gradients during the
/// second pass; `parametersNeedGrad` says whether any does, so that the pass is
/// recorded even when no input needs a gradient. `reads`: those parameters'
/// values, so that `backward(leafReady:)` knows their gradients are final only
/// once this node has run.
public func recomputed(_ inputs: [Tensor], parametersNeedGrad: Bool, reads: [Tensor] = [],
                       _ body: @escaping ([Tensor]) -> Tensor) -> Tensor {
    let needsInputs = inputs.map { $0.node != nil }
    let out = noGrad { body(inputs.map { $0.detached() }) }
    guard GradMode.isEnabled, parametersNeedGrad || needsInputs.contains(true) else { return out }
    let saved = inputs.map { $0.detached() }
    var recorded = out
    recorded.node = Node(shape: out.shape, inputs: inputs.map(\.node), reads: reads.compactMap(\.node)) { g in
        let leaves = zip(saved, needsInputs).map { $1 ? $0.requiringGrad(true) : $0 }
        let again: Tensor = {
            let mode = GradMode.isEnabled
            GradMode.isEnabled = true
            defer { GradMode.isEnabled = mode }
            return body(leaves)
        }()
        guard again.node != nil else { return inputs.map { _ in nil } }
        again.backward(g)
        return zip(leaves, needsInputs).map { $1 ? $0.grad : nil }
    }
    return recorded
}
