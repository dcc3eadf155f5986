import Foundation

/// A weight matrix [rows, columns] stored as b-bit integer codes with one
/// asymmetric scale and zero point per row and group of columns:
/// `W[r, c] ≈ scale[r, g] · (q[r, c] − zero[r, g])` with `g = groupIndex[c]`,
/// `q` and `zero` in 0…2ᵇ−1. (The signed form of MiniCPM's int4 release,
/// values in [−8, 7], is the same number with 2ᵇ⁻¹ taken off both q and zero.)
///
/// Codes are packed row by row, two 4-bit codes per byte (the even column in the
/// low nibble) or one 8-bit code per byte. `groupIndex` maps each column to its
/// group: `c / groupSize` in column order, or the order activation-order GPTQ
/// quantized the columns in.
public struct QuantizedMatrix: Equatable {
    public var rows: Int
    public var columns: Int
    public var bits: Int
    public var groups: Int
    /// [rows, ⌈columns·bits/8⌉]
    public var codes: [UInt8]
    /// [rows, groups]
    public var scales: [Float]
    /// [rows, groups], in 0…2ᵇ−1
    public var zeros: [UInt8]
    /// [columns], in 0..<groups
    public var groupIndex: [Int32]

    public init(rows: Int, columns: Int, bits: Int, groups: Int, codes: [UInt8], scales: [Float], zeros: [UInt8],
                groupIndex: [Int32]) {
        self.rows = rows; self.columns = columns; self.bits = bits; self.groups = groups
        self.codes = codes; self.scales = scales; self.zeros = zeros; self.groupIndex = groupIndex
    }

    /// Bytes of one packed row.
    public static func rowBytes(columns: Int, bits: Int) -> Int { (columns * bits + 7) / 8 }

    /// Packs integer codes [rows, columns] (each in 0…2ᵇ−1).
    public static func pack(_ q: [UInt8], rows: Int, columns: Int, bits: Int) -> [UInt8] {
        precondition(q.count == rows * columns && (bits == 4 || bits == 8))
        if bits == 8 { return q }
        let stride = rowBytes(columns: columns, bits: 4)
        var out = [UInt8](repeating: 0, count: rows * stride)
        for r in 0..<rows {
            for c in 0..<columns {
                let v = q[r * columns + c] & 0x0F
                out[r * stride + c / 2] |= c % 2 == 0 ? v : v << 4
            }
        }
        return out
    }

    /// The integer codes [rows, columns].
    public func unpacked() -> [UInt8] {
        if bits == 8 { return codes }
        let stride = Self.rowBytes(columns: columns, bits: 4)
        var q = [UInt8](repeating: 0, count: rows * columns)
        for r in 0..<rows {
            for c in 0..<columns {
                let byte = codes[r * stride + c / 2]
                q[r * columns + c] = c % 2 == 0 ? byte & 0x0F : byte >> 4
            }
        }
        return q
    }

    /// The float matrix the codes stand for, [rows, columns] row-major.
    public func dequantized() -> [Float] {
        let q = unpacked()
        var w = [Float](repeating: 0, count: rows * columns)
        for r in 0..<rows {
            for c in 0..<columns {
                let g = r * groups + Int(groupIndex[c])
                w[r * columns + c] = scales[g] * (Float(q[r * columns + c]) - Float(zeros[g]))
            }
        }
        return w
    }

    /// Problems that would make the arrays disagree with each other (nil: consistent).
    func inconsistency() -> String? {
        guard bits == 4 || bits == 8 else { return "\(bits) bits (4 or 8 are stored)" }
        guard rows > 0, columns > 0, groups > 0 else { return "empty matrix \(rows)×\(columns), \(groups) groups" }
        if codes.count != rows * Self.rowBytes(columns: columns, bits: bits) { return "\(codes.count) code bytes" }
        if scales.count != rows * groups || zeros.count != rows * groups { return "\(scales.count) scales, \(zeros.count) zeros" }
        if groupIndex.count != columns { return "\(groupIndex.count) group indices for \(columns) columns" }
        if groupIndex.contains(where: { $0 < 0 || Int($0) >= groups }) { return "a group index outside 0..<\(groups)" }
        let top = UInt8((1 << bits) - 1)
        if zeros.contains(where: { $0 > top }) { return "a zero point above \(top)" }
        if scales.contains(where: { !$0.isFinite }) { return "a scale that is not finite" }
        return nil
    }
}

/// How a checkpoint's weights were quantized (`/quantized/info`, JSON).
public struct QuantizationInfo: Codable, Equatable {
    public var method: String
    public var bits: Int
    public var groupSize: Int
    public var actOrder: Bool
    public var calibrationSamples: Int
    public var calibrationTokens: Int
    public var source: String

    public init(method: String, bits: Int, groupSize: Int, actOrder: Bool, calibrationSamples: Int,
                calibrationTokens: Int, source: String) {
        self.method = method; self.bits = bits; self.groupSize = groupSize; self.actOrder = actOrder
        self.calibrationSamples = calibrationSamples; self.calibrationTokens = calibrationTokens; self.source = source
    }
}

/// The quantized part of a checkpoint: `/quantized/info` and, per weight,
/// `/quantized/<dotted path>/{codes, scales, zeros, g_idx}`. Those weights are not
/// under `/model`; `readModelTensors` dequantizes them, so every loader sees floats.
public enum QuantizedWeights {
    public static let group = "quantized"

    public static func write(_ matrices: [String: QuantizedMatrix], info: QuantizationInfo, to file: HDF5File) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try file.write("\(group)/info", string: String(decoding: try encoder.encode(info), as: UTF8.self))
        for (name, m) in matrices.sorted(by: { $0.key < $1.key }) {
            let base = "\(group)/\(name)"
            try file.write("\(base)/codes", uint8s: m.codes, shape: [m.rows, m.codes.count / m.rows])
            try file.write("\(base)/scales", floats: m.scales, shape: [m.rows, m.groups])
            try file.write("\(base)/zeros", uint8s: m.zeros, shape: [m.rows, m.groups])
            try file.write("\(base)/g_idx", int64s: m.groupIndex.map { Int64($0) }, shape: [m.columns])
        }
    }

    /// nil when the file holds no quantized weights.
    public static func readInfo(from file: HDF5File) throws -> QuantizationInfo? {
        guard file.exists("\(group)/info") else { return nil }
        do {
            return try JSONDecoder().decode(QuantizationInfo.self, from: Data(try file.readString("\(group)/info").utf8))
        } catch let e as HDF5Error {
            throw e
        } catch {
            throw CheckpointError(file: file.path, message: "/\(group)/info cannot be decoded: \(error)")
        }
    }

    /// Every quantized matrix of the file by parameter path (empty when there is none).
    public static func read(from file: HDF5File) throws -> [String: QuantizedMatrix] {
        guard let info = try readInfo(from: file) else { return [:] }
        var out: [String: QuantizedMatrix] = [:]
        for name in try file.members(of: group) where name != "info" {
            let base = "\(group)/\(name)"
            let (codes, codeShape) = try file.readUInt8s("\(base)/codes")
            let (scales, scaleShape) = try file.readFloats("\(base)/scales")
            let (zeros, _) = try file.readUInt8s("\(base)/zeros")
            let (gIdx, _) = try file.readInt64s("\(base)/g_idx")
            guard codeShape.count == 2, scaleShape.count == 2, gIdx.allSatisfy({ $0 >= 0 && $0 <= Int64(Int32.max) }) else {
                throw CheckpointError(file: file.path, message: "/\(base): codes \(codeShape), scales \(scaleShape) are not matrices")
            }
            let m = QuantizedMatrix(rows: codeShape[0], columns: gIdx.count, bits: info.bits, groups: scaleShape[1],
                                    codes: codes, scales: scales, zeros: zeros, groupIndex: gIdx.map { Int32($0) })
            if let problem = m.inconsistency() {
                throw CheckpointError(file: file.path, message: "/\(base) is inconsistent: \(problem)")
            }
            out[name] = m
        }
        return out
    }
}
