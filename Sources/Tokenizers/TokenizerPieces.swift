extension Tokenizer {
    /// Encodes the concatenation of `pieces` exactly as `encode(pieces.joined())` would, and tells
    /// for every token which piece it comes from.
    ///
    /// Tokens are never computed piece by piece (that could differ from the joint encoding at a
    /// boundary, e.g. "\n" + "\nText" is one pre-token "\n\n" in Qwen2). Added tokens belong to the
    /// piece where they start. Inside a text segment between added tokens, the tokens shared with
    /// the encoding of the segment cut at a piece boundary belong to the pieces before it; a token
    /// that straddles the boundary belongs to the piece after it.
    ///
    /// - Returns: `ids` and `piece`, of equal length; `piece[t]` indexes `pieces`.
    public func encode(pieces: [String]) -> (ids: [Int32], piece: [Int]) {
        let text = pieces.joined()
        let bytes = Array(text.utf8)
        var ends: [Int] = []   // byte offset where each piece ends
        var offset = 0
        for piece in pieces {
            offset += piece.utf8.count
            ends.append(offset)
        }
        /// The first piece that ends after `position` (the non-empty piece holding that byte).
        func pieceHolding(_ position: Int) -> Int { ends.firstIndex { $0 > position } ?? max(0, pieces.count - 1) }

        var ids: [Int32] = []
        var owner: [Int] = []
        for segment in splitAddedTokens(text) {
            switch segment {
            case .token(let id, let range):
                ids.append(id)
                owner.append(pieceHolding(range.lowerBound))
            case .text(let raw, let atOrigin, let range):
                var segmentIds: [Int32] = []
                encodeSegment(raw, atOrigin: atOrigin, into: &segmentIds)
                var assigned = 0
                for (index, boundary) in ends.enumerated() where boundary > range.lowerBound && boundary < range.upperBound {
                    var prefixIds: [Int32] = []
                    encodeSegment(String(decoding: bytes[range.lowerBound..<boundary], as: UTF8.self),
                                  atOrigin: atOrigin, into: &prefixIds)
                    let common = zip(prefixIds, segmentIds).prefix { $0 == $1 }.count
                    // `index` is the first piece ending at `boundary` that holds bytes of this segment.
                    let holder = max(index, pieceHolding(range.lowerBound))
                    while assigned < common { owner.append(holder); assigned += 1 }
                }
                let last = pieceHolding(range.upperBound - 1)
                while assigned < segmentIds.count { owner.append(last); assigned += 1 }
                ids.append(contentsOf: segmentIds)
            }
        }
        return (ids, owner)
    }
}
