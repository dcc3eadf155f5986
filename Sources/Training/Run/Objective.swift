import Autograd
import Communication
import Core
import Checkpointing
import Datasets
import Foundation
import Models
import NN

/// What a phase optimises. Pretraining and SFT predict the next token
/// (`LanguageModelObjective`); RLAIF-V preference data trains with DPO
/// (`DPOObjective`); per-cell labels pre-train the vision encoder (`RegionObjective`).
/// Phases differ only here and in their data.
protocol Objective: AnyObject {
    /// Forward and backward over the micro-batches of one step; the gradients are
    /// left in the parameters for the update.
    func step(model: MiniCPMV, batches: [PackedBatch]) throws -> StepResult
    /// Held-out loss over the next `batches` batches of `loader`, without a graph.
    func heldOutLoss(model: MiniCPMV, loader: DataLoader, batches: Int) throws -> Double?
    /// What the objective adds to a checkpoint written in the middle of its phase.
    func save(into file: HDF5File) throws
    /// Parameters of its own that train beside the model's (the regions heads).
    var parameters: [(path: String, parameter: Parameter)] { get }
    /// What the last `heldOutLoss` measured besides the loss, for the metrics log.
    var heldOutMetrics: [String: Double] { get }
}

extension Objective {
    func save(into file: HDF5File) throws {}
    var parameters: [(path: String, parameter: Parameter)] { [] }
    var heldOutMetrics: [String: Double] { [:] }
}

/// Next-token prediction: the summed cross-entropy of every micro-batch is divided
/// by the supervised tokens of the whole accumulated batch, so each token weighs
/// the same whatever micro-batch it landed in. In a data-parallel run the batches
/// are this rank's share, and the count and the loss are summed over the ranks:
/// every token weighs the same whatever rank it landed on.
final class LanguageModelObjective: Objective {
    let world: World
    /// Hears the last micro-batch's backward pass (nil: nobody listens).
    weak var listener: GradientListener?

    init(world: World = .single) { self.world = world }

    func step(model: MiniCPMV, batches: [PackedBatch]) throws -> StepResult {
        let local = batches.reduce(0) { $0 + $1.supervisedCount }
        let total = world.isDistributed ? Int(try world.sum([Double(local)])[0]) : local
        guard total > 0 else { return try shared(StepResult(batches, loss: 0, tokens: 0)) }
        var lossSum = 0.0
        for (m, b) in batches.enumerated() {
            let (loss, _) = try model.loss(modelInput(b))
            lossSum += Double(loss.item)
            let isLast = m == batches.count - 1
            (loss * (1 / Float(total))).backward(leafReady: isLast ? listener?.leafReady : nil)
        }
        return try shared(StepResult(batches, loss: lossSum / Double(total), tokens: total))
    }

    /// A rank's result with the loss, input tokens and images of the whole global batch.
    /// The listener hears that backward ended first: its sums are collectives
    /// that every rank must start before this one.
    private func shared(_ r: StepResult) throws -> StepResult {
        listener?.backwardEnded()
        guard world.isDistributed else { return r }
        let sums = try world.sum([r.loss, Double(r.inputTokens), Double(r.images)])
        var out = r
        out.loss = sums[0]; out.inputTokens = Int(sums[1]); out.images = Int(sums[2])
        return out
    }

    func heldOutLoss(model: MiniCPMV, loader: DataLoader, batches: Int) throws -> Double? {
        try Training.heldOutLoss(model, loader, batches: batches).loss
    }
}

/// Told, during a step's last backward pass, as each parameter's gradient
/// becomes final, and when the step's backward passes are over (a data-parallel
/// run starts summing gradients while backward goes on: `GradientAllreduce`).
protocol GradientListener: AnyObject {
    /// A leaf's gradient is final (its `grad` may be nil); only reads gradients.
    func leafReady(_ node: Node)
    /// Every gradient of the step is final. Called before any other collective
    /// that follows the backward passes, by every rank, even one without rows.
    func backwardEnded()
}

/// What one optimizer step measured.
public struct StepResult {
    public var loss: Double
    public var gradNorm: Float = 0
    public var lr: Double = 0
    public var tokens: Int            // supervised tokens
    public var inputTokens: Int       // all non-padding tokens
    public var images: Int
    public var metrics: [String: Double] = [:]

    init(_ batches: [PackedBatch], loss: Double, tokens: Int, metrics: [String: Double] = [:]) {
        self.loss = loss; self.tokens = tokens; self.metrics = metrics
        inputTokens = batches.reduce(0) { $0 + $1.tokenCount }
        images = batches.reduce(0) { $0 + Set($1.segments.filter { !$0.slices.isEmpty }.map(\.id)).count }
    }
}
