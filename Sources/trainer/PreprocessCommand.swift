import ArgumentParser
import Datasets
import Foundation

/// `trainer preprocess`: shows how an image is sliced and how many tokens it costs.
struct Preprocess: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preprocess",
        abstract: "Show how an image is sliced for the model (grid, sizes, patches, tokens).",
        discussion: """
            Give an image file (it is decoded, sliced and normalised exactly as in training) \
            or only a size with --size WxH.
            """)

    @Option(name: .long, help: "Image file (PNG, JPEG, BMP, …).")
    var image: String?

    @Option(name: .long, help: ArgumentHelp("Image size instead of a file.", valueName: "WxH"))
    var size: String?

    @Option(name: .long, help: "Placeholder schema: 2.0, 2.5 or 2.6.")
    var schema: String = "2.6"

    @Option(name: .long, help: "Maximum number of slices.")
    var maxSlices: Int = 9

    @Option(name: .long, help: "Side of the square area each slice is fitted to, in pixels.")
    var scaleResolution: Int = 448

    @Flag(name: .long, help: "Never slice; only resize the whole image.")
    var neverSplit = false

    @Option(name: .long, help: "Index of the image within its sample (2.6 <image_id>).")
    var imageIndex: Int = 0

    @Option(name: .long, help: ArgumentHelp("Write the overview and slices as PNG files here.", valueName: "DIR"))
    var saveSlices: String?

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    func validate() throws {
        if (image == nil) == (size == nil) {
            throw ValidationError("give exactly one of --image FILE or --size WxH")
        }
        if size != nil, parsedSize == nil {
            throw ValidationError("--size must look like 1920x1080 (positive integers), got '\(size!)'")
        }
        if PlaceholderSchema(rawValue: schema) == nil {
            throw ValidationError("--schema must be one of 2.0, 2.5, 2.6, got '\(schema)'")
        }
        if saveSlices != nil, image == nil {
            throw ValidationError("--save-slices needs --image")
        }
        if imageIndex < 0 { throw ValidationError("--image-index must be >= 0") }
        do { try sliceConfig.validate() } catch { throw ValidationError("\(error)") }
    }

    private var parsedSize: ImageSize? {
        guard let parts = size?.lowercased().split(separator: "x"), parts.count == 2,
              let w = Int(parts[0]), let h = Int(parts[1]), w > 0, h > 0, w <= 1 << 20, h <= 1 << 20
        else { return nil }
        return ImageSize(width: w, height: h)
    }

    private var sliceConfig: SliceConfig {
        SliceConfig(maxSliceNums: maxSlices, scaleResolution: scaleResolution, neverSplit: neverSplit)
    }

    func run() throws {
        let style = PlaceholderStyle(schema: PlaceholderSchema(rawValue: schema)!)
        var report: PreprocessReport
        if let path = image {
            let start = Date()
            let decoded = try RGBImage.load(path: path)
            let sliced = decoded.sliced(config: sliceConfig)
            let strips = sliced.images.map { $0.normalizedPatchStrip(patchSize: sliceConfig.patchSize) }
            let elapsed = Date().timeIntervalSince(start)
            report = PreprocessReport(plan: sliced.plan, style: style, imageIndex: imageIndex, source: path)
            report.preprocessSeconds = elapsed
            report.floatsPerImage = strips.map(\.count)
            if let dir = saveSlices { report.savedFiles = try save(sliced, to: dir) }
        } else {
            let s = parsedSize!
            let plan = SlicePlan(width: s.width, height: s.height, config: sliceConfig)
            report = PreprocessReport(plan: plan, style: style, imageIndex: imageIndex, source: nil)
        }
        print(json ? try report.json() : report.table())
    }

    /// overview.png, slice_<row>_<col>.png
    private func save(_ sliced: SlicedImage, to dir: String) throws -> [String] {
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw ImageError.writeFailed(path: dir, reason: "cannot create the directory: \(error.localizedDescription)")
        }
        var files = [(dir as NSString).appendingPathComponent("overview.png")]
        try sliced.overview.writePNG(to: files[0])
        let cols = sliced.plan.grid?.cols ?? 1
        for (i, slice) in sliced.slices.enumerated() {
            let file = (dir as NSString).appendingPathComponent("slice_\(i / cols)_\(i % cols).png")
            try slice.writePNG(to: file)
            files.append(file)
        }
        return files
    }
}

/// What `trainer preprocess` prints; field names follow the reference slicing cases.
struct PreprocessReport: Encodable {
    var source: String?
    var size: [Int]
    var schema: String
    var queryCount: Int
    var grid: [Int]?
    var overview: [Int]
    var refine: [Int]?
    var slice: [Int]?
    var tgtSizes: [[Int]]
    var images: Int
    var visionPatches: Int
    var queryTokens: Int
    var placeholderTokens: Int
    var placeholder: String
    var preprocessSeconds: Double?
    var floatsPerImage: [Int]?
    var savedFiles: [String]?

    enum CodingKeys: String, CodingKey {
        case source, size, schema, grid, overview, refine, slice, images, placeholder
        case queryCount = "query_count", tgtSizes = "tgt_sizes", visionPatches = "vision_patches"
        case queryTokens = "query_tokens", placeholderTokens = "placeholder_tokens"
        case preprocessSeconds = "preprocess_seconds", floatsPerImage = "floats_per_image"
        case savedFiles = "saved_files"
    }

    init(plan: SlicePlan, style: PlaceholderStyle, imageIndex: Int, source: String?) {
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

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    func table() -> String {
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
