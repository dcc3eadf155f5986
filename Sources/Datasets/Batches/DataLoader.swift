import Foundation
import Core

/// How a batch is measured.
public enum BatchShape: Codable, Equatable {
    /// A fixed number of packed rows; samples are packed in windows of the shuffled order and
    /// rows left over from a window open the next batch; an epoch's last batch may have fewer
    /// rows. Only for groups of one sample.
    case rows(Int)
    /// A fixed number of groups (samples, or preference pairs kept in the same batch), packed
    /// into as few rows as they need.
    case groups(Int)
}

public struct DataLoaderConfig: Codable, Equatable {
    public var maxLength: Int
    public var batch: BatchShape
    public var seed: UInt64
    public var shuffle = true
    /// Off: one sample per row (padded to the longest row of the batch).
    public var packing = true
    public var overlong = OverlongPolicy.truncate
    /// Groups planned together with best-fit decreasing (`.rows` batches).
    public var packWindow = 1024
    public var padId: Int32 = 0
    /// Pads every row to `maxLength` instead of the batch's longest row.
    public var padToMaxLength = false

    public init(maxLength: Int, batch: BatchShape, seed: UInt64, shuffle: Bool = true, packing: Bool = true,
                overlong: OverlongPolicy = .truncate, packWindow: Int = 1024, padId: Int32 = 0,
                padToMaxLength: Bool = false) {
        self.maxLength = maxLength; self.batch = batch; self.seed = seed; self.shuffle = shuffle
        self.packing = packing; self.overlong = overlong; self.packWindow = packWindow
        self.padId = padId; self.padToMaxLength = padToMaxLength
    }
}

/// Everything needed to continue the batch stream exactly: the cursor, the rows already planned
/// but not yet served, and running counts. Saved with every checkpoint.
public struct DataLoaderState: Codable, Equatable {
    public var cursor = DataCursor()
    /// Planned rows waiting for the next batch (`.rows` batches only).
    public var pending: [[PackItem]] = []
    public var batchesServed = 0
    /// Over everything planned so far.
    public var statistics: PackStatistics
    /// The data set and settings the state belongs to, checked on restore.
    public var sampleCount: Int
    /// A hash of every sample's length facts: planned rows are only valid for the same lengths.
    public var dataFingerprint: UInt64
    public var config: DataLoaderConfig
}

/// An endless stream of packed batches over a sample source, epoch after epoch.
public final class DataLoader {
    public let source: SampleSource
    public let config: DataLoaderConfig
    public private(set) var state: DataLoaderState
    private let order: DataOrder
    private var permutation: (epoch: Int, order: [Int])?

    public init(source: SampleSource, config: DataLoaderConfig) throws {
        func invalid(_ reason: String) -> DataError { .invalidConfiguration(reason: reason) }
        guard config.maxLength > 0 else { throw invalid("max length must be positive, not \(config.maxLength)") }
        guard config.packWindow > 0 else { throw invalid("the pack window must be positive, not \(config.packWindow)") }
        switch config.batch {
        case let .rows(n) where n < 1, let .groups(n) where n < 1:
            throw invalid("a batch needs at least one row or group, not \(n)")
        case .rows where source.groupSize > 1:
            throw invalid("preference pairs need batches of whole pairs (groups), not rows")
        default: break
        }
        guard source.groupCount > 0 else { throw invalid("the data set is empty") }
        self.source = source
        self.config = config
        self.order = DataOrder(seed: config.seed, count: source.groupCount, shuffle: config.shuffle)
        self.state = DataLoaderState(statistics: PackStatistics(maxLength: config.maxLength),
                                     sampleCount: source.count, dataFingerprint: DataLoader.fingerprint(source),
                                     config: config)
    }

    public var cursor: DataCursor { state.cursor }
    public var epoch: Int { state.cursor.epoch }

    /// Continues from a saved state; the data set and settings must be those it was saved with.
    public func restore(_ saved: DataLoaderState) throws {
        guard saved.sampleCount == source.count else {
            throw DataError.stateMismatch(reason: "the data set had \(saved.sampleCount) samples, it now has \(source.count)")
        }
        guard saved.dataFingerprint == state.dataFingerprint else {
            throw DataError.stateMismatch(reason: "the samples changed since the position was saved (their lengths differ)")
        }
        guard saved.config == config else {
            throw DataError.stateMismatch(reason: "the loader settings differ from the saved ones")
        }
        guard saved.pending.allSatisfy({ $0.allSatisfy { $0.index >= 0 && $0.index < source.count } }) else {
            throw DataError.stateMismatch(reason: "the saved rows name samples outside the data set")
        }
        state = saved
    }

    /// The next batch. Samples whose images do not fit are dropped and counted, never cut.
    public func next() throws -> PackedBatch {
        try assemble(try nextPlan())
    }

    /// The next batch's plan, without laying it out: the cursor moves as for
    /// `next()`. Data-parallel ranks all plan every batch (so the cursor and the
    /// pack plan stay global) and each assembles only its share of the rows.
    public func nextPlan() throws -> PackPlan {
        let plan = try planNext()
        state.batchesServed += 1
        return plan
    }

    /// Lays out the rows of `plan` (or of part of a plan) from this loader's samples.
    public func assemble(_ plan: PackPlan) throws -> PackedBatch {
        try PackedBatch.assemble(plan, padId: config.padId, padToMaxLength: config.padToMaxLength) {
            try source.sample($0)
        }
    }

    private func planNext() throws -> PackPlan {
        var emptyEpochs = 0
        while true {
            let perm = permutation(epoch: state.cursor.epoch)
            switch config.batch {
            case let .rows(rows):
                if state.pending.count >= rows {
                    defer { state.pending.removeFirst(rows) }
                    return PackPlan(maxLength: config.maxLength, rows: Array(state.pending.prefix(rows)))
                }
                if state.cursor.position < order.count {
                    state.pending += shuffledRows(planWindow(config.packWindow, perm).rows)
                    continue
                }
                if !state.pending.isEmpty {               // the epoch's last, smaller batch
                    defer { state.pending = [] }
                    return PackPlan(maxLength: config.maxLength, rows: state.pending)
                }
            case let .groups(n):
                if state.cursor.position < order.count {
                    let plan = planWindow(n, perm)
                    if !plan.rows.isEmpty { return plan }
                    continue
                }
            }
            emptyEpochs = state.statistics.samples == 0 ? emptyEpochs + 1 : 0
            guard emptyEpochs < 2 else {
                throw DataError.stateMismatch(reason: "no sample fits in rows of \(config.maxLength) tokens (\(state.statistics))")
            }
            state.cursor = DataCursor(epoch: state.cursor.epoch + 1, position: 0)
        }
    }

    /// Plans the next `n` groups of the order and advances the cursor past them.
    private func planWindow(_ n: Int, _ perm: [Int]) -> PackPlan {
        let taken = order.take(n, from: state.cursor, permutation: perm)
        state.cursor.position += taken.count
        let (plan, stats) = PackPlan.make(groups: taken.map(source.group), info: source.info,
                                          maxLength: config.maxLength, policy: config.overlong, packing: config.packing)
        state.statistics.merge(stats)
        return plan
    }

    /// Best-fit decreasing fills a window's rows from its longest samples to its shortest; served
    /// in that order, a run would see dozens of batches of long samples, then dozens of short ones
    /// (text-only questions, one-object captions), and fit each stretch in turn instead of the data.
    /// The rows of every window are therefore served in a shuffled order, drawn from the seed, the
    /// epoch and the window's place in it (so a resumed run draws the same order).
    private func shuffledRows(_ rows: [[PackItem]]) -> [[PackItem]] {
        guard config.shuffle, rows.count > 1 else { return rows }
        var rng = RNG(seed: config.seed).derived("rows").derived("epoch \(state.cursor.epoch) at \(state.cursor.position)")
        return rng.permutation(rows.count).map { rows[$0] }
    }

    static func fingerprint(_ source: SampleSource) -> UInt64 {
        var h = FNV1a()
        for i in 0..<source.count {
            let info = source.info(i)
            for v in [info.length, info.imageEnd, info.firstSupervised] { h.add(UInt64(bitPattern: Int64(v))) }
        }
        return h.value
    }

    private func permutation(epoch: Int) -> [Int] {
        if let p = permutation, p.epoch == epoch { return p.order }
        let p = order.permutation(epoch: epoch)
        permutation = (epoch, p)
        return p
    }

    /// The packing of one whole epoch, computed from sample lengths alone (no pixels): what the
    /// run header reports, and how many batches an epoch gives.
    public func epochPlan(epoch: Int = 0) -> (batches: Int, statistics: PackStatistics) {
        let probe = try! DataLoader(source: source, config: config)
        probe.state.cursor = DataCursor(epoch: epoch, position: 0)
        probe.state.statistics = PackStatistics(maxLength: config.maxLength)
        var batches = 0
        while true {
            let before = probe.state.statistics
            // A plan returned after the cursor moved on belongs to the next epoch.
            guard (try? probe.nextPlan()) != nil, probe.state.cursor.epoch == epoch else {
                return (batches, before)
            }
            batches += 1
        }
    }
}
