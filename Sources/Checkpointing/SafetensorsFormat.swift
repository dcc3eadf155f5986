import Foundation
import Core

// The safetensors byte layout:
//   [0, 8)        header length N, unsigned 64-bit little-endian
//   [8, 8+N)      UTF-8 JSON object: name -> {"dtype", "shape", "data_offsets": [begin, end]},
//                 plus an optional "__metadata__": {string: string}; may end in spaces
//   [8+N, EOF)    raw little-endian tensor data; offsets are relative to 8+N
// Tensors lie back to back, without holes, in the data section.

/// One tensor entry of a safetensors header.
struct SafetensorsEntry {
    var name: String
    var dtype: String
    var shape: [Int]
    var begin: Int
    var end: Int
}

/// A parsed safetensors header.
struct SafetensorsHeader {
    var entries: [SafetensorsEntry]
    var metadata: [String: String]
    /// Absolute file offset of the data section.
    var dataStart: Int
}

enum SafetensorsFormat {
    static let metadataKey = "__metadata__"
    /// Header lengths beyond this are treated as corruption, not allocated.
    static let maxHeaderBytes = 100_000_000

    /// Bytes per element, for the dtypes this reader converts to Float32.
    static func elementSize(_ dtype: String) -> Int? {
        switch dtype {
        case "F32", "I32": return 4
        case "F16", "BF16": return 2
        case "F64", "I64": return 8
        default: return nil
        }
    }

    // MARK: - Header

    static func parseHeader(_ bytes: UnsafeRawBufferPointer, path: String) throws -> SafetensorsHeader {
        try parseHeader(prefix: bytes, fileSize: bytes.count, path: path)
    }

    /// The header length a file of `fileSize` bytes declares in its first 8 bytes.
    static func headerLength(_ prefix: UnsafeRawBufferPointer, fileSize: Int, path: String) throws -> Int {
        guard prefix.count >= 8, fileSize >= 8 else {
            throw SafetensorsError.corruptHeader(path: path, reason: "file is \(fileSize) bytes, shorter than the 8-byte length prefix")
        }
        let length = UInt64(littleEndian: prefix.loadUnaligned(as: UInt64.self))
        guard length >= 2, length <= UInt64(min(maxHeaderBytes, fileSize - 8)) else {
            throw SafetensorsError.corruptHeader(path: path, reason: "header length \(length) does not fit a file of \(fileSize) bytes")
        }
        return Int(length)
    }

    /// Parses the header from the file's first bytes (`prefix`: at least the length
    /// prefix and the JSON) of a file of `fileSize` bytes.
    static func parseHeader(prefix bytes: UnsafeRawBufferPointer, fileSize: Int, path: String) throws -> SafetensorsHeader {
        func corrupt(_ reason: String) -> SafetensorsError { .corruptHeader(path: path, reason: reason) }
        let length = try headerLength(bytes, fileSize: fileSize, path: path)
        guard bytes.count >= 8 + length else { throw corrupt("header of \(length) bytes was cut short") }
        let jsonBytes = Data(bytes[8..<(8 + length)])
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: jsonBytes)
        } catch {
            throw corrupt("header is not valid JSON (\(error.localizedDescription))")
        }
        guard let dict = object as? [String: Any] else { throw corrupt("header is not a JSON object") }
        let dataStart = 8 + length
        var header = SafetensorsHeader(entries: [], metadata: [:], dataStart: dataStart)
        for (name, value) in dict {
            if name == metadataKey {
                header.metadata = try parseMetadata(value, corrupt: corrupt)
            } else {
                header.entries.append(try parseEntry(name, value, corrupt: corrupt))
            }
        }
        try checkLayout(&header.entries, dataBytes: fileSize - dataStart, corrupt: corrupt)
        return header
    }

    private static func parseMetadata(_ value: Any,
                                      corrupt: (String) -> SafetensorsError) throws -> [String: String] {
        guard let dict = value as? [String: Any] else { throw corrupt("\(metadataKey) is not an object") }
        var result: [String: String] = [:]
        for (key, item) in dict {
            guard let text = item as? String else { throw corrupt("\(metadataKey).\(key) is not a string") }
            result[key] = text
        }
        return result
    }

    private static func parseEntry(_ name: String, _ value: Any,
                                   corrupt: (String) -> SafetensorsError) throws -> SafetensorsEntry {
        guard let dict = value as? [String: Any] else { throw corrupt("entry '\(name)' is not an object") }
        guard let dtype = dict["dtype"] as? String else { throw corrupt("entry '\(name)' has no string 'dtype'") }
        guard let shapeList = dict["shape"] as? [Any],
              let shape = integers(shapeList), shape.allSatisfy({ $0 >= 0 }) else {
            throw corrupt("entry '\(name)' has no valid 'shape'")
        }
        guard let offsetList = dict["data_offsets"] as? [Any], let offsets = integers(offsetList),
              offsets.count == 2, offsets[0] >= 0, offsets[1] >= offsets[0] else {
            throw corrupt("entry '\(name)' has no valid 'data_offsets'")
        }
        return SafetensorsEntry(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
    }

    /// Offsets must stay inside the data section, entries must not overlap, and each entry must cover exactly
    /// shape × element size bytes (for dtypes whose size is known).
    private static func checkLayout(_ entries: inout [SafetensorsEntry], dataBytes: Int,
                                    corrupt: (String) -> SafetensorsError) throws {
        entries.sort { $0.begin != $1.begin ? $0.begin < $1.begin : $0.name < $1.name }
        var previous: SafetensorsEntry?
        for entry in entries {
            if let previous, entry.begin < previous.end {
                throw corrupt("entries '\(previous.name)' and '\(entry.name)' overlap")
            }
            previous = entry
            guard entry.end <= dataBytes else {
                throw corrupt("entry '\(entry.name)' ends at byte \(entry.end) of a \(dataBytes)-byte data section")
            }
            if let size = elementSize(entry.dtype) {
                let expected = entry.shape.reduce(1, *) * size
                guard entry.end - entry.begin == expected else {
                    throw corrupt("entry '\(entry.name)' spans \(entry.end - entry.begin) bytes, "
                                  + "shape \(entry.shape) of \(entry.dtype) needs \(expected)")
                }
            }
        }
    }

    private static func integers(_ list: [Any]) -> [Int]? {
        var result: [Int] = []
        for item in list {
            guard let number = item as? NSNumber else { return nil }
            let value = number.doubleValue
            guard value == value.rounded(), abs(value) < 9e15 else { return nil }
            result.append(number.intValue)
        }
        return result
    }

    // MARK: - Conversion

    /// Converts `count` little-endian elements of `dtype` at `source` to Float32.
    static func convert(_ source: UnsafeRawPointer, count: Int, dtype: String,
                        into out: UnsafeMutablePointer<Float>) {
        switch dtype {
        case "F32":
            memcpy(out, source, count * 4)
        case "F16":
            for i in 0..<count {
                let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 &* i, as: UInt16.self))
                out[i] = Float(Float16(bitPattern: bits))
            }
        case "BF16":
            // bfloat16 is the top half of a float32: widen by shifting the bits up.
            for i in 0..<count {
                let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 &* i, as: UInt16.self))
                out[i] = Float(bitPattern: UInt32(bits) << 16)
            }
        case "F64":
            for i in 0..<count {
                let bits = UInt64(littleEndian: source.loadUnaligned(fromByteOffset: 8 &* i, as: UInt64.self))
                out[i] = Float(Double(bitPattern: bits))
            }
        case "I64":
            for i in 0..<count {
                out[i] = Float(Int64(littleEndian: source.loadUnaligned(fromByteOffset: 8 &* i, as: Int64.self)))
            }
        case "I32":
            for i in 0..<count {
                out[i] = Float(Int32(littleEndian: source.loadUnaligned(fromByteOffset: 4 &* i, as: Int32.self)))
            }
        default:
            preconditionFailure("unsupported dtype \(dtype) reached conversion")
        }
    }

    // MARK: - Writing

    /// The JSON header for F32 tensors stored back to back in sorted-name order, padded
    /// with spaces so that the data section starts at a multiple of 8 bytes.
    static func encodeHeader(names: [String], shapes: [[Int]], metadata: [String: String]) -> [UInt8] {
        var fields: [String] = []
        if !metadata.isEmpty {
            let items = metadata.keys.sorted().map { "\(jsonStringLiteral($0)):\(jsonStringLiteral(metadata[$0]!))" }
            fields.append("\(jsonStringLiteral(metadataKey)):{\(items.joined(separator: ","))}")
        }
        var offset = 0
        for (name, shape) in zip(names, shapes) {
            let end = offset + shape.reduce(1, *) * 4
            let dims = shape.map(String.init).joined(separator: ",")
            fields.append("\(jsonStringLiteral(name)):{\"dtype\":\"F32\",\"shape\":[\(dims)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var bytes = Array("{\(fields.joined(separator: ","))}".utf8)
        while (8 + bytes.count) % 8 != 0 { bytes.append(0x20) }
        return bytes
    }
}
