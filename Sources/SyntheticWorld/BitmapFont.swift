import Foundation
import Datasets

/// A built-in 5×7 bitmap font (A–Z, 0–9, a few punctuation marks and space),
/// drawn scaled up by an integer factor. Document images are printed with it,
/// so the data needs no font files and every pixel of a glyph is known.
public enum BitmapFont {
    public static let glyphWidth = 5
    public static let glyphHeight = 7
    /// Blank columns between two glyphs, in font pixels.
    public static let spacing = 1

    /// Each glyph: seven rows of five cells, top to bottom, "#" = ink.
    private static let table: [(Character, String)] = [
        ("A", ".###. #...# #...# ##### #...# #...# #...#"),
        ("B", "####. #...# #...# ####. #...# #...# ####."),
        ("C", ".###. #...# #.... #.... #.... #...# .###."),
        ("D", "####. #...# #...# #...# #...# #...# ####."),
        ("E", "##### #.... #.... ####. #.... #.... #####"),
        ("F", "##### #.... #.... ####. #.... #.... #...."),
        ("G", ".###. #...# #.... #.### #...# #...# .####"),
        ("H", "#...# #...# #...# ##### #...# #...# #...#"),
        ("I", ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###."),
        ("J", "..### ...#. ...#. ...#. ...#. #..#. .##.."),
        ("K", "#...# #..#. #.#.. ##... #.#.. #..#. #...#"),
        ("L", "#.... #.... #.... #.... #.... #.... #####"),
        ("M", "#...# ##.## #.#.# #.#.# #...# #...# #...#"),
        ("N", "#...# #...# ##..# #.#.# #..## #...# #...#"),
        ("O", ".###. #...# #...# #...# #...# #...# .###."),
        ("P", "####. #...# #...# ####. #.... #.... #...."),
        ("Q", ".###. #...# #...# #...# #.#.# #..#. .##.#"),
        ("R", "####. #...# #...# ####. #.#.. #..#. #...#"),
        ("S", ".#### #.... #.... .###. ....# ....# ####."),
        ("T", "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#.."),
        ("U", "#...# #...# #...# #...# #...# #...# .###."),
        ("V", "#...# #...# #...# #...# #...# .#.#. ..#.."),
        ("W", "#...# #...# #...# #.#.# #.#.# #.#.# .#.#."),
        ("X", "#...# #...# .#.#. ..#.. .#.#. #...# #...#"),
        ("Y", "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#.."),
        ("Z", "##### ....# ...#. ..#.. .#... #.... #####"),
        ("0", ".###. #...# #..## #.#.# ##..# #...# .###."),
        ("1", "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###."),
        ("2", ".###. #...# ....# ...#. ..#.. .#... #####"),
        ("3", "##### ...#. ..#.. ...#. ....# #...# .###."),
        ("4", "...#. ..##. .#.#. #..#. ##### ...#. ...#."),
        ("5", "##### #.... ####. ....# ....# #...# .###."),
        ("6", "..##. .#... #.... ####. #...# #...# .###."),
        ("7", "##### ....# ...#. ..#.. .#... .#... .#..."),
        ("8", ".###. #...# #...# .###. #...# #...# .###."),
        ("9", ".###. #...# #...# .#### ....# ...#. .##.."),
        (".", "..... ..... ..... ..... ..... .##.. .##.."),
        (",", "..... ..... ..... ..... .##.. ..#.. .#..."),
        ("!", "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#.."),
        ("?", ".###. #...# ....# ...#. ..#.. ..... ..#.."),
        ("-", "..... ..... ..... ##### ..... ..... ....."),
        ("+", "..... ..#.. ..#.. ##### ..#.. ..#.. ....."),
        (":", "..... .##.. .##.. ..... .##.. .##.. ....."),
        ("'", "..#.. ..#.. .#... ..... ..... ..... ....."),
        ("\"", ".#.#. .#.#. .#.#. ..... ..... ..... ....."),
        ("/", "..... ....# ...#. ..#.. .#... #.... ....."),
        ("(", "...#. ..#.. .#... .#... .#... ..#.. ...#."),
        (")", ".#... ..#.. ...#. ...#. ...#. ..#.. .#..."),
        (" ", "..... ..... ..... ..... ..... ..... ....."),
    ]

    /// Glyph bitmaps: 7 rows, bit 4 = leftmost column.
    private static let glyphs: [Character: [UInt8]] = {
        var out: [Character: [UInt8]] = [:]
        for (c, rows) in table {
            out[c] = rows.split(separator: " ").map { row in
                row.reduce(UInt8(0)) { ($0 << 1) | ($1 == "#" ? 1 : 0) }
            }
        }
        return out
    }()

    /// Every character the font can draw, in table order.
    public static var characters: [Character] { table.map { $0.0 } }

    /// Whether every character of `text` (lowercase letters count as uppercase) has a glyph.
    public static func canRender(_ text: String) -> Bool {
        text.uppercased().allSatisfy { glyphs[$0] != nil }
    }

    /// Whether the font pixel at (column, row) of `character`'s glyph is ink; nil for unknown characters.
    public static func ink(_ character: Character, column: Int, row: Int) -> Bool? {
        guard let rows = glyphs[Character(character.uppercased())] else { return nil }
        guard (0..<glyphWidth).contains(column), (0..<glyphHeight).contains(row) else { return false }
        return rows[row] & (1 << (glyphWidth - 1 - column)) != 0
    }

    /// Horizontal distance from one glyph's left edge to the next, in image pixels.
    public static func advance(scale: Int) -> Int { (glyphWidth + spacing) * scale }

    /// Width in image pixels of `text` drawn at `scale` (no trailing spacing).
    public static func width(of text: String, scale: Int) -> Int {
        text.isEmpty ? 0 : text.count * advance(scale: scale) - spacing * scale
    }

    /// Height in image pixels of one line drawn at `scale`.
    public static func height(scale: Int) -> Int { glyphHeight * scale }
}

extension RGBImage {
    /// Prints `text` with its top-left corner at (x, y), each font pixel a
    /// `scale`×`scale` block. Characters without a glyph are left blank.
    mutating func drawText(_ text: String, x: Int, y: Int, scale: Int, color: (UInt8, UInt8, UInt8)) {
        var left = x
        for c in text {
            for row in 0..<BitmapFont.glyphHeight {
                for column in 0..<BitmapFont.glyphWidth
                where BitmapFont.ink(c, column: column, row: row) == true {
                    drawRect(x: left + column * scale, y: y + row * scale,
                             width: scale, height: scale, color: color)
                }
            }
            left += BitmapFont.advance(scale: scale)
        }
    }
}
