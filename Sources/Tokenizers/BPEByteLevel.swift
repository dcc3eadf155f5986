/// GPT-2's reversible byte-to-character map used by byte-level BPE.
///
/// Every byte becomes one printable Unicode character so that BPE works on "characters" while
/// covering all of UTF-8: the bytes `!`…`~`, `¡`…`¬` and `®`…`ÿ` map to themselves, and the other
/// 68 bytes (controls, space, DEL, NBSP, soft hyphen, …) map in increasing order to U+0100, U+0101, …
/// (so the space 0x20 becomes `Ġ` U+0120 and the newline 0x0A becomes `Ċ` U+010A).
enum BPEByteLevel {
    /// `byteToScalar[b]` is the character that stands for byte `b`.
    static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt8(b))
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The inverse map, indexed by scalar value (0..<324); -1 where no byte maps there.
    static let scalarToByte: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)
        for (b, scalar) in byteToScalar.enumerated() { table[Int(scalar.value)] = Int16(b) }
        return table
    }()

    /// The byte-level form of a string: each UTF-8 byte replaced by its character.
    static func encode(_ text: String) -> String {
        var view = String.UnicodeScalarView()
        for b in text.utf8 { view.append(byteToScalar[Int(b)]) }
        return String(view)
    }

    /// The bytes a byte-level token stands for, or nil when it contains a character outside the map.
    static func bytes(of token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for scalar in token.unicodeScalars {
            let v = Int(scalar.value)
            guard v < scalarToByte.count, scalarToByte[v] >= 0 else { return nil }
            out.append(UInt8(scalarToByte[v]))
        }
        return out
    }
}
