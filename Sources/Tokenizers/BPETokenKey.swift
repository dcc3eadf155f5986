/// A token string that hashes and compares byte for byte.
///
/// Swift `String` equality is canonical equivalence: "é" (U+00E9) equals "e\u{301}". A vocabulary
/// or a word cache keyed by `String` would therefore mix up tokens that differ only in their
/// Unicode composition; every token-keyed table uses this key instead.
struct BPETokenKey: Hashable {
    let text: String

    init(_ text: String) { self.text = text }

    static func == (a: BPETokenKey, b: BPETokenKey) -> Bool {
        a.text.utf8.count == b.text.utf8.count && a.text.utf8.elementsEqual(b.text.utf8)
    }

    func hash(into hasher: inout Hasher) {
        var copy = text
        hasher.combine(copy.utf8.count)
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
