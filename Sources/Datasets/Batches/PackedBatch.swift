import Foundation
import Core

/// One sample's place in a packed batch.
public struct PackedSegment: Codable, Equatable {
    public var id: String
    /// Index of the sample in its `SampleSource`.
    public var sourceIndex: Int
    /// The sample's group (itself, or its preference pair) within the batch.
    public var group: Int
    public var row: Int
    /// First position within the row.
    public var start: Int
    public var length: Int
    public var truncated: Bool
    /// The sample's slices among the batch's slices.
    public var slices: Range<Int>
}

/// Rows of packed samples, ready for the model.
///
/// Every token array is flat [B·T], row-major. Position ids restart at 0 for each sample and
/// segment ids (the segment's index in `segments`, −1 on padding) confine attention to one
/// sample; a sample's last position has no label, so no label predicts across a boundary.
public struct PackedBatch {
    /// B.
    public var rows: Int
    /// T: the longest row (or the plan's row length when padded to it).
    public var length: Int
    public var inputIds: [Int32]          // [B·T]; padding = the pad id
    public var labels: [Int32]            // [B·T]; padding = ignoreIndex
    public var positionIds: [Int32]       // [B·T]; padding = 0
    public var segmentIds: [Int32]        // [B·T]; padding = −1
    /// [N, 3, 14, maxPatches·14]: every slice of the batch in text order, zero padded.
    public var pixelValues: [Float]
    public var tgtSizes: [TgtSize]        // [N]
    public var maxPatches: Int
    /// [N]: each slice's query span as flat positions into B·T; in increasing order.
    public var imageBounds: [Range<Int>]
    public var segments: [PackedSegment]
    /// Segment indices of each group, in group order (a pair: chosen, then rejected).
    public var groups: [[Int]]
    public var patchSize: Int

    public var sliceCount: Int { tgtSizes.count }
    public var rowSampleIds: [[String]] {
        (0..<rows).map { r in segments.filter { $0.row == r }.map(\.id) }
    }
    /// Non-padding tokens.
    public var tokenCount: Int { segments.reduce(0) { $0 + $1.length } }
    /// Positions that carry a label: the loss normaliser.
    public var supervisedCount: Int { labels.reduce(0) { $1 == ignoreIndex ? $0 : $0 + 1 } }
    /// Per slice, 1 for its h·w patches and 0 for padding: [N, maxPatches].
    public var patchMask: [Bool] {
        tgtSizes.flatMap { s in (0..<maxPatches).map { $0 < s.patchCount } }
    }

    /// Lays out the rows of `plan`; `sample(i)` gives sample i of the source. A sample that no
    /// longer fits its planned place (the data changed under a saved plan) is an error.
    public static func assemble(_ plan: PackPlan, padId: Int32, padToMaxLength: Bool = false,
                                sample: (Int) throws -> TrainingSample) throws -> PackedBatch {
        let b = plan.rows.count
        let t = padToMaxLength ? plan.maxLength : plan.rows.map { $0.reduce(0) { $0 + $1.length } }.max() ?? 0
        var batch = PackedBatch(rows: b, length: t, inputIds: Array(repeating: padId, count: b * t),
                                labels: Array(repeating: ignoreIndex, count: b * t),
                                positionIds: Array(repeating: 0, count: b * t),
                                segmentIds: Array(repeating: -1, count: b * t),
                                pixelValues: [], tgtSizes: [], maxPatches: 0, imageBounds: [],
                                segments: [], groups: [], patchSize: 0)
        var slices: [ImageSlice] = []
        for (r, row) in plan.rows.enumerated() {
            var offset = 0
            for item in row {
                var s = try sample(item.index)
                guard item.length <= s.length, item.length >= s.info.imageEnd, offset + item.length <= t else {
                    throw DataError.stateMismatch(reason: "sample \(s.id) has \(s.length) tokens; the plan has \(item.length) at \(offset) in a row of \(t)")
                }
                let cut = item.length < s.length
                if cut { s = s.truncated(to: item.length) }
                batch.place(s, row: r, offset: offset, item: item, truncated: cut, firstSlice: slices.count)
                slices += s.slices
                offset += item.length
            }
        }
        batch.setSlices(slices)
        batch.groups = Dictionary(grouping: batch.segments.indices, by: { batch.segments[$0].group })
            .sorted { $0.key < $1.key }
            .map { $0.value.sorted { batch.segments[$0].sourceIndex < batch.segments[$1].sourceIndex } }
        return batch
    }

    private mutating func place(_ s: TrainingSample, row: Int, offset: Int, item: PackItem, truncated: Bool, firstSlice: Int) {
        let base = row * length + offset
        let segment = Int32(segments.count)
        for k in 0..<s.length {
            inputIds[base + k] = s.inputIds[k]
            labels[base + k] = s.labels[k]
            positionIds[base + k] = Int32(k)
            segmentIds[base + k] = segment
        }
        imageBounds += s.imageBounds.map { (base + $0.lowerBound)..<(base + $0.upperBound) }
        segments.append(PackedSegment(id: s.id, sourceIndex: item.index, group: item.group, row: row, start: offset,
                                      length: s.length, truncated: truncated,
                                      slices: firstSlice..<(firstSlice + s.slices.count)))
    }

    /// One row holding a generation prompt as it is: positions from 0, no labels.
    public static func prompt(ids: [Int32], imageBounds: [Range<Int>], slices: [ImageSlice]) -> PackedBatch {
        let n = ids.count
        var b = PackedBatch(rows: 1, length: n, inputIds: ids, labels: Array(repeating: ignoreIndex, count: n),
                            positionIds: (0..<n).map { Int32($0) }, segmentIds: Array(repeating: 0, count: n),
                            pixelValues: [], tgtSizes: [], maxPatches: 0, imageBounds: imageBounds,
                            segments: [PackedSegment(id: "prompt", sourceIndex: 0, group: 0, row: 0, start: 0, length: n,
                                                     truncated: false, slices: 0..<slices.count)],
                            groups: [[0]], patchSize: 0)
        b.setSlices(slices)
        return b
    }

    /// Concatenates the strips into [N, 3, p, maxPatches·p], each strip row zero padded;
    /// p is the slices' own patch size.
    private mutating func setSlices(_ slices: [ImageSlice]) {
        patchSize = slices.first?.patchSize ?? patchSize
        precondition(slices.allSatisfy { $0.patchSize == patchSize }, "slices cut with different patch sizes in one batch")
        tgtSizes = slices.map(\.tgtSize)
        maxPatches = tgtSizes.map(\.patchCount).max() ?? 0
        let p = patchSize, width = maxPatches * p
        pixelValues = Array(repeating: 0, count: slices.count * 3 * p * width)
        pixelValues.withUnsafeMutableBufferPointer { out in
            for (n, slice) in slices.enumerated() {
                let w = slice.tgtSize.patchCount * p
                slice.pixels.withUnsafeBufferPointer { src in
                    for line in 0..<(3 * p) {          // (channel, row within the patch)
                        let dst = out.baseAddress! + (n * 3 * p + line) * width
                        dst.update(from: src.baseAddress! + line * w, count: w)
                    }
                }
            }
        }
    }

    /// The strip of slice n without its padding: [3, p, h·w·p].
    public func strip(_ n: Int) -> [Float] {
        let p = patchSize, width = maxPatches * p, w = tgtSizes[n].patchCount * p
        var out: [Float] = []
        out.reserveCapacity(3 * p * w)
        for line in 0..<(3 * p) {
            let start = (n * 3 * p + line) * width
            out += pixelValues[start..<(start + w)]
        }
        return out
    }

    /// Each sample alone in a one-row batch of exactly its length, in segment order: the
    /// reference that a packed forward and backward must reproduce.
    public func unpacked() -> [PackedBatch] {
        segments.map { seg in
            let base = seg.row * length + seg.start
            let range = base..<(base + seg.length)
            let sliceIDs = Array(seg.slices)
            let sizes = sliceIDs.map { tgtSizes[$0] }
            let single = PackedSegment(id: seg.id, sourceIndex: seg.sourceIndex, group: 0, row: 0, start: 0,
                                       length: seg.length, truncated: seg.truncated, slices: 0..<sliceIDs.count)
            var one = PackedBatch(rows: 1, length: seg.length, inputIds: Array(inputIds[range]),
                                  labels: Array(labels[range]), positionIds: Array(positionIds[range]),
                                  segmentIds: Array(repeating: 0, count: seg.length), pixelValues: [],
                                  tgtSizes: [], maxPatches: 0,
                                  imageBounds: sliceIDs.map { (imageBounds[$0].lowerBound - base)..<(imageBounds[$0].upperBound - base) },
                                  segments: [single], groups: [[0]], patchSize: patchSize)
            one.setSlices(zip(sizes, sliceIDs).map { ImageSlice(tgtSize: $0, pixels: strip($1)) })
            return one
        }
    }
}
