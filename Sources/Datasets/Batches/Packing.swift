import Foundation

/// What to do with a sample longer than the row length.
public enum OverlongPolicy: String, Codable, CaseIterable {
    /// Cut its text after its last image when that fits (else drop it).
    case truncate
    /// Always drop it.
    case drop
}

/// Why a sample was left out of every row.
public enum DropReason: String, Codable, CaseIterable {
    /// Its image spans reach beyond the row length; cutting would cut an image.
    case imageBeyondLimit
    /// The part that fits holds no label.
    case nothingSupervised
    /// Longer than the row length under the `drop` policy.
    case tooLong
    /// Another member of its preference pair was dropped.
    case partnerDropped
}

/// How a sample enters the rows.
public enum SampleFit: Equatable {
    case whole
    case truncated(to: Int)
    case dropped(DropReason)

    /// The decision for one sample; depends only on its length facts.
    public static func decide(_ info: SampleInfo, maxLength: Int, policy: OverlongPolicy) -> SampleFit {
        if info.length <= maxLength { return .whole }
        if policy == .drop { return .dropped(.tooLong) }
        if info.imageEnd > maxLength { return .dropped(.imageBeyondLimit) }
        // The last kept position loses its label, so a label must sit before it.
        if info.firstSupervised < 0 || info.firstSupervised >= maxLength - 1 { return .dropped(.nothingSupervised) }
        return .truncated(to: maxLength)
    }
}

/// One sample in a row: its index in the sample source, the tokens it keeps (fewer than its
/// length when truncated) and the group (sample or preference pair) it belongs to.
public struct PackItem: Codable, Equatable {
    public var index: Int
    public var length: Int
    public var group: Int
    public init(index: Int, length: Int, group: Int) {
        self.index = index; self.length = length; self.group = group
    }
}

/// Which samples go into which row.
public struct PackPlan: Codable, Equatable {
    public var maxLength: Int
    /// Rows in order; each row's samples in placement order. Σ length ≤ maxLength per row.
    public var rows: [[PackItem]]

    public init(maxLength: Int, rows: [[PackItem]]) {
        self.maxLength = maxLength; self.rows = rows
    }

    /// Best-fit decreasing: items sorted by length, longest first (ties keep their order); each
    /// goes into the open row with the least room that still holds it (ties: the earliest row),
    /// or opens a new row. Deterministic for given lengths.
    public static func bestFitDecreasing(_ items: [PackItem], maxLength: Int) -> PackPlan {
        let order = items.indices.sorted { items[$0].length != items[$1].length ? items[$0].length > items[$1].length : $0 < $1 }
        var rows: [[PackItem]] = []
        var room: [Int] = []
        for i in order {
            let item = items[i]
            precondition(item.length > 0 && item.length <= maxLength, "item of \(item.length) tokens for rows of \(maxLength)")
            var best = -1
            for r in room.indices where room[r] >= item.length && (best < 0 || room[r] < room[best]) { best = r }
            if best < 0 {
                rows.append([item]); room.append(maxLength - item.length)
            } else {
                rows[best].append(item); room[best] -= item.length
            }
        }
        return PackPlan(maxLength: maxLength, rows: rows)
    }

    /// Fits and packs groups of samples (a group is one sample, or a preference pair whose
    /// members are dropped together). With `packing` off each sample gets its own row.
    public static func make(groups: [[Int]], info: (Int) -> SampleInfo, maxLength: Int,
                            policy: OverlongPolicy, packing: Bool = true) -> (plan: PackPlan, statistics: PackStatistics) {
        var stats = PackStatistics(maxLength: maxLength)
        var items: [PackItem] = []
        for (g, members) in groups.enumerated() {
            let infos = members.map(info)
            let fits = infos.map { SampleFit.decide($0, maxLength: maxLength, policy: policy) }
            let groupDropped = fits.contains { if case .dropped = $0 { return true } else { return false } }
            for (k, member) in members.enumerated() {
                if groupDropped {
                    if case let .dropped(r) = fits[k] { stats.recordDrop(r) } else { stats.recordDrop(.partnerDropped) }
                    continue
                }
                var kept = infos[k].length
                if case let .truncated(to) = fits[k] {
                    stats.truncated += 1
                    stats.truncatedTokens += kept - to
                    kept = to
                }
                items.append(PackItem(index: member, length: kept, group: g))
            }
        }
        let plan = packing ? bestFitDecreasing(items, maxLength: maxLength)
                           : PackPlan(maxLength: maxLength, rows: items.map { [$0] })
        stats.add(plan)
        return (plan, stats)
    }
}

/// Counts of a packing: what the run header reports.
public struct PackStatistics: Codable, Equatable, CustomStringConvertible {
    public var maxLength: Int
    public var samples = 0
    public var rows = 0
    /// Real (non-padding) tokens in the rows.
    public var tokens = 0
    public var truncated = 0
    public var truncatedTokens = 0
    public var dropped: [DropReason: Int] = [:]

    public init(maxLength: Int) { self.maxLength = maxLength }

    public var droppedCount: Int { dropped.values.reduce(0, +) }
    /// Real tokens over row capacity (rows · maxLength).
    public var fillRatio: Double { rows == 0 ? 0 : Double(tokens) / Double(rows * maxLength) }
    public var samplesPerRow: Double { rows == 0 ? 0 : Double(samples) / Double(rows) }

    mutating func recordDrop(_ reason: DropReason) { dropped[reason, default: 0] += 1 }

    mutating func add(_ plan: PackPlan) {
        rows += plan.rows.count
        for row in plan.rows {
            samples += row.count
            tokens += row.reduce(0) { $0 + $1.length }
        }
    }

    /// Sums two statistics of the same row length (e.g. the windows of one epoch).
    public mutating func merge(_ other: PackStatistics) {
        samples += other.samples; rows += other.rows; tokens += other.tokens
        truncated += other.truncated; truncatedTokens += other.truncatedTokens
        for (reason, n) in other.dropped { dropped[reason, default: 0] += n }
    }

    public var description: String {
        var s = "packing: \(samples) samples in \(rows) rows of \(maxLength) tokens, fill "
            + String(format: "%.1f %%, %.2f samples/row", 100 * fillRatio, samplesPerRow)
        s += "; \(truncated) truncated after their last image (\(truncatedTokens) tokens cut)"
        s += "; \(droppedCount) dropped"
        let reasons = DropReason.allCases.compactMap { r in dropped[r].map { "\($0) \(PackStatistics.text(r))" } }
        if !reasons.isEmpty { s += " (" + reasons.joined(separator: ", ") + ")" }
        return s
    }

    static func text(_ reason: DropReason) -> String {
        switch reason {
        case .imageBeyondLimit: return "image beyond the row length"
        case .nothingSupervised: return "no label left after truncation"
        case .tooLong: return "too long"
        case .partnerDropped: return "pair member dropped"
        }
    }
}
extension DropReason: CodingKeyRepresentable {}
