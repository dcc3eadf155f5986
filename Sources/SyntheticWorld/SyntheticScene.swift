import Core
import Foundation
import Datasets

/// What a synthetic image shows.
public enum SyntheticImageKind: String, Codable, Sendable {
    case shapes, document
}

/// One drawn object and where it is.
public struct SyntheticObject: Codable, Equatable, Sendable {
    public var shape: SyntheticShape
    public var color: SyntheticColor
    public var size: SyntheticSize
    public var position: SyntheticPosition
    /// Tight box of the drawn pixels: [x0, y0, x1, y1], x1 and y1 exclusive.
    public var bbox: [Int]

    public init(shape: SyntheticShape, color: SyntheticColor, size: SyntheticSize,
                position: SyntheticPosition, bbox: [Int] = []) {
        self.shape = shape; self.color = color; self.size = size
        self.position = position; self.bbox = bbox
    }
}

/// Ground truth of one synthetic image (one line of `metadata.jsonl`).
public struct SyntheticImageTruth: Codable, Equatable, Sendable {
    public var id: String
    /// Path relative to the output folder, e.g. "images/shapes-0001.png".
    public var image: String
    public var kind: SyntheticImageKind
    /// [width, height] in pixels.
    public var size: [Int]
    /// "train" or "heldout".
    public var split: String
    public var background: SyntheticBackground
    /// Shapes images: the objects in reading order (grid row, then column).
    public var objects: [SyntheticObject]?
    /// Documents: the printed lines, top to bottom.
    public var lines: [String]?
    /// Documents: the box of each printed line, [x0, y0, x1, y1], x1 and y1 exclusive.
    public var lineBoxes: [[Int]]?
    /// Documents: image pixels per font pixel.
    public var fontScale: Int?

    public init(id: String, image: String, kind: SyntheticImageKind, size: [Int], split: String,
                background: SyntheticBackground, objects: [SyntheticObject]? = nil, lines: [String]? = nil,
                lineBoxes: [[Int]]? = nil, fontScale: Int? = nil) {
        self.id = id; self.image = image; self.kind = kind; self.size = size; self.split = split
        self.background = background; self.objects = objects; self.lines = lines
        self.lineBoxes = lineBoxes; self.fontScale = fontScale
    }

    enum CodingKeys: String, CodingKey {
        case id, image, kind, size, split, background, objects, lines
        case lineBoxes = "line_boxes", fontScale = "font_scale"
    }

    /// The object at `position`, if any.
    public func object(at position: SyntheticPosition) -> SyntheticObject? {
        objects?.first { $0.position == position }
    }
}

/// Layout constants of the synthetic images.
public enum SyntheticLayout {
    public static let shapesSize = (width: 224, height: 224)
    /// 4:1, so the adaptive slicing cuts a document into a [4, 1] grid of 336×336 tiles.
    public static let documentSize = (width: 1344, height: 336)
    public static let fontScale = 4
    public static let textColor: (UInt8, UInt8, UInt8) = (20, 20, 20)
    static let maxLineCharacters = 40
}

/// Sampling and drawing of one image. Every image draws from its own stream
/// derived from (seed, kind, index), so image i is the same whatever the count.
public enum SyntheticScene {
    /// A shapes image: 1–4 objects in distinct cells of the 3×3 grid, no two
    /// sharing both shape and colour, so every "the red circle" is unambiguous.
    public static func shapes(id: String, image: String, split: String, rng: inout RNG,
                              noise: Int = 0) -> (SyntheticImageTruth, RGBImage) {
        let (w, h) = SyntheticLayout.shapesSize
        let background = SyntheticBackground.allCases[rng.below(SyntheticBackground.allCases.count)]
        let count = 1 + rng.below(4)
        let cells = Array(rng.permutation(9).prefix(count)).sorted()
        var objects: [SyntheticObject] = []
        for cell in cells {
            var shape: SyntheticShape, color: SyntheticColor
            repeat {
                shape = SyntheticShape.allCases[rng.below(SyntheticShape.allCases.count)]
                color = SyntheticColor.allCases[rng.below(SyntheticColor.allCases.count)]
            } while objects.contains { $0.shape == shape && $0.color == color }
            let size = SyntheticSize.allCases[rng.below(2)]
            objects.append(SyntheticObject(shape: shape, color: color, size: size,
                                           position: SyntheticPosition.allCases[cell]))
        }
        var canvas = RGBImage(width: w, height: h, fill: background.rgb)
        var noiseRNG = rng.derived("noise")   // its own stream: the scene does not depend on the noise
        canvas.addNoise(amplitude: noise, rng: &noiseRNG)
        for k in objects.indices {
            let o = objects[k]
            // Cell centre plus a jitter that keeps the shape inside its cell.
            let cellW = Double(w) / 3, cellH = Double(h) / 3
            let slack = Int(min(cellW, cellH) / 2) - o.size.radius - 2
            let cx = Int((Double(o.position.column) + 0.5) * cellW) + rng.below(2 * slack + 1) - slack
            let cy = Int((Double(o.position.row) + 0.5) * cellH) + rng.below(2 * slack + 1) - slack
            objects[k].bbox = canvas.drawShape(o.shape, cx: cx, cy: cy, radius: o.size.radius, color: o.color.rgb)
        }
        let truth = SyntheticImageTruth(id: id, image: image, kind: .shapes, size: [w, h], split: split,
                                        background: background, objects: objects)
        return (truth, canvas)
    }

    /// A wide document: 1–3 left-aligned lines of words and numbers in the
    /// bitmap font, too small to read once the whole page is shrunk to one tile.
    public static func document(id: String, image: String, split: String, rng: inout RNG,
                                noise: Int = 0) -> (SyntheticImageTruth, RGBImage) {
        let (w, h) = SyntheticLayout.documentSize
        let scale = SyntheticLayout.fontScale
        let background: SyntheticBackground = rng.below(2) == 0 ? .white : .beige
        let lines = (0..<(1 + rng.below(3))).map { _ in documentLine(rng: &rng) }
        let lineHeight = BitmapFont.height(scale: scale)
        let gap = 16 + rng.below(17)
        let block = lines.count * lineHeight + (lines.count - 1) * gap
        let widest = lines.map { BitmapFont.width(of: $0, scale: scale) }.max()!
        let x = 32 + rng.below(w - widest - 64 + 1)
        var y = 24 + rng.below(h - block - 48 + 1)
        var canvas = RGBImage(width: w, height: h, fill: background.rgb)
        var noiseRNG = rng.derived("noise")   // its own stream: the scene does not depend on the noise
        canvas.addNoise(amplitude: noise, rng: &noiseRNG)
        var boxes: [[Int]] = []
        for line in lines {
            canvas.drawText(line, x: x, y: y, scale: scale, color: SyntheticLayout.textColor)
            boxes.append([x, y, x + BitmapFont.width(of: line, scale: scale), y + lineHeight])
            y += lineHeight + gap
        }
        let truth = SyntheticImageTruth(id: id, image: image, kind: .document, size: [w, h], split: split,
                                        background: background, lines: lines, lineBoxes: boxes,
                                        fontScale: scale)
        return (truth, canvas)
    }

    /// 2–5 tokens, each a word of the closed list or a number of 1–4 digits.
    static func documentLine(rng: inout RNG) -> String {
        var tokens: [String] = []
        let n = 2 + rng.below(4)
        for _ in 0..<n {
            let token: String
            if rng.below(10) < 7 {
                token = syntheticDocumentWords[rng.below(syntheticDocumentWords.count)]
            } else {
                let digits = 1 + rng.below(4)
                token = String(rng.below([10, 100, 1000, 10000][digits - 1]))
            }
            if (tokens + [token]).joined(separator: " ").count > SyntheticLayout.maxLineCharacters { break }
            tokens.append(token)
        }
        return tokens.joined(separator: " ")
    }
}
