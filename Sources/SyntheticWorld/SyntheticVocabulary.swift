import Foundation

// The closed vocabulary of the synthetic world: few enough words that a tiny
// model can learn all of them, and values far enough apart (colours, sizes,
// grid cells) that nothing is ambiguous after resizing.

/// The shapes a synthetic image can contain.
public enum SyntheticShape: String, Codable, CaseIterable, Sendable {
    case circle, square, triangle, star, diamond

    public var plural: String { rawValue + "s" }
}

/// Object colours, chosen to stay distinct under bicubic resizing and against
/// every background tint.
public enum SyntheticColor: String, Codable, CaseIterable, Sendable {
    case red, orange, yellow, green, blue, purple, pink, black

    /// The exact RGB value drawn for this colour.
    public var rgb: (UInt8, UInt8, UInt8) {
        switch self {
        case .red: return (220, 30, 30)
        case .orange: return (250, 140, 0)
        case .yellow: return (235, 215, 0)
        case .green: return (30, 160, 50)
        case .blue: return (30, 70, 220)
        case .purple: return (130, 50, 180)
        case .pink: return (250, 110, 190)
        case .black: return (20, 20, 20)
        }
    }
}

/// Object sizes: the edge of the square the shape is inscribed in.
public enum SyntheticSize: String, Codable, CaseIterable, Sendable {
    case small, large

    /// Half the side of the shape's enclosing square, in pixels of a 224×224 image: a small
    /// shape is 49 px wide, 3.5 patches of 14 px at 224 px (7 at 448); a large one 69 px.
    var radius: Int { self == .small ? 24 : 34 }
}

/// A cell of the 3×3 grid; every object occupies its own cell, so objects never overlap.
public enum SyntheticPosition: String, Codable, CaseIterable, Sendable {
    case topLeft = "top left", top = "top", topRight = "top right"
    case left = "left", center = "center", right = "right"
    case bottomLeft = "bottom left", bottom = "bottom", bottomRight = "bottom right"

    /// Row (0 = top) and column (0 = left) of the cell.
    public var row: Int { (SyntheticPosition.allCases.firstIndex(of: self)!) / 3 }
    public var column: Int { (SyntheticPosition.allCases.firstIndex(of: self)!) % 3 }

    public init(row: Int, column: Int) {
        self = SyntheticPosition.allCases[row * 3 + column]
    }

    /// The phrase used in captions: "at the top left", "on the left", "in the center".
    public var phrase: String {
        switch self {
        case .center: return "in the center"
        case .left, .right: return "on the \(rawValue)"
        default: return "at the \(rawValue)"
        }
    }
}

/// Background tints: light and unsaturated, so every object colour stands out.
public enum SyntheticBackground: String, Codable, CaseIterable, Sendable {
    case white, gray, beige

    public var rgb: (UInt8, UInt8, UInt8) {
        switch self {
        case .white: return (250, 250, 250)
        case .gray: return (225, 225, 225)
        case .beige: return (245, 238, 220)
        }
    }
}

/// The words printed in document images (besides numbers).
let syntheticDocumentWords: [String] = [
    "RED", "BLUE", "GREEN", "PINK", "BLACK", "CIRCLE", "SQUARE", "STAR", "CAT", "DOG",
    "SUN", "MOON", "TREE", "BOOK", "FISH", "BIRD", "HOUSE", "BOAT", "CAKE", "LAMP",
    "RAIN", "SNOW", "ROAD", "DOOR", "KEY", "CUP", "MILK", "BREAD", "APPLE", "PLUM",
    "NORTH", "SOUTH", "EAST", "WEST", "OPEN", "CLOSED", "STOP", "GO", "PAGE", "ROOM",
]

/// English words for small counts; digits beyond.
func syntheticNumberWord(_ n: Int) -> String {
    let words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    return n >= 0 && n < words.count ? words[n] : String(n)
}

/// "three" → 3; also accepts digits. Nil for anything else.
func syntheticNumberValue(_ word: String) -> Int? {
    let words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    if let i = words.firstIndex(of: word) { return i }
    if word == "no" || word == "none" { return 0 }
    return Int(word)
}

func syntheticOrdinal(_ n: Int) -> String {
    let words = ["first", "second", "third", "fourth", "fifth"]
    return n >= 0 && n < words.count ? words[n] : "\(n + 1)th"
}

extension String {
    /// The string with its first character uppercased.
    var syntheticCapitalized: String { prefix(1).uppercased() + dropFirst() }
}
