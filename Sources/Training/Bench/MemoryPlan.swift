import Autograd
import Foundation
import Models
import NN

/// What a training step will hold in memory, estimated from the shapes before
/// anything is allocated: weights (float32, or bfloat16 where frozen and
/// narrowed), gradients and AdamW moments of what trains, and activations.
///
/// Activations are an upper bound counted tensor by tensor: per decoder layer
/// T·(4D + 2(H + Hkv)·Dh + 3F) floats plus the attention probabilities of each
/// sample (H·S²); with recomputation only each layer's input (T·D) stays, plus
/// one layer's worth while it runs again. The logits of the labelled positions
/// count three times (logits, probabilities, their gradient). A frozen vision
/// tower keeps nothing; one of its layers is alive while it runs.
public struct MemoryPlan {
    public var weightBytes: Double
    public var trainingStateBytes: Double
    public var activationBytes: Double
    /// Spare buffers the storage pool may keep between steps.
    public var poolBytes: Double

    public var totalBytes: Double { weightBytes + trainingStateBytes + activationBytes + poolBytes }

    /// - model: the model as it will train (adapters attached, trainable flags set);
    ///   its weights need not be filled (`MiniCPMV(config:initialize: false)` costs no memory).
    /// - narrowed: the frozen weights that will be kept in bfloat16.
    public init(model: MiniCPMV, narrowed: Set<String>, tokens: Int, labelled: Int, samples: Int, slices: Int,
                patchesPerSlice: Int, recompute: Bool) {
        var weights = 0.0, state = 0.0
        var visionTrains = false
        for (path, p) in model.namedParameters() {
            weights += Double(p.count) * (p.bf16 == nil && !narrowed.contains(path) ? 4 : 2)
            if p.isTrainable {
                state += Double(p.count) * 12                              // gradient, m, v
                if Module.path(path, isUnder: "vpm") { visionTrains = true }
            }
        }
        let l = model.config.llm, v = model.config.vision
        let t = Double(tokens), s = Double(tokens) / Double(max(samples, 1))
        let perLayer = t * Double(4 * l.hiddenSize + 2 * (l.numAttentionHeads + l.numKeyValueHeads) * l.headDim
                                  + 3 * l.intermediateSize)
            + Double(samples) * Double(l.numAttentionHeads) * s * s
        let layers = Double(l.numHiddenLayers)
        var floats = recompute ? layers * t * Double(l.hiddenSize) + perLayer : layers * perLayer
        floats += 3 * Double(labelled) * Double(l.vocabSize)
        let n = Double(slices), p = Double(patchesPerSlice)
        let visionLayer = n * p * Double(4 * v.hiddenSize + 3 * v.intermediateSize) + n * Double(v.numAttentionHeads) * p * p
        let visionLayers = Double(model.config.visionLayers)
        floats += !visionTrains ? visionLayer
            : recompute ? visionLayers * n * p * Double(v.hiddenSize) + visionLayer : visionLayers * visionLayer
        weightBytes = weights
        trainingStateBytes = state
        activationBytes = floats * 4
        poolBytes = min(Double(StoragePool.limitBytes), activationBytes)
    }

    /// "estimated peak 21.6 GB: weights 16.5 GB, gradients and moments 1.3 GB, activations 3.3 GB, buffer pool up to 512 MB".
    public var summary: String {
        func amount(_ bytes: Double) -> String {
            bytes >= 1e9 ? String(format: "%.1f GB", bytes / 1e9) : String(format: "%.0f MB", bytes / 1e6)
        }
        return "estimated peak \(amount(totalBytes)): weights \(amount(weightBytes)), gradients and moments "
            + "\(amount(trainingStateBytes)), activations \(amount(activationBytes)), buffer pool up to \(amount(poolBytes))"
    }

    /// What this process may hold in all: the memory the kernel says is available
    /// (MemAvailable) plus what the process already holds (a run plans after its
    /// model is loaded, and that model is part of the plan); nil where /proc is missing.
    public static func availableBytes() -> Double? {
        guard let info = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
              let kb = TrainingBenchmark.kilobytes("MemAvailable", in: info) else { return nil }
        let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let resident = status.flatMap { TrainingBenchmark.kilobytes("VmRSS", in: $0) } ?? 0
        return (kb + resident) * 1024
    }
}
