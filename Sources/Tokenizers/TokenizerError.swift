import Foundation

/// An error while loading, building or writing a tokenizer.
///
/// The description always names the file (or the source of the data) and the problem, e.g.
/// `tokenizer.json: field 'model.merges[12]': merged token "Ġthe" is not in the vocabulary`.
public struct TokenizerError: Error, CustomStringConvertible, Equatable {
    /// The file (or other source) the problem is in.
    public let file: String
    /// What is wrong.
    public let message: String

    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}

extension TokenizerError: LocalizedError {
    public var errorDescription: String? { description }
}
