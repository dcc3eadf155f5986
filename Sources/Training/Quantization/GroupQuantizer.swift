import Checkpointing
import Foundation

/// The asymmetric b-bit grid of one group of weights: `scale = (max − min)/(2ᵇ − 1)`,
/// `zero = round(−min/scale)`, codes `q = clamp(round(w/scale) + zero, 0, 2ᵇ − 1)`
/// and back `scale·(q − zero)`. As in the GPTQ reference, the range always holds 0
/// (min ≤ 0 ≤ max), so a zero weight stays exactly zero, and a group of zeros gets
/// the range [−1, 1].
public struct QuantizationGrid: Equatable {
    public var scale: Float
    public var zero: Float
    public let maxCode: Float

    /// The grid of values between `minimum` and `maximum`.
    public init(minimum: Float, maximum: Float, bits: Int) {
        maxCode = Float((1 << bits) - 1)
        var lo = min(minimum, 0), hi = max(maximum, 0)
        if lo == hi { lo = -1; hi = 1 }
        scale = (hi - lo) / maxCode
        zero = min(max((-lo / scale).rounded(.toNearestOrEven), 0), maxCode)
    }

    @inline(__always)
    public func code(_ w: Float) -> Float {
        min(max((w / scale).rounded(.toNearestOrEven) + zero, 0), maxCode)
    }

    @inline(__always)
    public func value(ofCode q: Float) -> Float { scale * (q - zero) }
}

/// What quantizing a model asks for; `quantize` and the tests share the checks.
public struct QuantizationSettings {
    public var bits: Int
    public var groupSize: Int

    public init(bits: Int, groupSize: Int) throws {
        guard bits == 4 || bits == 8 else {
            throw UsageError("quantize", "--bits must be 4 or 8, got \(bits)")
        }
        guard groupSize >= 1 else {
            throw UsageError("quantize", "--group-size must be at least 1 (a row longer than it is split into groups), got \(groupSize)")
        }
        self.bits = bits; self.groupSize = groupSize
    }

    /// Groups of a row of `columns` weights: ⌈columns / groupSize⌉ (the last may be shorter).
    public func groups(columns: Int) -> Int { (columns + groupSize - 1) / groupSize }
}

/// Round-to-nearest: every group of every row on its own min/max grid, with no
/// correction (the baseline GPTQ is measured against).
public enum RoundToNearest {
    /// weight [rows, columns] row-major → its codes and grids.
    public static func quantize(_ weight: [Float], rows: Int, columns: Int,
                                settings: QuantizationSettings) -> QuantizedMatrix {
        precondition(weight.count == rows * columns)
        let gs = settings.groupSize, groups = settings.groups(columns: columns)
        var q = [UInt8](repeating: 0, count: rows * columns)
        var scales = [Float](repeating: 0, count: rows * groups), zeros = [UInt8](repeating: 0, count: rows * groups)
        for r in 0..<rows {
            for g in 0..<groups {
                let range = (g * gs)..<min((g + 1) * gs, columns)
                var lo = Float.infinity, hi = -Float.infinity
                for c in range { lo = min(lo, weight[r * columns + c]); hi = max(hi, weight[r * columns + c]) }
                let grid = QuantizationGrid(minimum: lo, maximum: hi, bits: settings.bits)
                scales[r * groups + g] = grid.scale; zeros[r * groups + g] = UInt8(grid.zero)
                for c in range { q[r * columns + c] = UInt8(grid.code(weight[r * columns + c])) }
            }
        }
        return QuantizedMatrix(rows: rows, columns: columns, bits: settings.bits, groups: groups,
                               codes: QuantizedMatrix.pack(q, rows: rows, columns: columns, bits: settings.bits),
                               scales: scales, zeros: zeros,
                               groupIndex: (0..<columns).map { Int32($0 / gs) })
    }
}

/// llama.cpp's Q4_0 and Q8_0 rounding (`GGMLType`), held in `QuantizedMatrix` form so
/// that `trainer eval` measures exactly what those GGUF blocks give: groups of 32,
/// Q4_0 as scale d (the f16 block scale, negative when the block's largest value is
/// positive), zero 8, codes 0…15; Q8_0 as scale d, zero 128, codes q + 128.
public enum GGMLBlockRounding {
    /// weight [rows, columns] row-major; `columns` must be whole blocks of 32.
    public static func quantize(_ weight: [Float], rows: Int, columns: Int, type: GGMLType) -> QuantizedMatrix {
        precondition(columns % GGMLType.blockValues == 0 && (type == .q4_0 || type == .q8_0))
        let groups = columns / 32, bytesPerBlock = type.block.bytes
        var q = [UInt8](repeating: 0, count: rows * columns), scales = [Float](repeating: 0, count: rows * groups)
        for r in 0..<rows {
            let bytes = type.encode(Array(weight[(r * columns)..<((r + 1) * columns)]))
            for g in 0..<groups {
                let p = g * bytesPerBlock
                scales[r * groups + g] = Float(Float16(bitPattern: UInt16(bytes[p]) | UInt16(bytes[p + 1]) << 8))
                for j in 0..<32 {
                    let c = r * columns + g * 32 + j
                    if type == .q8_0 {
                        q[c] = UInt8(Int(Int8(bitPattern: bytes[p + 2 + j])) + 128)
                    } else {
                        let b = bytes[p + 2 + j % 16]
                        q[c] = j < 16 ? b & 0x0F : b >> 4
                    }
                }
            }
        }
        let bits = type == .q4_0 ? 4 : 8
        return QuantizedMatrix(rows: rows, columns: columns, bits: bits, groups: groups,
                               codes: QuantizedMatrix.pack(q, rows: rows, columns: columns, bits: bits), scales: scales,
                               zeros: [UInt8](repeating: type == .q4_0 ? 8 : 128, count: rows * groups),
                               groupIndex: (0..<columns).map { Int32($0 / 32) })
    }
}
