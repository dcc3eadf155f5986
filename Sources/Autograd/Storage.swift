import Foundation
import Core

/// A reference-counted, 64-byte-aligned buffer of Float32 values.
///
/// Tensors share storage when they share values (reshape, detach); every other
/// op writes a fresh buffer, so a storage is only mutated in place by its owner
/// (the optimizer on parameters, the engine on gradients it allocated).
public final class Storage {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int) {
        require(count >= 0, "negative storage size")
        let bytes = Storage.bytes(count)
        pointer = StoragePool.allocate(bytes: bytes).bindMemory(to: Float.self, capacity: max(count, 1))
        self.count = count
        StorageStats.allocated(bytes)
    }

    /// A zero-filled buffer whose pages cost memory only once written: at 1 MiB
    /// and more it is a mapping of its own (never pooled), so that a model of many
    /// GiB can be built and then filled (and narrowed to bf16) one parameter at a time.
    public init(lazilyZeroed count: Int) {
        require(count >= 0, "negative storage size")
        let bytes = Storage.bytes(count)
        if bytes >= StoragePool.mappedBytes {
            pointer = StoragePool.allocateZeroed(bytes: bytes).bindMemory(to: Float.self, capacity: count)
        } else {
            pointer = StoragePool.allocate(bytes: bytes).bindMemory(to: Float.self, capacity: max(count, 1))
            pointer.initialize(repeating: 0, count: count)
        }
        self.count = count
        StorageStats.allocated(bytes)
    }

    /// Bytes behind a buffer of `count` values (at least one value).
    static func bytes(_ count: Int) -> Int { max(count, 1) * MemoryLayout<Float>.stride }

    /// A zero-filled buffer.
    public convenience init(zeros count: Int) {
        self.init(count: count)
        pointer.initialize(repeating: 0, count: count)
    }

    public convenience init(copying values: UnsafeBufferPointer<Float>) {
        self.init(count: values.count)
        if let base = values.baseAddress { pointer.initialize(from: base, count: values.count) }
    }

    deinit {
        let bytes = Storage.bytes(count)
        StorageStats.freed(bytes)
        StoragePool.release(UnsafeMutableRawPointer(pointer), bytes: bytes)
    }

    public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: pointer, count: count)
    }
}

/// Live tensor bytes (buffers held by tensors; the pool's spare buffers are
/// not counted), for memory reports and tests.
public enum StorageStats {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var live = 0
    nonisolated(unsafe) private static var peak = 0

    static func allocated(_ bytes: Int) {
        lock.lock(); live += bytes; peak = max(peak, live); lock.unlock()
    }
    static func freed(_ bytes: Int) {
        lock.lock(); live -= bytes; lock.unlock()
    }
    public static var liveBytes: Int { lock.lock(); defer { lock.unlock() }; return live }
    public static var peakBytes: Int { lock.lock(); defer { lock.unlock() }; return peak }
    public static func resetPeak() { lock.lock(); peak = live; lock.unlock() }
}
