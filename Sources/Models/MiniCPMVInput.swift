import Autograd
import Core

/// One batch for `MiniCPMV`: token rows (possibly packed), the image slices and
/// where their tokens go.
public struct MiniCPMVInput {
    /// B·T token ids, row-major.
    public var inputIds: [Int32]
    /// B·T targets aligned with the logits (logits[t] predicts labels[t]); −100 = no loss.
    public var labels: [Int32]
    /// B·T rotary positions (restart at 0 for each packed sample).
    public var positionIds: [Int32]
    /// B·T packing ids: attention stays within runs of equal ids. nil: one sample per row.
    public var segmentIds: [Int32]?
    public var batch: Int
    public var seqLen: Int
    /// [N, 3, P, maxL·P] strips of all slices of all images, in text order; nil without images.
    public var pixelValues: Tensor?
    /// (h, w) in patches of each slice.
    public var tgtSizes: [(h: Int, w: Int)]
    /// For each slice, the token positions (into the B·T rows) its Q vision tokens replace.
    public var imageBounds: [Range<Int>]

    public init(inputIds: [Int32], labels: [Int32], positionIds: [Int32], segmentIds: [Int32]? = nil,
                batch: Int, seqLen: Int, pixelValues: Tensor? = nil, tgtSizes: [(h: Int, w: Int)] = [],
                imageBounds: [Range<Int>] = []) {
        self.inputIds = inputIds
        self.labels = labels
        self.positionIds = positionIds
        self.segmentIds = segmentIds
        self.batch = batch
        self.seqLen = seqLen
        self.pixelValues = pixelValues
        self.tgtSizes = tgtSizes
        self.imageBounds = imageBounds
    }

    /// A text-only batch of one row with positions 0..<T.
    public static func text(_ ids: [Int32], labels: [Int32]) -> MiniCPMVInput {
        MiniCPMVInput(inputIds: ids, labels: labels, positionIds: (0..<ids.count).map { Int32($0) },
                      batch: 1, seqLen: ids.count)
    }

    public var imageCount: Int { imageBounds.count }

    /// Checks the batch against a model config; throws `ModelError` naming the problem.
    public func validate(for config: MiniCPMVConfig) throws {
        let n = batch * seqLen
        func fail(_ s: String) -> ModelError { ModelError.input(s) }
        guard batch > 0, seqLen > 0 else { throw fail("empty batch (\(batch) × \(seqLen))") }
        guard inputIds.count == n, labels.count == n, positionIds.count == n else {
            throw fail("ids/labels/positions have \(inputIds.count)/\(labels.count)/\(positionIds.count) entries for \(batch)×\(seqLen)")
        }
        if let s = segmentIds, s.count != n { throw fail("\(s.count) segment ids for \(batch)×\(seqLen)") }
        let vocab = Int32(config.llm.vocabSize)
        if let bad = inputIds.first(where: { $0 < 0 || $0 >= vocab }) { throw fail("token id \(bad) outside the vocabulary of \(vocab)") }
        if let bad = labels.first(where: { $0 != ignoreIndex && ($0 < 0 || $0 >= vocab) }) {
            throw fail("label \(bad) outside the vocabulary of \(vocab)")
        }
        try validateImages(config)
    }

    private func validateImages(_ config: MiniCPMVConfig) throws {
        guard imageBounds.count == tgtSizes.count else {
            throw ModelError.input("\(imageBounds.count) image bounds for \(tgtSizes.count) slices")
        }
        guard let pixels = pixelValues else {
            if !imageBounds.isEmpty { throw ModelError.input("image bounds given without pixel values") }
            return
        }
        let p = config.vision.patchSize
        guard pixels.rank == 4, pixels.shape[0] == tgtSizes.count, pixels.shape[1] == config.vision.numChannels,
              pixels.shape[2] == p, pixels.shape[3] % p == 0 else {
            throw ModelError.input("pixel values \(pixels.shape) do not match \(tgtSizes.count) slices of [\(config.vision.numChannels), \(p), L·\(p)]")
        }
        let maxL = pixels.shape[3] / p
        var covered = [Bool](repeating: false, count: batch * seqLen)
        for (i, (b, s)) in zip(imageBounds, tgtSizes).enumerated() {
            guard s.h > 0, s.w > 0, s.h * s.w <= maxL else {
                throw ModelError.input("slice \(i): size \(s.h)×\(s.w) does not fit a strip of \(maxL) patches")
            }
            guard b.count == config.queryNum else {
                throw ModelError.input("slice \(i): image bound \(b) spans \(b.count) tokens, expected query_num \(config.queryNum)")
            }
            guard b.lowerBound >= 0, b.upperBound <= batch * seqLen else {
                throw ModelError.input("slice \(i): image bound \(b) outside \(batch * seqLen) tokens")
            }
            guard b.lowerBound / seqLen == (b.upperBound - 1) / seqLen else {
                throw ModelError.input("slice \(i): image bound \(b) crosses a row boundary")
            }
            for t in b {
                if covered[t] { throw ModelError.input("slice \(i): image bound \(b) overlaps another") }
                covered[t] = true
            }
        }
    }
}
