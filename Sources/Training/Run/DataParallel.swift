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

/// Sums the gradients of a step over the ranks with `MPI_Iallreduce`, in
/// buckets, overlapping the last backward pass of the step.
///
/// The buckets are fixed when the phase starts, the same on every rank: the
/// trainable entries in reverse order (roughly the order backward finishes
/// them), packed into buckets of up to `bucketFloats` values; an entry as large
/// as a bucket has one of its own. During the step's last backward pass the tape
/// reports each parameter whose gradient is final (`leafReady`); a bucket whose
/// gradients are all final is copied into its buffer and its sum started, while
/// backward goes on. MPI needs every rank to start the same collectives in the
/// same order, so buckets start strictly in index order: bucket k only once
/// bucket k − 1 has. When backward ends (`backwardEnded`) the buckets not yet
/// started start too; `finish` waits for them all.
///
/// The sums land in fresh tensors: a gradient's storage may be shared with
/// another parameter's (the tape hands one gradient to both inputs of an
/// addition), so it is copied into the bucket, never summed in place. A
/// parameter that no row of this rank reached (nil gradient here) goes in as
/// zeros: when another rank's rows did reach it, every rank still updates it, as
/// one process over the whole batch would; when no rank's did, it stays nil.
final class GradientAllreduce: GradientListener {
    struct Bucket {
        /// Entries of the trainable set, and where each starts in the buffer.
        var members: [(entry: Int, offset: Int)] = []
        var count = 0
        var buffer: UnsafeMutablePointer<Float>? = nil
        var request: SumRequest? = nil
        var ready = 0
    }

    struct Outcome {
        /// The summed gradient of each trainable entry, nil where no rank has one.
        var gradients: [Tensor?]
        /// Time the step spent on the sums after its backward pass ended (starting
        /// the buckets left, waiting, copying out): what the overlap did not hide.
        var exposedSeconds: Double
        /// The part of `exposedSeconds` blocked in MPI: the sums completing, and the
        /// slower rank reaching the end of its backward pass.
        var waitSeconds: Double
        /// Time inside the backward pass: copies into the buckets and starting them.
        var duringBackwardSeconds: Double
        /// Buckets started before backward ended, and in all.
        var bucketsStartedEarly: Int
        var buckets: Int
        var bytes: Int
    }

    let trainable: TrainableSet
    let world: World
    private var buckets: [Bucket] = []
    private var bucketOf: [Int] = []
    private var entryOf: [ObjectIdentifier: Int] = [:]
    private var isReady: [Bool] = []
    private var present: [Double] = []
    private var nextBucket = 0
    private var firstIncomplete = 0
    private var startedEarly = 0
    private var duringBackward = 0.0
    private var exposed = 0.0
    private var failure: Error?

    /// Floats per bucket: 4 Mi (16 MiB) unless `TRAINER_ALLREDUCE_BUCKET_FLOATS` says otherwise.
    static var defaultBucketFloats: Int {
        ProcessInfo.processInfo.environment["TRAINER_ALLREDUCE_BUCKET_FLOATS"].flatMap { Int($0) }.map { max(1, $0) } ?? 1 << 22
    }

    init(_ trainable: TrainableSet, world: World, bucketFloats: Int = GradientAllreduce.defaultBucketFloats) {
        self.trainable = trainable; self.world = world
        bucketOf = Array(repeating: 0, count: trainable.entries.count)
        var current = Bucket()
        for i in trainable.entries.indices.reversed() {
            let n = trainable.entries[i].parameter.value.count
            if current.count > 0 && current.count + n > bucketFloats { buckets.append(current); current = Bucket() }
            bucketOf[i] = buckets.count
            current.members.append((i, current.count)); current.count += n
        }
        if current.count > 0 { buckets.append(current) }
        for k in buckets.indices { buckets[k].buffer = .allocate(capacity: buckets[k].count) }
    }

    deinit { for b in buckets { b.buffer?.deallocate() } }

    /// Readies a new step (call before its forward and backward passes).
    func begin() {
        entryOf = [:]
        for (i, e) in trainable.entries.enumerated() {
            if let node = e.parameter.value.node { entryOf[ObjectIdentifier(node)] = i }
        }
        isReady = Array(repeating: false, count: trainable.entries.count)
        present = Array(repeating: 0, count: trainable.entries.count)
        for k in buckets.indices { buckets[k].ready = 0; buckets[k].request = nil }
        nextBucket = 0; firstIncomplete = 0; startedEarly = 0
        duringBackward = 0; exposed = 0; failure = nil
    }

    /// A parameter's gradient is final (called by the tape during the last
    /// backward pass): starts every bucket now complete, in order, and lets MPI
    /// progress the sums already under way.
    func leafReady(_ node: Node) {
        guard failure == nil, let i = entryOf[ObjectIdentifier(node)], !isReady[i] else { return }
        let start = Date()
        isReady[i] = true
        buckets[bucketOf[i]].ready += 1
        while nextBucket < buckets.count && buckets[nextBucket].ready == buckets[nextBucket].members.count {
            startNext()
            startedEarly += 1
        }
        progress()
        duringBackward += Date().timeIntervalSince(start)
    }

    /// The step's backward passes are over (every rank calls this before its next
    /// collective): the buckets left start, with zeros for missing gradients.
    func backwardEnded() {
        let start = Date()
        while failure == nil && nextBucket < buckets.count { startNext() }
        exposed += Date().timeIntervalSince(start)
    }

    /// Waits for every sum and returns the summed gradients.
    func finish() throws -> Outcome {
        let start = Date()
        if let failure { throw failure }
        let anywhere = try world.sum(present)
        for b in buckets { try b.request?.wait() }
        let wait = Date().timeIntervalSince(start)
        var gradients: [Tensor?] = Array(repeating: nil, count: trainable.entries.count)
        for b in buckets {
            for (i, offset) in b.members where anywhere[i] > 0 {
                let out = Tensor.zeros(trainable.entries[i].parameter.shape)
                out.pointer.update(from: b.buffer! + offset, count: out.count)
                gradients[i] = out
            }
        }
        exposed += Date().timeIntervalSince(start)
        return Outcome(gradients: gradients, exposedSeconds: exposed, waitSeconds: wait, duringBackwardSeconds: duringBackward,
                       bucketsStartedEarly: startedEarly, buckets: buckets.count,
                       bytes: buckets.reduce(0) { $0 + $1.count } * MemoryLayout<Float>.size)
    }

    /// Copies the next bucket's gradients (zeros where none) into its buffer and starts its sum.
    private func startNext() {
        let b = buckets[nextBucket]
        for (i, offset) in b.members {
            let count = trainable.entries[i].parameter.value.count
            if let g = trainable.entries[i].parameter.grad {
                (b.buffer! + offset).update(from: g.pointer, count: count)
                present[i] = 1
            } else {
                (b.buffer! + offset).update(repeating: 0, count: count)
            }
        }
        do { buckets[nextBucket].request = try world.startSum(b.buffer!, count: b.count) } catch { failure = error }
        nextBucket += 1
    }

    /// Tests the sums under way (Open MPI progresses them only inside MPI calls).
    private func progress() {
        do {
            while firstIncomplete < nextBucket, try buckets[firstIncomplete].request?.test() ?? true { firstIncomplete += 1 }
        } catch { failure = error }
    }
}
