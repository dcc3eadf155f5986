import Autograd
import Communication
import Core
import Datasets
import Foundation
import Models
import NN

/// Data parallelism over the ranks of a `World`: how the rows of a step are
/// shared out, how the gradients are summed, and how the ranks check that they
/// still hold the same weights.
///
/// Every rank plans every micro-batch of a step (so the data cursor, the pack
/// plan and the random streams stay global, and a checkpoint resumes at any
/// number of ranks), then assembles and runs only its share of the rows. The
/// summed gradients, divided by the supervised tokens of the whole global batch,
/// are those of one process running the whole batch.
public enum DataParallel {
    /// Rank `rank`'s share of the rows of `plans` (one plan per micro-batch): the
    /// rows of the step in order, cut into `size` contiguous runs as even as can
    /// be; each returned plan holds the rows of one micro-batch (micro-batches
    /// with none of this rank's rows are left out).
    public static func share(of plans: [PackPlan], rank: Int, size: Int) -> [PackPlan] {
        let rows = plans.enumerated().flatMap { m, plan in plan.rows.map { (micro: m, row: $0) } }
        let mine = (rows.count * rank / size)..<(rows.count * (rank + 1) / size)
        var out: [PackPlan] = []
        var current: Int?
        for (micro, row) in rows[mine] {
            if current != micro { out.append(PackPlan(maxLength: plans[micro].maxLength, rows: [])); current = micro }
            out[out.count - 1].rows.append(row)
        }
        return out
    }

    /// A fingerprint of every weight (model and objective parameters, by path):
    /// equal on every rank while the ranks agree bit for bit.
    static func weightFingerprint(_ parameters: [(path: String, parameter: Parameter)]) -> UInt64 {
        var h = FNV1a()
        for (path, p) in parameters.sorted(by: { $0.path < $1.path }) {
            h.add(path)
            h.add(checksum64(UnsafeRawBufferPointer(start: p.value.pointer, count: p.value.count * MemoryLayout<Float>.size)))
        }
        return h.value
    }

    /// Throws when the ranks' weights differ (`step` names when, in the message).
    static func checkWeightsAgree(_ parameters: [(path: String, parameter: Parameter)], world: World, step: Int) throws {
        guard world.isDistributed else { return }
        try checkWeightsAgree(fingerprints: try world.gather(weightFingerprint(parameters)), step: step)
    }

    /// Throws when the ranks' weight fingerprints (in rank order) are not all rank 0's.
    public static func checkWeightsAgree(fingerprints all: [UInt64], step: Int) throws {
        let differing = all.indices.filter { all[$0] != all[0] }
        guard differing.isEmpty else {
            throw DataParallelError("after step \(step) the weights of rank(s) \(differing.map(String.init).joined(separator: ", ")) "
                                    + "differ from rank 0's (fingerprints " + all.map { String($0, radix: 16) }.joined(separator: ", ") + ")")
        }
    }

    /// Throws unless every rank runs a recipe that agrees with rank 0's on every
    /// setting that shapes training (names, folders and thread counts may differ).
    static func checkRecipesAgree(_ recipe: Recipe, world: World) throws {
        guard world.isDistributed else { return }
        var h = FNV1a()
        for (key, value) in recipe.resumeFields.sorted(by: { $0.key < $1.key }) { h.add(key); h.add(value) }
        let all = try world.gather(h.value)
        let differing = all.indices.filter { all[$0] != all[0] }
        guard differing.isEmpty else {
            throw DataParallelError("rank(s) \(differing.map(String.init).joined(separator: ", ")) run a recipe that differs "
                                    + "from rank 0's in settings that shape training; every rank must run the same recipe")
        }
    }
}

/// Sums the gradients of a step over the ranks with `MPI_Allreduce`, in buckets:
/// small gradients are copied into one buffer of up to `bucketFloats` values and
/// summed together (one call instead of hundreds of small ones); a gradient as
/// large as a bucket is summed where it lies. The sums run after the whole
/// backward pass (they do not overlap it).
struct GradientAllreduce {
    /// 4 Mi floats (16 MiB) per bucket.
    var bucketFloats = 1 << 22

    struct Outcome {
        /// The summed gradient of each trainable entry, nil where no rank has one.
        var gradients: [Tensor?]
        /// Waiting for the slowest rank to finish its backward pass (a barrier).
        var waitSeconds: Double
        /// The sums themselves, copies into and out of the buckets included.
        var seconds: Double
        var bytes: Int
    }

    /// The sums go into fresh tensors: a gradient's storage may be shared with
    /// another parameter's (the tape hands one gradient to both inputs of an
    /// addition), so it is never summed in place. A parameter that no row of this
    /// rank reached (nil gradient here) but another rank's rows did starts from
    /// zeros, so every rank updates the parameters that one process over the
    /// whole batch would.
    func sum(_ trainable: TrainableSet, world: World) throws -> Outcome {
        let arrival = Date()
        try world.barrier()
        let start = Date()
        let local = trainable.entries.map { $0.parameter.grad }
        let present = try world.sum(local.map { $0 == nil ? 0 : 1 })
        let gradients: [Tensor?] = trainable.entries.indices.map { i in
            guard present[i] > 0 else { return nil }
            let out = Tensor.zeros(trainable.entries[i].parameter.shape)
            if let g = local[i] { out.pointer.update(from: g.pointer, count: out.count) }
            return out
        }
        let tensors = gradients.compactMap { $0 }
        var staging = [Float](repeating: 0, count: min(bucketFloats, tensors.reduce(0) { $0 + $1.count }))
        var bucket: [Tensor] = []
        var filled = 0
        func flush() throws {
            guard !bucket.isEmpty else { return }
            try staging.withUnsafeMutableBufferPointer { buffer in
                var offset = 0
                for t in bucket { (buffer.baseAddress! + offset).update(from: t.pointer, count: t.count); offset += t.count }
                try world.sum(buffer.baseAddress!, count: filled)
                offset = 0
                for t in bucket { t.pointer.update(from: buffer.baseAddress! + offset, count: t.count); offset += t.count }
            }
            bucket = []; filled = 0
        }
        for t in tensors {
            if t.count >= bucketFloats {
                try world.sum(t.pointer, count: t.count)
                continue
            }
            if filled + t.count > bucketFloats { try flush() }
            bucket.append(t); filled += t.count
        }
        try flush()
        return Outcome(gradients: gradients, waitSeconds: start.timeIntervalSince(arrival), seconds: Date().timeIntervalSince(start),
                       bytes: tensors.reduce(0) { $0 + $1.count } * MemoryLayout<Float>.size)
    }
}
