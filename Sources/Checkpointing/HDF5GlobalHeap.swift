import CHDF5
import Foundation

/// Variable-length strings live in the file's global heap collections ("GCOL").
/// libhdf5 1.10 walks a collection object by object, each step advancing by the
/// object's stored size; a corrupt size that does not move it forward (a free-space
/// object of size 0, or a size that wraps around) makes it loop for ever inside
/// H5Dread, and an object larger than its collection makes it copy past the end.
/// A dataset's string is checked through its own reference (the one collection
/// libhdf5 will load, `checkStringReference`); an attribute's, whose reference
/// cannot be reached first, by walking every collection of the file once
/// (`checkGlobalHeaps`). A walk that would not end, or an object that does not
/// fit, is refused.
enum GlobalHeapCheck {
    /// The offset of the first collection in `bytes` that libhdf5 cannot walk safely, if any.
    static func firstCorrupt(in bytes: UnsafeRawBufferPointer) -> Int? {
        let n = bytes.count
        guard n >= 16, let base = bytes.baseAddress else { return nil }
        var from = 0
        let signature = UInt32(littleEndian: 0x4C4F_4347)           // "GCOL"
        while from + 16 <= n, let hit = memchr(base + from, 0x47, n - from - 15) {  // "G"
            let at = base.distance(to: UnsafeRawPointer(hit))
            from = at + 1
            guard bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self) == signature, bytes[at + 4] == 1, bytes[at + 5] == 0, bytes[at + 6] == 0, bytes[at + 7] == 0 else { continue }
            let size = Int(clamping: bytes.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self))
            // A collection past the end of the file is an error libhdf5 reports, not a loop.
            guard size >= 16, size <= n - at else { continue }
            if !isSound(bytes, collection: at, size: size) { return at }
        }
        return nil
    }

    /// Walks the objects of one collection as H5HG's deserialiser does (16-byte object
    /// headers: index, references, reserved, size; objects padded to 8 bytes; index 0
    /// is the free space and spans its stated size).
    static func isSound(_ bytes: UnsafeRawBufferPointer, collection at: Int, size: Int) -> Bool {
        var p = 16
        while p < size {
            if p + 16 > size { return true }                      // a tail too small for a header: free space
            let index = bytes.loadUnaligned(fromByteOffset: at + p, as: UInt16.self)
            let objectSize = bytes.loadUnaligned(fromByteOffset: at + p + 8, as: UInt64.self)
            let need: UInt64 = index > 0 ? 16 &+ ((objectSize &+ 7) & ~7) : objectSize
            guard need != 0, need < UInt64(Int.max) else { return false }   // stays put, or goes backwards
            if need > UInt64(size - p) { return index == 0 }          // an object must fit; free space may claim the rest
            p += Int(need)
        }
        return true
    }
}

extension HDF5File {
    /// Throws when a global heap collection of the file would send libhdf5 into an endless loop.
    func checkGlobalHeaps() throws {
        guard !heapsChecked else { return }
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        if let at = data.withUnsafeBytes({ GlobalHeapCheck.firstCorrupt(in: $0) }) {
            throw HDF5Error.cannotOpen(path: path, reason: "the global heap at byte \(at) is corrupt "
                                       + "(its objects do not fit it); the file is damaged")
        }
        heapsChecked = true
    }
}

extension HDF5File {
    /// Checks the heap reference of a scalar variable-length string dataset before
    /// libhdf5 follows it: the dataset must be stored contiguously, and its element
    /// (length, collection address, object index) must name an object of a sound
    /// collection whose size is the stated length. libhdf5 1.10 copies the object
    /// into a buffer of the stated length without checking either.
    func checkStringReference(_ did: hid_t, _ name: String) throws {
        func damaged(_ why: String) -> HDF5Error {
            HDF5Error.failed(path: path, name: name, operation: "reading the string: \(why) (the file is damaged?)")
        }
        let dcpl = HDF5Handle(id: H5Dget_create_plist(did))
        defer { dcpl.close() }
        guard H5Pget_layout(dcpl.id) == H5D_CONTIGUOUS else { throw damaged("it is not stored contiguously") }
        let offset = H5Dget_offset(did)
        guard offset != haddr_t.max else { throw damaged("it was never written") }
        let fcpl = HDF5Handle(id: H5Fget_create_plist(fileID))
        defer { fcpl.close() }
        var addressSize = 8, lengthSize = 8
        _ = H5Pget_sizes(fcpl.id, &addressSize, &lengthSize)
        guard addressSize == 8 else { throw damaged("\(addressSize)-byte file addresses are not supported") }
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        let problem: String? = data.withUnsafeBytes { bytes in
            let mismatch = "its global heap reference does not match the heap"
            let at = Int(clamping: offset)
            guard at <= bytes.count - 16 else { return "its storage lies past the end of the file" }
            let length = bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)
            let collection = Int(clamping: bytes.loadUnaligned(fromByteOffset: at + 4, as: UInt64.self))
            let index = bytes.loadUnaligned(fromByteOffset: at + 12, as: UInt32.self)
            if length == 0 { return nil }                                   // an empty string reads nothing
            guard collection >= 0, collection <= bytes.count - 16,
                  bytes.loadUnaligned(fromByteOffset: collection, as: UInt32.self) == UInt32(littleEndian: 0x4C4F_4347) else {
                return mismatch
            }
            let size = Int(clamping: bytes.loadUnaligned(fromByteOffset: collection + 8, as: UInt64.self))
            guard size >= 16, size <= bytes.count - collection,
                  GlobalHeapCheck.isSound(bytes, collection: collection, size: size) else {
                return "the global heap at byte \(collection) is corrupt (its objects do not fit it)"
            }
            let found = index <= UInt32(UInt16.max)
                ? GlobalHeapCheck.objectSize(bytes, collection: collection, size: size, index: UInt16(index)) : nil
            return found == UInt64(length) ? nil : mismatch
        }
        if let problem { throw damaged(problem) }
    }
}

extension GlobalHeapCheck {
    /// The stated size of object `index` of a sound collection, if it holds one.
    static func objectSize(_ bytes: UnsafeRawBufferPointer, collection at: Int, size: Int, index: UInt16) -> UInt64? {
        guard index > 0 else { return nil }
        var p = 16
        while p + 16 <= size {
            let i = bytes.loadUnaligned(fromByteOffset: at + p, as: UInt16.self)
            let objectSize = bytes.loadUnaligned(fromByteOffset: at + p + 8, as: UInt64.self)
            if i == 0 { return nil }
            if i == index { return objectSize }
            let need = 16 &+ ((objectSize &+ 7) & ~7)
            guard need != 0, need <= UInt64(size - p) else { return nil }
            p += Int(need)
        }
        return nil
    }
}
