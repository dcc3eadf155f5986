import Core
#if canImport(Glibc)
import Glibc
#endif

/// One recorded operation: the nodes of its differentiable inputs and the
/// closure that maps the output gradient to input gradients.
///
/// The closure captures exactly what its backward needs; it is released as
/// soon as it has run, so saved activations are freed while backward proceeds.
public final class Node {
    let inputs: [Node?]
    /// Leaves that `backward` gives gradients to through a pass of its own (a
    /// recomputed layer's parameters), not through its outputs: counted as
    /// consumed here by `Tensor.backward(leafReady:)`.
    let reads: [Node]
    var backward: ((Tensor) -> [Tensor?])?
    let shape: [Int]
    public let isLeaf: Bool
    /// Accumulated gradient. Kept on leaves; released on interior nodes once used.
    public internal(set) var grad: Tensor?

    init(leafShape: [Int]) {
        inputs = []; reads = []; backward = nil; shape = leafShape; isLeaf = true
    }

    init(shape: [Int], inputs: [Node?], reads: [Node] = [], backward: @escaping (Tensor) -> [Tensor?]) {
        self.inputs = inputs; self.reads = reads; self.backward = backward; self.shape = shape; isLeaf = false
    }

    /// The leaves whose gradients this node's backward adds to: its leaf inputs
    /// (once per use) and what it `reads`.
    var consumedLeaves: [Node] { inputs.compactMap { $0?.isLeaf == true ? $0 : nil } + reads.filter(\.isLeaf) }

    /// Drops the accumulated gradient (leaves: before the next accumulation window).
    public func zeroGrad() { grad = nil }

    /// grad += g. The first gradient is kept as it is (often a buffer shared
    /// with another node's gradient: `a + b` hands the same g to both); later
    /// ones are added in place when this node is the only holder of its
    /// gradient buffer, and into a fresh buffer otherwise.
    ///
    /// In place is safe exactly when nothing else references the storage: no
    /// other tensor (a sibling's gradient, a saved value, a gradient the caller
    /// kept from an earlier backward) can then observe the change. Every raw
    /// pointer the engine keeps comes with a strong reference to its tensor, so
    /// the reference count is the whole story.
    func accumulate(_ g: Tensor) {
        require(g.shape.reduce(1, *) == shape.reduce(1, *),
                "gradient shape \(g.shape) does not match \(shape)")
        let g = g.shape == shape ? g.detached() : g.detached().reshaped(shape)
        guard var old = grad else { grad = g; return }
        grad = nil                                    // `old` is now our only reference
        if isKnownUniquelyReferenced(&old.storage) {
            addInPlace(old, g)
            grad = old
        } else {
            grad = old + g
        }
    }
}

/// Whether ops record onto the tape. Off inside `noGrad { }`.
///
/// The switch is per thread (like PyTorch's grad mode): a data-loading thread
/// that runs tensor code under `noGrad` must not stop the training thread from
/// recording. New threads start with recording enabled.
public enum GradMode {
    public static var isEnabled: Bool {
        get { pthread_getspecific(gradModeKey) == nil }
        set { pthread_setspecific(gradModeKey, newValue ? nil : UnsafeRawPointer(bitPattern: 1)) }
    }
}

/// Thread-local slot for `GradMode`: nil means enabled (the default for a new thread).
private let gradModeKey: pthread_key_t = {
    var key = pthread_key_t()
    // Not inside require(): -Ounchecked does not evaluate its condition.
    if pthread_key_create(&key, nil) != 0 { fatalError("cannot create the grad-mode thread key") }
    return key
}()

/// Runs `body` without recording anything: no graph, no saved tensors.
public func noGrad<T>(_ body: () throws -> T) rethrows -> T {
    let saved = GradMode.isEnabled
    GradMode.isEnabled = false
    defer { GradMode.isEnabled = saved }
    return try body()
}

extension Tensor {
    /// Attaches a backward rule to `self` (an op's freshly computed output).
    ///
    /// Nothing is recorded when grad mode is off or no input needs a gradient.
    /// `backward` receives dL/d(self) and returns one gradient per input (nil for
    /// inputs that need none; it may skip computing those).
    func recorded(_ inputs: [Tensor], _ backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        guard GradMode.isEnabled, inputs.contains(where: { $0.node != nil }) else { return self }
        var out = self
        out.node = Node(shape: shape, inputs: inputs.map(\.node), backward: backward)
        return out
    }

    /// Reverse-mode differentiation from this tensor. A scalar output gets seed 1;
    /// otherwise a seed gradient of the same shape is required.
    ///
    /// `leafReady`, when given, is called once for every leaf the pass reaches, as
    /// soon as that leaf's gradient is final: right after the last node that
    /// consumes it has run (a data-parallel run starts summing a gradient there,
    /// while the rest of the pass goes on). The leaf's `grad` may be nil when no
    /// gradient reached it. The callback must only read gradients; the pass
    /// computes exactly the same gradients with or without it.
    public func backward(_ seed: Tensor? = nil, leafReady: ((Node) -> Void)? = nil) {
        guard let root = node else {
            fatalError("backward() on a tensor that does not require grad")
        }
        let seed = seed ?? {
            require(count == 1, "backward() without a seed needs a scalar, got \(shape)")
            return Tensor.ones(shape)
        }()
        let savedMode = GradMode.isEnabled
        GradMode.isEnabled = false      // backward rules never record
        defer { GradMode.isEnabled = savedMode }
        root.accumulate(seed)
        let order = topologicalOrder(root)
        // Consumers still to run, per leaf (only counted when someone listens).
        var pending: [ObjectIdentifier: Int] = [:]
        if leafReady != nil {
            for n in order where n.backward != nil {
                for leaf in n.consumedLeaves { pending[ObjectIdentifier(leaf), default: 0] += 1 }
            }
            if root.isLeaf { leafReady?(root) }
        }
        for n in order.reversed() {
            guard let fn = n.backward else { continue }
            n.backward = nil        // releases the saved tensors (once `fn` returns)
            if let g = n.grad {     // else no gradient reached this node
                let grads = fn(g)
                if !n.isLeaf { n.grad = nil }
                for (input, gi) in zip(n.inputs, grads) {
                    if let input, let gi { input.accumulate(gi) }
                }
            }
            guard let leafReady else { continue }
            for leaf in n.consumedLeaves {
                let id = ObjectIdentifier(leaf)
                let left = pending[id]! - 1
                pending[id] = left
                if left == 0 { leafReady(leaf) }
            }
        }
    }
}

/// Nodes reachable from `root`, inputs before the nodes that use them.
private func topologicalOrder(_ root: Node) -> [Node] {
    var order: [Node] = []
    var visited = Set<ObjectIdentifier>()
    var stack: [(Node, Int)] = [(root, 0)]
    visited.insert(ObjectIdentifier(root))
    while let (node, next) = stack.popLast() {
        if next < node.inputs.count {
            stack.append((node, next + 1))
            if let child = node.inputs[next], child.backward != nil || child.isLeaf,
               visited.insert(ObjectIdentifier(child)).inserted {
                stack.append((child, 0))
            }
        } else {
            order.append(node)
        }
    }
    return order
}
