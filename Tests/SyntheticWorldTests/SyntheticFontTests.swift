import Datasets
import XCTest
import SyntheticWorld

/// The built-in 5×7 bitmap font.
final class SyntheticFontTests: XCTestCase {
    func bitmap(_ c: Character) -> [Bool] {
        (0..<7).flatMap { r in (0..<5).map { BitmapFont.ink(c, column: $0, row: r)! } }
    }

    func testCoversLettersDigitsAndPunctuation() {
        let chars = Set(BitmapFont.characters)
        for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?-:' " { XCTAssertTrue(chars.contains(c), "\(c)") }
        XCTAssertTrue(BitmapFont.canRender("Red cat 42!"))
        XCTAssertFalse(BitmapFont.canRender("é"))
        XCTAssertNil(BitmapFont.ink("#", column: 0, row: 0))
    }

    func testGlyphsAreDistinct() {
        let chars = BitmapFont.characters
        for i in chars.indices {
            for j in chars.indices where j > i {
                XCTAssertNotEqual(bitmap(chars[i]), bitmap(chars[j]), "\(chars[i]) and \(chars[j]) look the same")
            }
            if chars[i] != " " { XCTAssertTrue(bitmap(chars[i]).contains(true), "\(chars[i]) is blank") }
        }
        XCTAssertFalse(bitmap(" ").contains(true))
        XCTAssertEqual(bitmap("a"), bitmap("A"))
    }

    func testKnownGlyphShapes() {
        // L: full left column and bottom row, nothing else.
        let l = bitmap("L")
        for r in 0..<7 {
            for c in 0..<5 { XCTAssertEqual(l[r * 5 + c], c == 0 || r == 6, "L at \(c),\(r)") }
        }
        // T: full top row and middle column.
        let t = bitmap("T")
        for r in 0..<7 {
            for c in 0..<5 { XCTAssertEqual(t[r * 5 + c], r == 0 || c == 2, "T at \(c),\(r)") }
        }
        // -: only the middle row.
        XCTAssertEqual(bitmap("-").enumerated().filter(\.element).map(\.offset), Array(15..<20))
    }

    func testMetrics() {
        XCTAssertEqual(BitmapFont.advance(scale: 4), 24)
        XCTAssertEqual(BitmapFont.width(of: "CAT", scale: 4), 3 * 24 - 4)
        XCTAssertEqual(BitmapFont.width(of: "", scale: 4), 0)
        XCTAssertEqual(BitmapFont.height(scale: 3), 21)
    }
}
