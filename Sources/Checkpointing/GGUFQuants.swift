import Foundation

/// The ggml tensor types the project writes, with their block layouts:
/// - F32, F16: one value per element.
/// - Q8_0: blocks of 32 values, an f16 scale d = max|x|/127 and 32 int8 codes; x ≈ d·q.
/// - Q4_0: blocks of 32 values, an f16 scale d = m/−8 (m the value of largest
///   magnitude, sign kept) and 16 bytes; byte j holds value j in its low nibble and
///   value j+16 in its high nibble, each as q ∈ 0…15; x ≈ d·(q − 8).
public enum GGMLType: UInt32, CaseIterable {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q8_0 = 8

    public static let blockValues = 32

    /// Values per block and bytes per block.
    public var block: (values: Int, bytes: Int) {
        switch self {
        case .f32: return (1, 4)
        case .f16: return (1, 2)
        case .q4_0: return (32, 2 + 16)
        case .q8_0: return (32, 2 + 32)
        }
    }

    public var name: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .q4_0: return "Q4_0"
        case .q8_0: return "Q8_0"
        }
    }

    /// Bytes of `count` values (a multiple of the block size).
    public func byteCount(values count: Int) -> Int { count / block.values * block.bytes }

    /// The values as this type's bytes; `values.count` must be a multiple of the block size.
    public func encode(_ values: [Float]) -> [UInt8] {
        precondition(values.count % block.values == 0, "\(values.count) values for \(name) blocks of \(block.values)")
        var out = [UInt8]()
        out.reserveCapacity(byteCount(values: values.count))
        switch self {
        case .f32:
            for v in values { appendLE(&out, v.bitPattern) }
        case .f16:
            for v in values { appendLE(&out, Float16(v).bitPattern) }
        case .q8_0:
            for b in stride(from: 0, to: values.count, by: 32) {
                let x = values[b..<(b + 32)]
                let amax = x.reduce(Float(0)) { max($0, abs($1)) }
                let d = amax / 127, id: Float = d != 0 ? 1 / d : 0
                appendLE(&out, Float16(d).bitPattern)
                for v in x { out.append(UInt8(bitPattern: Int8((v * id).rounded(.toNearestOrAwayFromZero)))) }
            }
        case .q4_0:
            for b in stride(from: 0, to: values.count, by: 32) {
                var m: Float = 0
                for v in values[b..<(b + 32)] where abs(v) > abs(m) { m = v }
                let d = m / -8, id: Float = d != 0 ? 1 / d : 0
                appendLE(&out, Float16(d).bitPattern)
                func code(_ v: Float) -> UInt8 { UInt8(min(15, Int8(v * id + 8.5))) }
                for j in 0..<16 { out.append(code(values[b + j]) | code(values[b + j + 16]) << 4) }
            }
        }
        return out
    }

    /// The values `bytes` stand for.
    public func decode(_ bytes: ArraySlice<UInt8>, count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        let base = bytes.startIndex
        func u16(_ at: Int) -> UInt16 { UInt16(bytes[base + at]) | UInt16(bytes[base + at + 1]) << 8 }
        switch self {
        case .f32:
            for i in 0..<count {
                let p = base + 4 * i
                out[i] = Float(bitPattern: UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24)
            }
        case .f16:
            for i in 0..<count { out[i] = Float(Float16(bitPattern: u16(2 * i))) }
        case .q8_0:
            for blk in 0..<(count / 32) {
                let p = blk * 34, d = Float(Float16(bitPattern: u16(p)))
                for j in 0..<32 { out[blk * 32 + j] = d * Float(Int8(bitPattern: bytes[base + p + 2 + j])) }
            }
        case .q4_0:
            for blk in 0..<(count / 32) {
                let p = blk * 18, d = Float(Float16(bitPattern: u16(p)))
                for j in 0..<16 {
                    let byte = bytes[base + p + 2 + j]
                    out[blk * 32 + j] = d * (Float(byte & 0x0F) - 8)
                    out[blk * 32 + j + 16] = d * (Float(byte >> 4) - 8)
                }
            }
        }
        return out
    }
}

@inline(__always)
func appendLE<T: FixedWidthInteger>(_ out: inout [UInt8], _ v: T) {
    withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
}
