import Foundation

/// A JSON string literal (RFC 8259): quotes, backslashes and control characters
/// escaped, everything else written as UTF-8. Used by the writers that need a
/// fixed key order or layout (tokenizer.json, the synthetic data files).
public func jsonStringLiteral(_ text: String, into out: inout String) {
    out += "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20 || scalar.value == 0x7F:
            out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    out += "\""
}

public func jsonStringLiteral(_ text: String) -> String {
    var out = ""
    jsonStringLiteral(text, into: &out)
    return out
}
