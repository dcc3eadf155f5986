import Foundation

/// Character error rate of document readings and exact-match accuracy of
/// short answers, the two text-only figures of `trainer eval`.
public enum ReadingMetrics {
    /// Levenshtein distance between two character sequences (insertions,
    /// deletions and substitutions each cost 1).
    public static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count), current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(substitution, previous[j] + 1, current[j - 1] + 1)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// Upper case, every run of white space one blank.
    static func normalised(_ s: String) -> [Character] {
        Array(s.uppercased().split(whereSeparator: \.isWhitespace).joined(separator: " "))
    }

    /// What an answer reads out: its quoted parts joined by blanks ('The first
    /// line reads "RED CAT"…'), or the whole answer when it quotes nothing (a
    /// transcription).
    public static func reading(of answer: String) -> String {
        let parts = answer.split(separator: "\"", omittingEmptySubsequences: false)
        guard parts.count >= 3 else { return answer }
        return stride(from: 1, to: parts.count - 1, by: 2).map { String(parts[$0]) }.joined(separator: " ")
    }

    /// Character edits needed to turn the reading of `answer` into `reference`
    /// (case and spacing ignored), and the reference's length.
    public static func characterErrors(answer: String, reference: String) -> (edits: Int, length: Int) {
        let ref = normalised(reference)
        return (editDistance(normalised(reading(of: answer)), ref), ref.count)
    }

    /// Whether two short answers say the same: case, punctuation and spacing ignored.
    public static func sameAnswer(_ a: String, _ b: String) -> Bool {
        func words(_ s: String) -> [Substring] {
            s.lowercased().split { !$0.isLetter && !$0.isNumber }
        }
        return words(a) == words(b)
    }
}
