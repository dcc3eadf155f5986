import Foundation
import Core

/// A contiguous, row-major Float32 tensor with an optional place on the tape.
///
/// `Tensor` is a value: ops return new tensors and never mutate their inputs.
/// A tensor that takes part in differentiation carries a `node`; tensors
/// without one (constants, frozen weights, everything under `noGrad`) cost the
/// tape nothing.
public struct Tensor {
    /// The values. Settable only inside the engine, which needs `var` access
    /// to test whether a gradient buffer is uniquely owned (`Node.accumulate`).
    public internal(set) var storage: Storage
    public let shape: [Int]
    public internal(set) var node: Node?

    public init(storage: Storage, shape: [Int]) {
        require(shape.reduce(1, *) == storage.count,
                     "shape \(shape) does not match \(storage.count) values")
        self.storage = storage
        self.shape = shape
        self.node = nil
    }

    public init(_ values: [Float], shape: [Int]) {
        require(shape.reduce(1, *) == values.count,
                     "shape \(shape) does not match \(values.count) values")
        self.storage = values.withUnsafeBufferPointer { Storage(copying: $0) }
        self.shape = shape
        self.node = nil
    }

    public init(scalar: Float) { self.init([scalar], shape: []) }

    public static func zeros(_ shape: [Int]) -> Tensor {
        Tensor(storage: Storage(zeros: shape.reduce(1, *)), shape: shape)
    }

    /// Zeros whose memory is committed only where written (large buffers; see `Storage(lazilyZeroed:)`).
    public static func lazilyZeroed(_ shape: [Int]) -> Tensor {
        Tensor(storage: Storage(lazilyZeroed: shape.reduce(1, *)), shape: shape)
    }

    public static func full(_ shape: [Int], _ value: Float) -> Tensor {
        let s = Storage(count: shape.reduce(1, *))
        s.pointer.initialize(repeating: value, count: s.count)
        return Tensor(storage: s, shape: shape)
    }

    public static func ones(_ shape: [Int]) -> Tensor { full(shape, 1) }

    /// An uninitialised result buffer; every element must be written.
    static func empty(_ shape: [Int]) -> Tensor {
        Tensor(storage: Storage(count: shape.reduce(1, *)), shape: shape)
    }

    public var count: Int { storage.count }
    public var rank: Int { shape.count }
    public var requiresGrad: Bool { node != nil }
    public var pointer: UnsafeMutablePointer<Float> { storage.pointer }

    /// The size of `axis`, counting negative axes from the end.
    public func dim(_ axis: Int) -> Int { shape[normalize(axis)] }

    func normalize(_ axis: Int) -> Int {
        let a = axis < 0 ? axis + rank : axis
        require(a >= 0 && a < rank, "axis \(axis) out of range for shape \(shape)")
        return a
    }

    public var scalars: [Float] { Array(storage.buffer) }

    public var item: Float {
        require(count == 1, "item of a tensor with \(count) values")
        return storage.pointer[0]
    }

    /// The same values, cut off from the tape.
    public func detached() -> Tensor { Tensor(storage: storage, shape: shape) }

    /// A fresh copy of the values (no tape).
    public func copy() -> Tensor {
        Tensor(storage: Storage(copying: UnsafeBufferPointer(storage.buffer)), shape: shape)
    }

    /// The gradient accumulated in this tensor's node by `backward()`.
    public var grad: Tensor? { node?.grad }

    /// Marks a tensor as a leaf whose gradient is kept after `backward()`.
    public func requiringGrad(_ flag: Bool = true) -> Tensor {
        var t = detached()
        if flag { t.node = Node(leafShape: shape) }
        return t
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = scalars.prefix(8).map { String(format: "%.5g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(head)\(count > 8 ? ", …" : "")])"
    }
}
