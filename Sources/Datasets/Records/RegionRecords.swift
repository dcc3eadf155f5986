import Foundation

/// Per-cell labels of one image (`format: regions`), the data of a vision pre-training
/// phase that stands in for a pretrained encoder:
///
///     {"id": "shapes-0001", "image": "images/shapes-0001.png", "grid": [3, 3],
///      "labels": {"shape": ["none", "triangle", …], "color": [null, "green", …]}}
///
/// The image is cut into `grid` rows × columns of equal cells; every attribute lists one
/// class per cell, row by row, or null where the cell is not labelled for it.
public struct RegionRecord: Equatable {
    public var location: RecordLocation
    public var id: String
    public var image: ImageReference
    public var rows: Int
    public var columns: Int
    /// Attribute → one class name (or nil) per cell, row-major.
    public var labels: [String: [String?]]

    /// For each cell (row-major), the patches of an h × w patch grid over the same image
    /// whose centres fall in it, as row-major patch indices. A cell narrower than a patch
    /// may get none.
    public func cellPatches(patchRows h: Int, patchColumns w: Int) -> [[Int]] {
        var members = [[Int]](repeating: [], count: rows * columns)
        for r in 0..<h {
            let cellRow = min(rows - 1, Int((Double(r) + 0.5) / Double(h) * Double(rows)))
            for c in 0..<w {
                let cellColumn = min(columns - 1, Int((Double(c) + 0.5) / Double(w) * Double(columns)))
                members[cellRow * columns + cellColumn].append(r * w + c)
            }
        }
        return members
    }
}

/// Reads every record of a `regions` data file.
public func readRegionRecords(_ url: URL) throws -> [RegionRecord] {
    let file = url.path
    let folder = url.deletingLastPathComponent()
    return try RecordReader.read(url).enumerated().map { index, raw in
        let fields = try FieldReader(file: file, line: raw.line, json: raw.json)
        let location = RecordLocation(file: file, line: raw.line, index: index)
        return try RecordParser(fields: fields, location: location, folder: folder).region()
    }
}

extension RecordParser {
    func region() throws -> RegionRecord {
        let images = try self.images()
        guard images.count == 1, images[0].marker == nil else {
            throw fields.error("image", images.isEmpty ? "missing" : "a regions record takes one image path")
        }
        guard let grid = fields.object["grid"] as? [Any], grid.count == 2,
              let rows = (grid[0] as? NSNumber)?.intValue, let columns = (grid[1] as? NSNumber)?.intValue,
              (1...64).contains(rows), (1...64).contains(columns) else {
            throw fields.error("grid", fields.has("grid") ? "expected [rows, columns], each from 1 to 64" : "missing")
        }
        guard let object = fields.object["labels"] as? [String: Any], !object.isEmpty else {
            throw fields.error("labels", fields.has("labels") ? "expected an object of attribute: [class per cell]"
                                                              : "missing")
        }
        var labels: [String: [String?]] = [:]
        for (attribute, value) in object {
            let field = "labels.\(attribute)"
            guard let list = value as? [Any] else {
                throw fields.error(field, "expected an array of class names, found \(FieldReader.kind(value))")
            }
            guard list.count == rows * columns else {
                throw fields.error(field, "\(list.count) cells for a \(rows)×\(columns) grid (\(rows * columns) expected)")
            }
            labels[attribute] = try list.enumerated().map { k, cell in
                if cell is NSNull { return nil }
                guard let name = cell as? String, !name.isEmpty else {
                    throw fields.error("\(field)[\(k)]", "expected a class name or null, found \(FieldReader.kind(cell))")
                }
                return name
            }
        }
        return RegionRecord(location: location, id: try fields.identifier("id") ?? defaultID, image: images[0],
                            rows: rows, columns: columns, labels: labels)
    }
}
