import Foundation
import Core

/// One image the vision tower sees (an overview or a slice) in the strip layout.
public struct ImageSlice: Equatable {
    /// (h, w) in patches.
    public var tgtSize: TgtSize
    /// [3, 14, h·w·14]: patch k (row-major over the h×w grid) in columns [14k, 14k+14).
    public var pixels: [Float]

    public init(tgtSize: TgtSize, pixels: [Float]) {
        self.tgtSize = tgtSize; self.pixels = pixels
    }

    /// The patch side the strip was cut with (its pixels are 3 × p × h·w·p).
    public var patchSize: Int {
        tgtSize.patchCount == 0 ? 0 : Int(Double(pixels.count / (3 * tgtSize.patchCount)).squareRoot().rounded())
    }

    public static func stripCount(_ size: TgtSize, patchSize: Int) -> Int {
        3 * patchSize * patchSize * size.patchCount
    }
}

/// The unit that is packed: one tokenised sample with its labels and images.
///
/// Labels are aligned with the logits: `labels[t]` is the target of the prediction made at
/// position t (so `labels[t] = inputIds[t+1]` on supervised spans), and the last position of a
/// sample is always `ignoreIndex`: nothing inside the sample follows it.
public struct TrainingSample: Equatable {
    public var id: String
    public var inputIds: [Int32]           // [n]
    public var labels: [Int32]             // [n]
    /// Token positions of each slice's query span, in slice order: start inclusive, end exclusive.
    public var imageBounds: [Range<Int>]
    /// One per bound, in the same order.
    public var slices: [ImageSlice]

    public init(id: String, inputIds: [Int32], labels: [Int32], imageBounds: [Range<Int>] = [],
                slices: [ImageSlice] = []) {
        self.id = id; self.inputIds = inputIds; self.labels = labels
        self.imageBounds = imageBounds; self.slices = slices
    }

    public var length: Int { inputIds.count }
    public var supervisedCount: Int { labels.reduce(0) { $1 == ignoreIndex ? $0 : $0 + 1 } }

    /// What packing needs to know about a sample, without its pixels.
    public var info: SampleInfo {
        SampleInfo(length: length,
                   imageEnd: imageBounds.map { $0.upperBound + 1 }.max() ?? 0,
                   firstSupervised: labels.firstIndex { $0 != ignoreIndex } ?? -1)
    }

    /// Checks every invariant the model relies on; a sample that fails is never trained.
    public func validate(queryCount: Int, patchSize: Int) throws {
        func fail(_ problem: String) -> DataError { DataError.invalidSample(id: id, problem: problem) }
        guard !inputIds.isEmpty else { throw fail("no tokens") }
        guard labels.count == inputIds.count else {
            throw fail("\(labels.count) labels for \(inputIds.count) tokens")
        }
        guard labels.last == ignoreIndex else { throw fail("the last position has a label; nothing follows it") }
        guard imageBounds.count == slices.count else {
            throw fail("\(imageBounds.count) image spans in the text but \(slices.count) image slices")
        }
        var previousEnd = 0
        for (k, bound) in imageBounds.enumerated() {
            guard bound.count == queryCount else {
                throw fail("image span \(k) at \(bound.lowerBound)..<\(bound.upperBound) holds \(bound.count) tokens, expected \(queryCount)")
            }
            guard bound.lowerBound >= max(previousEnd, 1), bound.upperBound < inputIds.count else {
                throw fail("image span \(k) at \(bound.lowerBound)..<\(bound.upperBound) is out of order or outside the \(inputIds.count) tokens")
            }
            previousEnd = bound.upperBound
        }
        for (k, slice) in slices.enumerated() {
            let want = ImageSlice.stripCount(slice.tgtSize, patchSize: patchSize)
            guard slice.tgtSize.h > 0, slice.tgtSize.w > 0, slice.pixels.count == want else {
                throw fail("slice \(k) of \(slice.tgtSize) patches holds \(slice.pixels.count) values, expected \(want)")
            }
        }
    }

    /// The sample cut to its first `length` tokens. The new last position loses its label
    /// (its target was cut off); image spans must end before the cut.
    public func truncated(to length: Int) -> TrainingSample {
        precondition(length >= info.imageEnd && length > 0 && length <= self.length)
        var s = self
        s.inputIds = Array(inputIds[..<length])
        s.labels = Array(labels[..<length])
        s.labels[length - 1] = ignoreIndex
        return s
    }
}

/// The length facts of a sample that packing decisions depend on.
public struct SampleInfo: Equatable, Codable {
    /// Number of tokens.
    public var length: Int
    /// One past the closing tag of the last image span (0 when the sample has no image):
    /// the shortest prefix that keeps every image whole.
    public var imageEnd: Int
    /// The first position with a label, or −1 when there is none.
    public var firstSupervised: Int

    public init(length: Int, imageEnd: Int = 0, firstSupervised: Int = 0) {
        self.length = length; self.imageEnd = imageEnd; self.firstSupervised = firstSupervised
    }
}

/// A preference pair for DPO: the same prompt (and images) with two completions.
///
/// Each completion is a full sample whose labels cover only its completion tokens, so the
/// summed log-probability of a completion is the sum of the selected log-probs over that
/// sample's labels, and packing treats the two like any other samples (kept in one batch).
public struct PreferenceSample: Equatable {
    public var id: String
    public var chosen: TrainingSample
    public var rejected: TrainingSample

    public init(id: String, chosen: TrainingSample, rejected: TrainingSample) {
        self.id = id; self.chosen = chosen; self.rejected = rejected
    }

    /// Chosen first, then rejected: the order of a preference group in a `SampleSource`.
    public var members: [TrainingSample] { [chosen, rejected] }
}
