import Foundation

/// Little-endian binary writer for shard records.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func int<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        int(UInt32(utf8.count))
        bytes += utf8
    }

    /// Raw values of a trivial type (Int32, Float); this machine is little-endian, as is the format.
    mutating func array<T>(_ values: [T]) {
        values.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }
}

/// Bounds-checked reader over bytes; every overrun becomes an error, never a crash.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    struct Overrun: Error {}

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var atEnd: Bool { offset == bytes.count }

    mutating func take(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= bytes.count - offset else { throw Overrun() }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)])
    }

    mutating func int<T: FixedWidthInteger>(_: T.Type) throws -> T {
        T(littleEndian: try take(MemoryLayout<T>.size).loadUnaligned(as: T.self))
    }

    /// A count that must fit in the remaining bytes at `unit` bytes per element.
    mutating func count(unit: Int) throws -> Int {
        let n = Int(try int(UInt32.self))
        guard n * max(unit, 1) <= bytes.count - offset else { throw Overrun() }
        return n
    }

    mutating func string() throws -> String {
        let n = try count(unit: 1)
        return String(decoding: try take(n), as: UTF8.self)
    }

    mutating func array<T>(_: T.Type, count n: Int) throws -> [T] {
        let raw = try take(n * MemoryLayout<T>.stride)
        return [T](unsafeUninitializedCapacity: n) { out, initialised in
            UnsafeMutableRawBufferPointer(out).copyMemory(from: raw)
            initialised = n
        }
    }
}

/// The binary record of one sample (before compression).
enum SampleCodec {
    static func encode(_ s: TrainingSample) -> [UInt8] {
        var w = ByteWriter()
        w.string(s.id)
        w.int(UInt32(s.length))
        w.array(s.inputIds)
        w.array(s.labels)
        w.int(UInt32(s.imageBounds.count))
        for b in s.imageBounds { w.int(UInt32(b.lowerBound)); w.int(UInt32(b.upperBound)) }
        w.int(UInt32(s.slices.count))
        for slice in s.slices {
            w.int(UInt32(slice.tgtSize.h)); w.int(UInt32(slice.tgtSize.w))
            w.int(UInt32(slice.pixels.count))
            w.array(slice.pixels)
        }
        return w.bytes
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) throws -> TrainingSample {
        var r = ByteReader(bytes)
        let id = try r.string()
        let n = try r.count(unit: 8)
        let ids = try r.array(Int32.self, count: n)
        let labels = try r.array(Int32.self, count: n)
        let nb = try r.count(unit: 8)
        var bounds: [Range<Int>] = []
        for _ in 0..<nb {
            let lo = Int(try r.int(UInt32.self)), hi = Int(try r.int(UInt32.self))
            guard lo <= hi else { throw ByteReader.Overrun() }
            bounds.append(lo..<hi)
        }
        let ns = try r.count(unit: 12)
        var slices: [ImageSlice] = []
        for _ in 0..<ns {
            let h = Int(try r.int(UInt32.self)), w = Int(try r.int(UInt32.self))
            let count = try r.count(unit: 4)
            slices.append(ImageSlice(tgtSize: TgtSize(h: h, w: w), pixels: try r.array(Float.self, count: count)))
        }
        guard r.atEnd else { throw ByteReader.Overrun() }
        return TrainingSample(id: id, inputIds: ids, labels: labels, imageBounds: bounds, slices: slices)
    }
}
