import Foundation

// Adaptive visual encoding (MiniCPM-V paper §3.1, LLaVA-UHD): a large image is
// cut into a grid of slices whose aspect ratio and area suit the vision encoder,
// plus a downscaled overview of the whole image. The arithmetic below follows the
// official preprocessing exactly (Python float division, `round` = half to even,
// `int` = truncation), because every size feeds the token count and the pixels.

/// Slicing parameters (the official defaults).
public struct SliceConfig: Equatable, Codable {
    /// Upper bound on the number of slices (not counting the overview).
    public var maxSliceNums: Int
    /// Side of the square area each slice (and the overview) is fitted to, in pixels.
    public var scaleResolution: Int
    /// Vision patch side; every output size is a multiple of it.
    public var patchSize: Int
    /// Never slice: the whole image is only resized (pretraining stages 1 and 2).
    public var neverSplit: Bool
    /// Which Pillow's resampling pass order the resizes reproduce.
    public var resizePassOrder: ResizePassOrder

    public init(maxSliceNums: Int = 9, scaleResolution: Int = 448, patchSize: Int = 14, neverSplit: Bool = false,
                resizePassOrder: ResizePassOrder = .horizontalFirst) {
        self.maxSliceNums = maxSliceNums
        self.scaleResolution = scaleResolution
        self.patchSize = patchSize
        self.neverSplit = neverSplit
        self.resizePassOrder = resizePassOrder
    }

    enum CodingKeys: String, CodingKey {
        case maxSliceNums = "max_slice_nums", scaleResolution = "scale_resolution", patchSize = "patch_size"
        case neverSplit = "never_split", resizePassOrder = "resize_pass_order"
    }

    /// Decodes the official field names; every field is optional and defaults as above.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SliceConfig()
        self.init(maxSliceNums: try c.decodeIfPresent(Int.self, forKey: .maxSliceNums) ?? d.maxSliceNums,
                  scaleResolution: try c.decodeIfPresent(Int.self, forKey: .scaleResolution) ?? d.scaleResolution,
                  patchSize: try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? d.patchSize,
                  neverSplit: try c.decodeIfPresent(Bool.self, forKey: .neverSplit) ?? d.neverSplit,
                  resizePassOrder: try c.decodeIfPresent(ResizePassOrder.self, forKey: .resizePassOrder)
                      ?? d.resizePassOrder)
    }

    /// Checks the values a user supplied (recipe or command line); slicing assumes them.
    public func validate() throws {
        func check(_ ok: Bool, _ field: String, _ value: Int, _ rule: String) throws {
            if !ok { throw DataError.invalidConfiguration(reason: "slice setting \(field) = \(value): \(rule)") }
        }
        try check(maxSliceNums >= 1, "max_slice_nums", maxSliceNums, "must be at least 1")
        try check(patchSize >= 1, "patch_size", patchSize, "must be at least 1")
        try check(scaleResolution >= patchSize, "scale_resolution", scaleResolution,
                  "must be at least the patch size (\(patchSize))")
        try check(scaleResolution <= 1 << 15, "scale_resolution", scaleResolution, "must be at most 32768")
    }
}

/// A width × height in pixels.
public struct ImageSize: Equatable, Hashable, Codable, CustomStringConvertible {
    public var width: Int
    public var height: Int
    public init(width: Int, height: Int) { self.width = width; self.height = height }
    public var description: String { "\(width)x\(height)" }
}

/// The slice grid: `cols` slices across, `rows` down.
public struct SliceGrid: Equatable, Hashable, Codable, CustomStringConvertible {
    public var cols: Int
    public var rows: Int
    public init(cols: Int, rows: Int) { self.cols = cols; self.rows = rows }
    public var count: Int { cols * rows }
    public var description: String { "\(cols)x\(rows)" }
}

/// An image's size in patches, `tgt_size` in the official code: (h, w) = (H/14, W/14).
public struct TgtSize: Equatable, Hashable, Codable, CustomStringConvertible {
    public var h: Int
    public var w: Int
    public init(h: Int, w: Int) { self.h = h; self.w = w }
    /// Number of patches, the vision tower's sequence length for this image.
    public var patchCount: Int { h * w }
    public var description: String { "\(h)x\(w)" }
}

/// Every size the slicing of one image produces; computed from the source size alone.
public struct SlicePlan: Equatable {
    public var config: SliceConfig
    public var sourceSize: ImageSize
    /// nil when the image is not sliced.
    public var grid: SliceGrid?
    /// The overview (or, unsliced, the whole image upscaled/downscaled to ≈ scale² area).
    public var overviewSize: ImageSize
    /// The size the source is resized to before it is cut; nil when not sliced.
    public var refineSize: ImageSize?
    /// The size of each slice; nil when not sliced.
    public var sliceSize: ImageSize?

    /// Number of images the model sees: the overview plus the slices.
    public var imageCount: Int { 1 + (grid?.count ?? 0) }

    /// Patch grids, overview first, then the slices row-major.
    public var tgtSizes: [TgtSize] {
        let p = config.patchSize
        var sizes = [TgtSize(h: overviewSize.height / p, w: overviewSize.width / p)]
        if let grid = grid, let s = sliceSize {
            sizes += Array(repeating: TgtSize(h: s.height / p, w: s.width / p), count: grid.count)
        }
        return sizes
    }
}

/// `max(round(length / patch) * patch, patch)` with Python's round (half to even).
func ensureDivide(_ length: Double, _ patch: Int) -> Int {
    let rounded = Int((length / Double(patch)).rounded(.toNearestOrEven))
    return max(rounded * patch, patch)
}

/// Fits (w, h) to about `scale`² pixels keeping the aspect ratio (only shrinking
/// unless `allowUpscale`), then rounds both sides to multiples of `patch`.
func findBestResize(width: Double, height: Double, scale: Int, patch: Int, allowUpscale: Bool) -> ImageSize {
    var w = width, h = height
    if w * h > Double(scale * scale) || allowUpscale {
        let r = w / h
        // Python's int() truncates toward zero.
        h = Double(Int(Double(scale) / r.squareRoot()))
        w = Double(Int(h * r))
    }
    return ImageSize(width: ensureDivide(w, patch), height: ensureDivide(h, patch))
}

extension SlicePlan {
    /// Plans the slicing of a `width` × `height` image (`slice_image` without the pixels).
    public init(width: Int, height: Int, config: SliceConfig = SliceConfig()) {
        precondition(width > 0 && height > 0, "cannot slice an empty \(width)x\(height) image")
        let s = config.scaleResolution, p = config.patchSize
        let (W, H) = (Double(width), Double(height))
        let ratio = W * H / Double(s * s)
        let multiple = min(Int(ratio.rounded(.up)), config.maxSliceNums)
        self.config = config
        self.sourceSize = ImageSize(width: width, height: height)
        if multiple <= 1 || config.neverSplit {
            grid = nil
            refineSize = nil
            sliceSize = nil
            overviewSize = findBestResize(width: W, height: H, scale: s, patch: p, allowUpscale: true)
            return
        }
        overviewSize = findBestResize(width: W, height: H, scale: s, patch: p, allowUpscale: false)
        let best = SlicePlan.bestGrid(width: W, height: H, multiple: multiple, maxSlices: config.maxSliceNums)
        // get_refine_size: the source rounded to a multiple of the grid, each cell fitted.
        let refineW = ensureDivide(W, best.cols), refineH = ensureDivide(H, best.rows)
        let cell = findBestResize(width: Double(refineW) / Double(best.cols),
                                  height: Double(refineH) / Double(best.rows),
                                  scale: s, patch: p, allowUpscale: true)
        let refine = ImageSize(width: cell.width * best.cols, height: cell.height * best.rows)
        grid = best
        refineSize = refine
        // split_to_patches: int(w / cols) × int(h / rows); exact here by construction.
        sliceSize = ImageSize(width: refine.width / best.cols, height: refine.height / best.rows)
    }

    /// The grid whose aspect ratio is closest (in log space) to the image's, among the
    /// factorisations of multiple-1, multiple, multiple+1 slices; the first strict
    /// minimum wins, in the official candidate order.
    static func bestGrid(width: Double, height: Double, multiple: Int, maxSlices: Int) -> SliceGrid {
        let logRatio = log(width / height)
        var best = SliceGrid(cols: 1, rows: 1)
        var minError = Double.infinity
        for n in [multiple - 1, multiple, multiple + 1] where n != 1 && n <= maxSlices {
            for m in 1...n where n % m == 0 {
                let error = abs(logRatio - log(Double(m) / Double(n / m)))
                if error < minError {
                    best = SliceGrid(cols: m, rows: n / m)
                    minError = error
                }
            }
        }
        return best
    }
}

/// An image cut for the model: the overview and the slices (row-major).
public struct SlicedImage {
    public var plan: SlicePlan
    public var overview: RGBImage
    /// Row-major: slices[r * cols + c].
    public var slices: [RGBImage]

    /// The images in the order the model consumes them: overview, then slices.
    public var images: [RGBImage] { [overview] + slices }
}

extension RGBImage {
    /// `slice_image` of the official preprocessing: Pillow-bicubic overview, and, when
    /// the plan slices, the refine-sized image cut into the grid.
    public func sliced(config: SliceConfig = SliceConfig()) -> SlicedImage {
        let plan = SlicePlan(width: width, height: height, config: config)
        let order = config.resizePassOrder
        let overview = resizedBicubic(width: plan.overviewSize.width, height: plan.overviewSize.height,
                                      passOrder: order)
        guard let grid = plan.grid, let refine = plan.refineSize, let cell = plan.sliceSize else {
            return SlicedImage(plan: plan, overview: overview, slices: [])
        }
        let refined = resizedBicubic(width: refine.width, height: refine.height, passOrder: order)
        var slices: [RGBImage] = []
        slices.reserveCapacity(grid.count)
        for r in 0..<grid.rows {
            for c in 0..<grid.cols {
                slices.append(refined.cropped(x: c * cell.width, y: r * cell.height,
                                              width: cell.width, height: cell.height))
            }
        }
        return SlicedImage(plan: plan, overview: overview, slices: slices)
    }
}
