import Autograd
import Datasets
import Foundation
import Models

/// The one bridge from the data pipeline to the model: a packed batch (training,
/// evaluation) or a prompt (generation, `PackedBatch.prompt`) in the model's input form.
public func modelInput(_ b: PackedBatch) -> MiniCPMVInput {
    let n = b.sliceCount
    let pixels = n == 0 ? nil : Tensor(b.pixelValues, shape: [n, 3, b.patchSize, b.maxPatches * b.patchSize])
    return MiniCPMVInput(inputIds: b.inputIds, labels: b.labels, positionIds: b.positionIds, segmentIds: b.segmentIds,
                         batch: b.rows, seqLen: b.length, pixelValues: pixels,
                         tgtSizes: b.tgtSizes.map { (h: $0.h, w: $0.w) }, imageBounds: b.imageBounds)
}

/// Token cross-entropy over the next `batches` batches of `loader`, without a graph:
/// the mean per supervised token and the token count (nil mean when there is none).
func heldOutLoss(_ model: MiniCPMV, _ loader: DataLoader, batches: Int) throws -> (loss: Double?, tokens: Int) {
    try noGrad {
        var total = 0.0, tokens = 0
        for _ in 0..<batches {
            let (loss, n) = try model.loss(modelInput(try loader.next()))
            total += Double(loss.item); tokens += n
        }
        return (tokens > 0 ? total / Double(tokens) : nil, tokens)
    }
}
