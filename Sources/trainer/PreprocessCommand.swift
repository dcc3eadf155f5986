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
            // The image goes through the same processor as training data.
            let processor = ImagePreprocessor(slicing: sliceConfig, placeholders: style)
            let start = Date()
            let decoded = try RGBImage.load(path: path)
            let processed = processor(decoded, imageIndex: imageIndex)
            let elapsed = Date().timeIntervalSince(start)
            report = PreprocessReport(plan: processed.plan, style: style, imageIndex: imageIndex, source: path)
            report.preprocessSeconds = elapsed
            report.floatsPerImage = processed.strips.map(\.count)
            if let dir = saveSlices { report.savedFiles = try save(decoded.sliced(config: sliceConfig), to: dir) }
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
