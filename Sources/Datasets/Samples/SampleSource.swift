import Foundation

/// Random access to the samples of a data set: what the loader draws from.
///
/// Samples come in groups of `groupSize` consecutive indices that always travel together:
/// 1 for ordinary data, 2 for preference pairs (chosen at 2i, rejected at 2i+1).
public protocol SampleSource: AnyObject {
    var count: Int { get }
    var groupSize: Int { get }
    /// Length facts of sample i, without loading its pixels.
    func info(_ index: Int) -> SampleInfo
    func sample(_ index: Int) throws -> TrainingSample
}

extension SampleSource {
    public var groupCount: Int { count / groupSize }
    public func group(_ g: Int) -> [Int] { Array((g * groupSize)..<((g + 1) * groupSize)) }
}

/// Samples held in memory.
public final class InMemorySamples: SampleSource {
    public let samples: [TrainingSample]
    public let groupSize: Int
    private let infos: [SampleInfo]

    public init(_ samples: [TrainingSample], groupSize: Int = 1) {
        precondition(groupSize >= 1 && samples.count % groupSize == 0, "\(samples.count) samples in groups of \(groupSize)")
        self.samples = samples
        self.groupSize = groupSize
        self.infos = samples.map(\.info)
    }

    public convenience init(pairs: [PreferenceSample]) {
        self.init(pairs.flatMap(\.members), groupSize: 2)
    }

    public var count: Int { samples.count }
    public func info(_ index: Int) -> SampleInfo { infos[index] }
    public func sample(_ index: Int) throws -> TrainingSample { samples[index] }
}

/// Several sources (e.g. one shard per data file) seen as one.
public final class ConcatenatedSource: SampleSource {
    public let parts: [SampleSource]
    public let groupSize: Int
    private let starts: [Int]

    public init(_ parts: [SampleSource]) {
        precondition(Set(parts.map(\.groupSize)).count <= 1, "sources with different group sizes cannot be mixed")
        self.parts = parts
        self.groupSize = parts.first?.groupSize ?? 1
        var s = [0]
        for p in parts { s.append(s.last! + p.count) }
        self.starts = s
    }

    public var count: Int { starts.last! }

    private func locate(_ index: Int) -> (SampleSource, Int) {
        precondition(index >= 0 && index < count, "sample \(index) of \(count)")
        var lo = 0, hi = parts.count - 1
        while lo < hi {                          // last part whose start ≤ index
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= index { lo = mid } else { hi = mid - 1 }
        }
        return (parts[lo], index - starts[lo])
    }

    public func info(_ index: Int) -> SampleInfo { let (p, i) = locate(index); return p.info(i) }
    public func sample(_ index: Int) throws -> TrainingSample { let (p, i) = locate(index); return try p.sample(i) }
}
