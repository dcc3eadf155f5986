import Foundation

// The text that stands for an image in a prompt. Each `<unk>` is later replaced by
// one resampler output vector (a query), so an image block holds exactly Q of them.
//
//   2.0 / 2.5:  <image><unk>×Q</image>                 overview
//               <slice>ROW\nROW…</slice>               if sliced; ROW = cols × <image><unk>×Q</image>
//   2.6:        <image_id>i</image_id><image><unk>×64</image>
//               ROW\nROW…                              if sliced; ROW = cols × <slice><unk>×64</slice>

/// The placeholder layout of a model generation.
public enum PlaceholderSchema: String, CaseIterable, Codable, CustomStringConvertible {
    case v2_0 = "2.0"
    case v2_5 = "2.5"
    case v2_6 = "2.6"

    /// Resampler queries per image (tokens between `<image>` and `</image>`).
    public var defaultQueryCount: Int {
        switch self {
        case .v2_0: return 64
        case .v2_5: return 96
        case .v2_6: return 64
        }
    }

    public var description: String { rawValue }
}

/// Where 2.6 puts `<image_id>i</image_id>` (ignored by 2.0 / 2.5, which have no ids).
public enum ImageIDPlacement: String, CaseIterable, Codable {
    /// Before every image: the Hugging Face 2.6 processor (and the reference fixtures).
    case everyImage = "every"
    /// Only before sliced images: the official finetune script.
    case slicedOnly = "sliced"
    /// Never.
    case none = "none"
}

/// Special tokens of the placeholder text.
public enum PlaceholderToken {
    public static let imageStart = "<image>"
    public static let imageEnd = "</image>"
    public static let sliceStart = "<slice>"
    public static let sliceEnd = "</slice>"
    public static let imageIDStart = "<image_id>"
    public static let imageIDEnd = "</image_id>"
    public static let unk = "<unk>"
}

/// How image placeholders are written for one model.
public struct PlaceholderStyle: Equatable {
    public var schema: PlaceholderSchema
    /// Q, the number of `<unk>` per image block.
    public var queryCount: Int
    public var imageIDs: ImageIDPlacement

    public init(schema: PlaceholderSchema, queryCount: Int? = nil, imageIDs: ImageIDPlacement = .everyImage) {
        self.schema = schema
        self.queryCount = queryCount ?? schema.defaultQueryCount
        self.imageIDs = imageIDs
    }

    /// The placeholder of one image; `imageIndex` counts images within the sample (from 0).
    public func placeholder(grid: SliceGrid?, imageIndex: Int = 0) -> String {
        let queries = String(repeating: PlaceholderToken.unk, count: queryCount)
        let image = PlaceholderToken.imageStart + queries + PlaceholderToken.imageEnd
        switch schema {
        case .v2_0, .v2_5:
            guard let grid = grid else { return image }
            return image + PlaceholderToken.sliceStart + rows(grid, cell: image) + PlaceholderToken.sliceEnd
        case .v2_6:
            let withID = imageIDs == .everyImage || (imageIDs == .slicedOnly && grid != nil)
            let id = withID ? PlaceholderToken.imageIDStart + String(imageIndex) + PlaceholderToken.imageIDEnd : ""
            guard let grid = grid else { return id + image }
            let slice = PlaceholderToken.sliceStart + queries + PlaceholderToken.sliceEnd
            return id + image + rows(grid, cell: slice)
        }
    }

    /// Number of `<unk>` query tokens an image with this grid contributes.
    public func queryTokenCount(grid: SliceGrid?) -> Int {
        queryCount * (1 + (grid?.count ?? 0))
    }

    /// `rows` lines of `cols` cells each, joined by newlines.
    private func rows(_ grid: SliceGrid, cell: String) -> String {
        let row = String(repeating: cell, count: grid.cols)
        return Array(repeating: row, count: grid.rows).joined(separator: "\n")
    }

    /// A readable form for display: every run of `<unk>` becomes `<unk>×N`, newlines `\n`.
    public static func abbreviated(_ placeholder: String) -> String {
        var out = ""
        var rest = Substring(placeholder)
        let unk = PlaceholderToken.unk
        while !rest.isEmpty {
            if rest.hasPrefix(unk) {
                var n = 0
                while rest.hasPrefix(unk) { rest = rest.dropFirst(unk.count); n += 1 }
                out += n == 1 ? unk : "\(unk)×\(n)"
            } else {
                let c = rest.removeFirst()
                out += c == "\n" ? "\\n" : String(c)
            }
        }
        return out
    }
}
