import Foundation

/// What `trainer preprocess` prints; field names follow the reference slicing cases.
public struct PreprocessReport: Encodable {
    public var source: String?
    public var size: [Int]
    public var schema: String
    public var queryCount: Int
    public var grid: [Int]?
    public var overview: [Int]
    public var refine: [Int]?
    public var slice: [Int]?
    public var tgtSizes: [[Int]]
    public var images: Int
    public var visionPatches: Int
    public var queryTokens: Int
    public var placeholderTokens: Int
    public var placeholder: String
    public var preprocessSeconds: Double?
    public var floatsPerImage: [Int]?
    public var savedFiles: [String]?

    enum CodingKeys: String, CodingKey {
        case source, size, schema, grid, overview, refine, slice, images, placeholder
        case queryCount = "query_count", tgtSizes = "tgt_sizes", visionPatches = "vision_patches"
        case queryTokens = "query_tokens", placeholderTokens = "placeholder_tokens"
        case preprocessSeconds = "preprocess_seconds", floatsPerImage = "floats_per_image"
        case savedFiles = "saved_files"
    }

    public init(plan: SlicePlan, style: PlaceholderStyle, imageIndex: Int, source: String?) {
        func wh(_ s: ImageSize) -> [Int] { [s.width, s.height] }
        self.source = source
        size = wh(plan.sourceSize)
        schema = style.schema.rawValue
        queryCount = style.queryCount
        grid = plan.grid.map { [$0.cols, $0.rows] }
        overview = wh(plan.overviewSize)
        refine = plan.refineSize.map(wh)
        slice = plan.sliceSize.map(wh)
        tgtSizes = plan.tgtSizes.map { [$0.h, $0.w] }
        images = plan.imageCount
        visionPatches = plan.tgtSizes.reduce(0) { $0 + $1.patchCount }
        queryTokens = style.queryTokenCount(grid: plan.grid)
        placeholder = style.placeholder(grid: plan.grid, imageIndex: imageIndex)
        placeholderTokens = PreprocessReport.countTokens(placeholder)
    }

    /// Tokens of the placeholder text when every tag is one special token and every
    /// other character (id digits, newlines) one token, as with the Qwen2 tokenizer.
    static func countTokens(_ text: String) -> Int {
        var n = 0
        var rest = Substring(text)
        while !rest.isEmpty {
            if rest.first == "<", let close = rest.firstIndex(of: ">") {
                rest = rest[rest.index(after: close)...]
            } else {
                rest = rest.dropFirst()
            }
            n += 1
        }
        return n
    }

    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    public func table() -> String {
        func wh(_ v: [Int]?) -> String { v.map { "\($0[0])x\($0[1])" } ?? "-" }
        func patches(_ v: [Int]) -> String { "\(v[0])x\(v[1]) patches" }
        var lines: [(String, String)] = []
        if let s = source { lines.append(("source", s)) }
        lines.append(("size", wh(size)))
        lines.append(("schema", "\(schema) (\(queryCount) queries per image)"))
        if let g = grid {
            lines.append(("grid", "\(g[0]) cols x \(g[1]) rows (\(g[0] * g[1]) slices)"))
        } else {
            lines.append(("grid", "none (not sliced)"))
        }
        lines.append(("overview", "\(wh(overview))  -> \(patches(tgtSizes[0]))"))
        lines.append(("refine", wh(refine)))
        if let s = slice { lines.append(("slice", "\(wh(s))  -> \(patches(tgtSizes[1])) each")) }
        lines.append(("tgt_sizes", tgtSizes.map { "\($0[0])x\($0[1])" }.joined(separator: " ")))
        lines.append(("images", "\(images) (overview\(images > 1 ? " + \(images - 1) slices" : ""))"))
        lines.append(("vision patches", "\(visionPatches)"))
        lines.append(("query tokens", "\(queryTokens) (\(images) x \(queryCount) <unk>)"))
        lines.append(("prompt tokens", "\(placeholderTokens) (placeholder incl. tags)"))
        if let t = preprocessSeconds { lines.append(("preprocess time", String(format: "%.1f ms", t * 1000))) }
        if let files = savedFiles { lines.append(("saved", files.joined(separator: " "))) }
        lines.append(("placeholder", PlaceholderStyle.abbreviated(placeholder)))
        let width = lines.map(\.0.count).max() ?? 0
        return lines.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }
            .joined(separator: "\n")
    }
}
