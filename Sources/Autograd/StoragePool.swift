import Foundation
import Core

/// Recycles large tensor buffers between ops and training steps.
///
/// Fresh memory from the kernel costs a page fault and a zero-fill per 4 KiB
/// page: writing a new 64 MiB result took 3× as long as writing into a buffer
/// that had been used before (measured: 42 vs 14 ms). A training step
/// allocates the same big tensors (logits, attention probabilities, MLP
/// activations) again every step, so freed buffers of 64 KiB and more are kept
/// and handed out again; smaller ones go straight back to malloc, which
/// recycles them well. (Above 64 KiB malloc does not: blocks past its mmap
/// threshold, and the top of its heap, go back to the kernel when freed and
/// fault in fresh zeroed pages when allocated again — about 20 MB per step of
/// the tiny benchmark before these sizes were pooled.)
///
/// Buffers are grouped in size classes of 1/8 of a power of two (a buffer
/// serves every request of its class, so lengths that vary a little from step
/// to step still hit; pages past a request's end are never touched and cost no
/// memory). The spare buffers never exceed `limitBytes`; the oldest go first.
public enum StoragePool {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var spare: [(bytes: Int, pointer: UnsafeMutableRawPointer)] = []
    nonisolated(unsafe) private static var spareBytes = 0
    nonisolated(unsafe) private static var limit: Int = {
        if let s = ProcessInfo.processInfo.environment["TRAINER_POOL_MB"], let mb = Int(s), mb >= 0 { return mb << 20 }
        return Int(ProcessInfo.processInfo.physicalMemory / 8)
    }()

    /// Buffers below this size are not pooled.
    static let minimumBytes = 1 << 16

    /// The most bytes kept in spare buffers (default: 1/8 of physical memory,
    /// or `TRAINER_POOL_MB` MiB). Lowering it frees the excess at once; 0 turns
    /// pooling off.
    public static var limitBytes: Int {
        get { lock.lock(); defer { lock.unlock() }; return limit }
        set {
            lock.lock()
            limit = max(0, newValue)
            let evicted = evict(to: limit)
            lock.unlock()
            evicted.forEach { free($0) }
        }
    }

    /// Bytes currently held in spare buffers.
    public static var cachedBytes: Int { lock.lock(); defer { lock.unlock() }; return spareBytes }

    /// Frees every spare buffer.
    public static func trim() {
        lock.lock()
        let evicted = evict(to: 0)
        lock.unlock()
        evicted.forEach { free($0) }
    }

    /// The bytes actually reserved for a request: its size class.
    static func sizeClass(_ bytes: Int) -> Int {
        guard bytes >= minimumBytes else { return bytes }
        let step = 1 << (Int.bitWidth - 1 - bytes.leadingZeroBitCount - 3)   // 1/8 of the power of two below
        return (bytes + step - 1) / step * step
    }

    /// A 64-byte-aligned buffer of at least `bytes` bytes (uninitialised).
    static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        let size = sizeClass(bytes)
        if size >= minimumBytes {
            lock.lock()
            if let i = spare.lastIndex(where: { $0.bytes == size }) {
                let p = spare.remove(at: i).pointer
                spareBytes -= size
                lock.unlock()
                return p
            }
            lock.unlock()
        }
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, size) == 0, let raw else {
            fatalError("out of memory allocating \(size) bytes")
        }
        return raw
    }

    /// Zero buffers of this size and more come from their own mapping (`allocateZeroed`).
    static let mappedBytes = 1 << 20
    nonisolated(unsafe) private static var mapped: [UnsafeMutableRawPointer: Int] = [:]

    /// A zero-filled, page-aligned buffer of its own anonymous mapping: the
    /// kernel provides its pages, zeroed, when they are first written.
    static func allocateZeroed(bytes: Int) -> UnsafeMutableRawPointer {
        guard let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              raw != MAP_FAILED else {
            fatalError("out of memory mapping \(bytes) bytes")
        }
        lock.lock(); mapped[raw] = bytes; lock.unlock()
        return raw
    }

    /// Takes back a buffer from `allocate(bytes:)` or `allocateZeroed(bytes:)` with the same `bytes`.
    static func release(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        if bytes >= mappedBytes {
            lock.lock()
            let length = mapped.removeValue(forKey: pointer)
            lock.unlock()
            if let length { munmap(pointer, length); return }
        }
        let size = sizeClass(bytes)
        guard size >= minimumBytes else { free(pointer); return }
        lock.lock()
        var evicted: [UnsafeMutableRawPointer] = []
        if size <= limit {
            spare.append((size, pointer))
            spareBytes += size
            evicted = evict(to: limit)
        } else {
            evicted = [pointer]
        }
        lock.unlock()
        evicted.forEach { free($0) }
    }

    /// Drops the oldest spare buffers until at most `bytes` remain; the caller
    /// frees them outside the lock.
    private static func evict(to bytes: Int) -> [UnsafeMutableRawPointer] {
        var out: [UnsafeMutableRawPointer] = []
        var n = 0
        while spareBytes > bytes && n < spare.count {
            out.append(spare[n].pointer)
            spareBytes -= spare[n].bytes
            n += 1
        }
        spare.removeFirst(n)
        return out
    }
}
