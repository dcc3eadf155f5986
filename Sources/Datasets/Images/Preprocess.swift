import Foundation

// From a decoded image to what the vision tower consumes: slices → normalised float
// pixels → the "strip" layout of the official `reshape_by_patch`, plus the patch
// grids (`tgt_sizes`) and the prompt placeholder.

/// Pixel normalisation of MiniCPM-V: x/255, then (x − 0.5)/0.5 (mean = std = 0.5),
/// so 0 → −1 and 255 → 1.
public enum PixelNormalization {
    /// All 256 values, computed in Double and rounded once to Float (as the fixtures are).
    public static let table: [Float] = (0..<256).map { Float((Double($0) / 255 - 0.5) / 0.5) }

    @inline(__always)
    public static func normalize(_ v: UInt8) -> Float { table[Int(v)] }
}

/// `reshape_by_patch` on a float [C, H, W] image: returns the strip [C, p, L·p] with
/// L = (H/p)(W/p), where patch k (row-major over the H/p × W/p grid) occupies
/// columns [k·p, k·p + p):  strip[c, i, k·p + j] = image[c, p·(k / w) + i, p·(k % w) + j].
public func reshapeByPatch(_ chw: [Float], channels: Int, height: Int, width: Int, patchSize p: Int) -> [Float] {
    precondition(chw.count == channels * height * width, "buffer does not hold [\(channels), \(height), \(width)]")
    precondition(height % p == 0 && width % p == 0, "\(width)x\(height) is not a multiple of the patch size \(p)")
    let gw = width / p, patches = (height / p) * gw
    let stripWidth = patches * p
    var out = [Float](repeating: 0, count: channels * p * stripWidth)
    for c in 0..<channels {
        for k in 0..<patches {
            let (py, px) = (k / gw, k % gw)
            for i in 0..<p {
                let src = (c * height + py * p + i) * width + px * p
                let dst = (c * p + i) * stripWidth + k * p
                for j in 0..<p { out[dst + j] = chw[src + j] }
            }
        }
    }
    return out
}

extension RGBImage {
    /// The image normalised and laid out as a strip [3, p, L·p] (see `reshapeByPatch`),
    /// straight from the interleaved bytes.
    public func normalizedPatchStrip(patchSize p: Int) -> [Float] {
        precondition(height % p == 0 && width % p == 0, "\(width)x\(height) is not a multiple of the patch size \(p)")
        let gw = width / p, patches = (height / p) * gw
        let stripWidth = patches * p
        var out = [Float](repeating: 0, count: 3 * p * stripWidth)
        PixelNormalization.table.withUnsafeBufferPointer { lut in
        pixels.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for k in 0..<patches {
                let (py, px) = (k / gw, k % gw)
                for i in 0..<p {
                    let s = src.baseAddress! + ((py * p + i) * width + px * p) * 3
                    for c in 0..<3 {
                        let d = dst.baseAddress! + (c * p + i) * stripWidth + k * p
                        for j in 0..<p { d[j] = lut[Int(s[3 * j + c])] }
                    }
                }
            }
        }}}
        return out
    }
}

/// One image ready for the model.
public struct PreprocessedImage {
    /// Per image the model sees (overview first, then slices row-major): [3, p, L·p].
    public var strips: [[Float]]
    /// Per image: (h, w) in patches; L = h·w.
    public var tgtSizes: [TgtSize]
    /// The prompt text that stands for this image.
    public var placeholder: String
    /// nil when the image was not sliced.
    public var grid: SliceGrid?
    /// All sizes of the slicing.
    public var plan: SlicePlan
}

/// Settings for turning an image into model inputs.
public struct ImagePreprocessor {
    public var slicing: SliceConfig
    public var placeholders: PlaceholderStyle

    public init(slicing: SliceConfig = SliceConfig(), placeholders: PlaceholderStyle = PlaceholderStyle(schema: .v2_6)) {
        self.slicing = slicing
        self.placeholders = placeholders
    }

    /// Slices, normalises and strips one image; `imageIndex` counts images in the sample.
    public func callAsFunction(_ image: RGBImage, imageIndex: Int = 0) -> PreprocessedImage {
        let sliced = image.sliced(config: slicing)
        let strips = sliced.images.map { $0.normalizedPatchStrip(patchSize: slicing.patchSize) }
        return PreprocessedImage(
            strips: strips,
            tgtSizes: sliced.plan.tgtSizes,
            placeholder: placeholders.placeholder(grid: sliced.plan.grid, imageIndex: imageIndex),
            grid: sliced.plan.grid,
            plan: sliced.plan)
    }

    /// Loads and preprocesses an image file.
    public func preprocess(path: String, imageIndex: Int = 0) throws -> PreprocessedImage {
        try slicing.validate()
        return self(try RGBImage.load(path: path), imageIndex: imageIndex)
    }
}
