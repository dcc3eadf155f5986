import Foundation
import TestSupport
import Tokenizers
import XCTest

/// Every case of every reference tokenizer: exact ids from `encode`, exact text from `decode`.
final class TokenizerParityTests: XCTestCase {
    func testEveryReferenceCase() throws {
        let directories = try TokenizerFixtures.tokenizerDirectories()
        XCTAssertFalse(directories.isEmpty, "no tokenizer fixtures under \(TokenizerFixtures.tokenizerRoot.path)")
        var total = 0
        var passed = 0
        for directory in directories {
            let name = directory.lastPathComponent
            let tokenizer = try Tokenizer(contentsOf: directory.appendingPathComponent("tokenizer.json").path)
            let cases = try TokenizerFixtures.cases(in: directory)
            XCTAssertFalse(cases.isEmpty, "\(name): no cases")
            for (k, c) in cases.enumerated() {
                total += 1
                let ids = tokenizer.encode(c.text)
                let decoded = tokenizer.decode(c.ids)
                XCTAssertEqual(ids, c.ids, "\(name) case \(k) ids for \(c.text.debugDescription)")
                XCTAssertEqual(decoded, c.decoded, "\(name) case \(k) decode for \(c.text.debugDescription)")
                if ids == c.ids, decoded == c.decoded { passed += 1 }
            }
        }
        print("TokenizerParityTests: \(passed)/\(total) cases passed in \(directories.count) tokenizers")
    }

    /// Round trips through ids and tokens agree with the vocabulary of every fixture.
    func testIdTokenLookupIsInverse() throws {
        for directory in try TokenizerFixtures.tokenizerDirectories() {
            let tokenizer = try Tokenizer(contentsOf: directory.appendingPathComponent("tokenizer.json").path)
            var checked = 0
            for id in 0..<Int32(tokenizer.vocabSize) {
                guard let token = tokenizer.token(of: id) else { continue }
                XCTAssertEqual(tokenizer.id(of: token), id, "\(directory.lastPathComponent) id \(id)")
                checked += 1
            }
            XCTAssertEqual(checked, tokenizer.vocabSize, "\(directory.lastPathComponent): ids without a token")
        }
    }
}
