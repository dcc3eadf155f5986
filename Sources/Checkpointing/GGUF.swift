import Foundation

/// A metadata value of a GGUF file.
public enum GGUFValue: Equatable {
    case uint32(UInt32)
    case int32(Int32)
    case float32(Float)
    case bool(Bool)
    case string(String)
    case uint64(UInt64)
    case strings([String])
    case int32s([Int32])
    case float32s([Float])

    /// The GGUF type codes: the value's own, and for arrays their elements'.
    var typeCode: UInt32 {
        switch self {
        case .uint32: return 4
        case .int32: return 5
        case .float32: return 6
        case .bool: return 7
        case .string: return 8
        case .strings, .int32s, .float32s: return 9
        case .uint64: return 10
        }
    }
}

/// One tensor of a GGUF file: its name, its shape in PyTorch order (outermost
/// first; the file stores it reversed, innermost first, as ggml's `ne`), its
/// type and its encoded bytes.
public struct GGUFTensor: Equatable {
    public var name: String
    public var shape: [Int]
    public var type: GGMLType
    public var data: [UInt8]

    public init(name: String, shape: [Int], type: GGMLType, data: [UInt8]) {
        self.name = name; self.shape = shape; self.type = type; self.data = data
    }

    /// Encodes float values [shape] as `type`.
    public init(name: String, shape: [Int], type: GGMLType, values: [Float]) {
        self.init(name: name, shape: shape, type: type, data: type.encode(values))
    }

    public var count: Int { shape.reduce(1, *) }

    /// The values, decoded to float32.
    public func values() -> [Float] { type.decode(data[...], count: count) }
}

/// A GGUF version 3 file (the format llama.cpp reads): the header, the metadata
/// key/value pairs, the tensor infos, then the tensor data, each tensor aligned to
/// `general.alignment` (32) bytes from the start of the data section.
public struct GGUFFile: Equatable {
    public static let magic: [UInt8] = Array("GGUF".utf8)
    public static let version: UInt32 = 3
    public static let alignment = 32

    /// Metadata in file order.
    public var metadata: [(key: String, value: GGUFValue)]
    public var tensors: [GGUFTensor]

    public init(metadata: [(key: String, value: GGUFValue)] = [], tensors: [GGUFTensor] = []) {
        self.metadata = metadata; self.tensors = tensors
    }

    public static func == (a: GGUFFile, b: GGUFFile) -> Bool {
        a.tensors == b.tensors && a.metadata.map(\.key) == b.metadata.map(\.key)
            && zip(a.metadata, b.metadata).allSatisfy { $0.value == $1.value }
    }

    public subscript(key: String) -> GGUFValue? { metadata.first { $0.key == key }?.value }
    public func tensor(_ name: String) -> GGUFTensor? { tensors.first { $0.name == name } }

    // MARK: - Writing

    public func encoded() -> [UInt8] {
        var out = Self.magic
        appendLE(&out, Self.version)
        appendLE(&out, UInt64(tensors.count))
        appendLE(&out, UInt64(metadata.count))
        for (key, value) in metadata {
            Self.appendString(&out, key)
            appendLE(&out, value.typeCode)
            Self.appendValue(&out, value)
        }
        var offset = 0
        for t in tensors {
            Self.appendString(&out, t.name)
            appendLE(&out, UInt32(t.shape.count))
            for d in t.shape.reversed() { appendLE(&out, UInt64(d)) }
            appendLE(&out, t.type.rawValue)
            appendLE(&out, UInt64(offset))
            offset += Self.padded(t.data.count)
        }
        out += [UInt8](repeating: 0, count: Self.padded(out.count) - out.count)
        for t in tensors {
            out += t.data
            out += [UInt8](repeating: 0, count: Self.padded(t.data.count) - t.data.count)
        }
        return out
    }

    public func write(to path: String) throws {
        do {
            try Data(encoded()).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw CheckpointError(file: path, message: "cannot write the GGUF file: \(error.localizedDescription)")
        }
    }

    public static func padded(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    static func appendString(_ out: inout [UInt8], _ s: String) {
        let bytes = Array(s.utf8)
        appendLE(&out, UInt64(bytes.count))
        out += bytes
    }

    static func appendValue(_ out: inout [UInt8], _ v: GGUFValue) {
        switch v {
        case .uint32(let x): appendLE(&out, x)
        case .int32(let x): appendLE(&out, x)
        case .float32(let x): appendLE(&out, x.bitPattern)
        case .bool(let x): out.append(x ? 1 : 0)
        case .string(let s): appendString(&out, s)
        case .uint64(let x): appendLE(&out, x)
        case .strings(let a):
            appendLE(&out, UInt32(8)); appendLE(&out, UInt64(a.count))
            for s in a { appendString(&out, s) }
        case .int32s(let a):
            appendLE(&out, UInt32(5)); appendLE(&out, UInt64(a.count))
            for x in a { appendLE(&out, x) }
        case .float32s(let a):
            appendLE(&out, UInt32(6)); appendLE(&out, UInt64(a.count))
            for x in a { appendLE(&out, x.bitPattern) }
        }
    }

    // MARK: - Reading

    /// Reads a GGUF v3 file; every malformed part is a `CheckpointError` naming the file.
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError(file: path, message: "GGUF file not found or unreadable")
        }
        try self.init(bytes: [UInt8](data), source: path)
    }

    public init(bytes: [UInt8], source: String) throws {
        var r = GGUFReader(bytes: bytes, source: source)
        guard try r.bytes(4) == Self.magic else { throw r.fail("not a GGUF file (bad magic)") }
        let version: UInt32 = try r.integer()
        guard version == Self.version else { throw r.fail("GGUF version \(version), only 3 is read") }
        let tensorCount: UInt64 = try r.integer(), kvCount: UInt64 = try r.integer()
        guard tensorCount < 1 << 24, kvCount < 1 << 24 else { throw r.fail("implausible counts \(tensorCount) tensors, \(kvCount) keys") }
        var metadata: [(key: String, value: GGUFValue)] = []
        for _ in 0..<kvCount {
            let key = try r.string()
            metadata.append((key, try r.value(type: try r.integer())))
        }
        var infos: [(name: String, shape: [Int], type: GGMLType, offset: Int)] = []
        for _ in 0..<tensorCount {
            let name = try r.string()
            let dims: UInt32 = try r.integer()
            guard dims >= 1 && dims <= 4 else { throw r.fail("tensor '\(name)' has \(dims) dimensions") }
            var ne: [Int] = []
            for _ in 0..<dims {
                let d: UInt64 = try r.integer()
                guard d < 1 << 40 else { throw r.fail("tensor '\(name)' has a dimension of \(d)") }
                ne.append(Int(d))
            }
            let code: UInt32 = try r.integer()
            guard let type = GGMLType(rawValue: code) else { throw r.fail("tensor '\(name)' has ggml type \(code), not F32/F16/Q4_0/Q8_0") }
            let offset: UInt64 = try r.integer()
            guard offset < UInt64(bytes.count) else { throw r.fail("tensor '\(name)' starts past the end of the file") }
            infos.append((name, ne.reversed(), type, Int(offset)))
        }
        let start = Self.padded(r.position)
        var tensors: [GGUFTensor] = []
        for info in infos {
            let count = info.shape.reduce(1, *)
            guard count % info.type.block.values == 0 else {
                throw r.fail("tensor '\(info.name)' of \(count) values is not whole \(info.type.name) blocks")
            }
            let from = start + info.offset, to = from + info.type.byteCount(values: count)
            guard to <= bytes.count else { throw r.fail("tensor '\(info.name)' runs past the end of the file") }
            tensors.append(GGUFTensor(name: info.name, shape: info.shape, type: info.type, data: Array(bytes[from..<to])))
        }
        self.init(metadata: metadata, tensors: tensors)
    }
}

/// A cursor over the bytes of a GGUF file.
struct GGUFReader {
    let bytes: [UInt8]
    let source: String
    var position = 0

    func fail(_ message: String) -> CheckpointError { CheckpointError(file: source, message: "\(message) (byte \(position))") }

    mutating func bytes(_ n: Int) throws -> [UInt8] {
        guard n >= 0, position + n <= bytes.count else { throw fail("the file ends early") }
        defer { position += n }
        return Array(bytes[position..<(position + n)])
    }

    mutating func integer<T: FixedWidthInteger>() throws -> T {
        let b = try bytes(MemoryLayout<T>.size)
        var v: T = 0
        for (i, byte) in b.enumerated() { v |= T(truncatingIfNeeded: byte) << (8 * i) }
        return v
    }

    mutating func string() throws -> String {
        let n: UInt64 = try integer()
        guard n < 1 << 30 else { throw fail("a string of \(n) bytes") }
        guard let s = String(bytes: try bytes(Int(n)), encoding: .utf8) else { throw fail("a string that is not UTF-8") }
        return s
    }

    mutating func value(type: UInt32) throws -> GGUFValue {
        switch type {
        case 4: return .uint32(try integer())
        case 5: return .int32(try integer())
        case 6: return .float32(Float(bitPattern: try integer()))
        case 7: return .bool(try integer() as UInt8 != 0)
        case 8: return .string(try string())
        case 10: return .uint64(try integer())
        case 9:
            let element: UInt32 = try integer(), n: UInt64 = try integer()
            guard n < 1 << 26 else { throw fail("an array of \(n) elements") }
            switch element {
            case 8: return .strings(try (0..<n).map { _ in try string() })
            case 5: return .int32s(try (0..<n).map { _ in try integer() })
            case 6: return .float32s(try (0..<n).map { _ in Float(bitPattern: try integer()) })
            default: throw fail("an array of type \(element) (only strings, int32 and float32 arrays are read)")
            }
        default:
            throw fail("metadata type \(type) (not read)")
        }
    }
}
