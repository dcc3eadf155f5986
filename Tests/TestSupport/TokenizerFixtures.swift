import Foundation

/// The reference tokenizers: one folder each with tokenizer.json and cases.json.
public enum TokenizerFixtures {
    public static var tokenizerRoot: URL { Fixtures.referenceRoot.appendingPathComponent("tokenizer") }

    /// Every directory under reference/tokenizer/ that holds a tokenizer.json.
    public static func tokenizerDirectories() throws -> [URL] {
        let names = try FileManager.default.contentsOfDirectory(atPath: tokenizerRoot.path).sorted()
        return names.map { tokenizerRoot.appendingPathComponent($0) }.filter {
            FileManager.default.fileExists(atPath: $0.appendingPathComponent("tokenizer.json").path)
        }
    }

    public struct Case: Decodable {
        public let text: String
        public let ids: [Int32]
        public let decoded: String
    }

    public static func cases(in directory: URL) throws -> [Case] {
        let data = try Data(contentsOf: directory.appendingPathComponent("cases.json"))
        return try JSONDecoder().decode([Case].self, from: data)
    }
}
