import Foundation
import Core

/// A position in the data stream: the epoch and how many groups of its order have been taken.
public struct DataCursor: Codable, Equatable, CustomStringConvertible {
    public var epoch: Int
    public var position: Int
    public init(epoch: Int = 0, position: Int = 0) { self.epoch = epoch; self.position = position }
    public var description: String { "epoch \(epoch), position \(position)" }
}

/// The seeded visiting order of a data set's groups: a fresh permutation per epoch, a pure
/// function of (seed, epoch), so a cursor alone restores the exact stream.
public struct DataOrder: Codable, Equatable {
    public var seed: UInt64
    public var count: Int
    public var shuffle: Bool

    public init(seed: UInt64, count: Int, shuffle: Bool = true) {
        self.seed = seed; self.count = count; self.shuffle = shuffle
    }

    public func permutation(epoch: Int) -> [Int] {
        guard shuffle else { return Array(0..<count) }
        var rng = RNG(seed: seed).derived("shuffle").derived("epoch \(epoch)")
        return rng.permutation(count)
    }

    /// The next `n` indices from `cursor` within its epoch (fewer at the epoch's end).
    public func take(_ n: Int, from cursor: DataCursor, permutation: [Int]) -> [Int] {
        Array(permutation[min(cursor.position, count)..<min(cursor.position + n, count)])
    }
}
