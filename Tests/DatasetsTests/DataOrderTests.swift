import XCTest
import Datasets

final class DataOrderTests: XCTestCase {
    func testSameSeedSameOrderAndEpochsDiffer() {
        let order = DataOrder(seed: 42, count: 50)
        let e0 = order.permutation(epoch: 0)
        XCTAssertEqual(e0, DataOrder(seed: 42, count: 50).permutation(epoch: 0))
        XCTAssertEqual(e0.sorted(), Array(0..<50), "a permutation")
        XCTAssertNotEqual(e0, Array(0..<50))
        XCTAssertNotEqual(e0, order.permutation(epoch: 1))
        XCTAssertNotEqual(e0, DataOrder(seed: 43, count: 50).permutation(epoch: 0))
        XCTAssertEqual(DataOrder(seed: 42, count: 50, shuffle: false).permutation(epoch: 3), Array(0..<50))
    }

    /// Samples of varied length, some with images, one that can only be dropped.
    private func source(_ n: Int = 40) -> InMemorySamples {
        InMemorySamples((0..<n).map { i in
            SampleFactory.sample("s\(i)", prefix: i == 7 ? 30 : 1 + i % 5,
                                 slices: i % 3 == 0 ? [TgtSize(h: 1, w: 1 + i % 2)] : [],
                                 question: i % 4, answer: 2 + i % 6, seed: UInt64(i))
        })
    }

    private func config(_ shape: BatchShape = .rows(3)) -> DataLoaderConfig {
        DataLoaderConfig(maxLength: 24, batch: shape, seed: 9, packWindow: 10, padId: 0)
    }

    private func fingerprint(_ b: PackedBatch) -> [String] {
        b.segments.map { "\($0.id)@\($0.row):\($0.start)+\($0.length)" }
            + [b.inputIds.description, b.labels.description, b.positionIds.description, b.pixelValues.count.description]
    }

    func testSavedStateResumesExactlyMidEpoch() throws {
        let data = source()
        let reference = try DataLoader(source: data, config: config())
        let stream = try (0..<25).map { _ in fingerprint(try reference.next()) }

        let first = try DataLoader(source: data, config: config())
        for _ in 0..<4 { _ = try first.next() }
        XCTAssertEqual(first.cursor.epoch, 0)
        XCTAssertGreaterThan(first.cursor.position, 0, "mid-epoch")
        XCTAssertFalse(first.state.pending.isEmpty, "planned rows are waiting: the test covers them")
        let saved = try JSONEncoder().encode(first.state)

        let resumed = try DataLoader(source: data, config: config())
        try resumed.restore(try JSONDecoder().decode(DataLoaderState.self, from: saved))
        let rest = try (4..<25).map { _ in fingerprint(try resumed.next()) }
        XCTAssertEqual(rest, Array(stream[4...]), "the resumed stream equals the uninterrupted one, across epochs")
        XCTAssertGreaterThan(resumed.epoch, 0)
    }

    func testAnEpochVisitsEverySampleOnce() throws {
        let data = source()
        let loader = try DataLoader(source: data, config: config())
        let (batches, stats) = loader.epochPlan(epoch: 0)
        var ids: [String] = []
        for _ in 0..<batches { ids += try loader.next().segments.map(\.id) }
        XCTAssertEqual(loader.cursor.epoch, 0)
        XCTAssertEqual(ids.count, 39)
        XCTAssertEqual(Set(ids), Set((0..<40).filter { $0 != 7 }.map { "s\($0)" }), "s7 is too long to keep")
        XCTAssertEqual(stats.samples, 39)
        XCTAssertEqual(stats.droppedCount + stats.truncated, 1)
        // The next epoch visits the same samples in another order.
        var ids1: [String] = []
        for _ in 0..<loader.epochPlan(epoch: 1).batches { ids1 += try loader.next().segments.map(\.id) }
        XCTAssertEqual(loader.cursor.epoch, 1)
        XCTAssertEqual(ids1.sorted(), ids.sorted())
        XCTAssertNotEqual(ids1, ids)
    }

    /// Best-fit decreasing fills a window's rows longest first; served in that order, the
    /// batches of a window would run from long samples to short ones.
    func testRowsOfAWindowAreServedShuffled() throws {
        let data = InMemorySamples((0..<60).map { i in
            SampleFactory.sample("s\(i)", prefix: 1, question: 1, answer: 2 + (i * 7) % 30, seed: UInt64(i))
        })
        let cfg = DataLoaderConfig(maxLength: 40, batch: .rows(1), seed: 3, packWindow: 60, padId: 0)
        let loader = try DataLoader(source: data, config: cfg)
        let batches = loader.epochPlan().batches
        // The longest sample of each row, in the order the rows are served.
        let longest = try (0..<batches).map { _ in try loader.next().segments.map(\.length).max()! }
        XCTAssertGreaterThan(batches, 10)
        XCTAssertNotEqual(longest, longest.sorted(by: >), "rows come in shuffled order, not longest first")
        let rising = zip(longest, longest.dropFirst()).filter { $0 < $1 }.count
        XCTAssertGreaterThan(rising, batches / 4, "the order is mixed, not nearly sorted: \(longest)")

        let unshuffled = DataLoaderConfig(maxLength: 40, batch: .rows(1), seed: 3, shuffle: false, packWindow: 60, padId: 0)
        let plain = try DataLoader(source: data, config: unshuffled)
        let plainLongest = try (0..<batches).map { _ in try plain.next().segments.map(\.length).max()! }
        XCTAssertEqual(plainLongest, plainLongest.sorted(by: >), "without shuffling, rows keep the packing order")
    }

    func testPreferencePairsStayInOneBatch() throws {
        let pairs = (0..<6).map { i in
            PreferenceSample(id: "p\(i)", chosen: SampleFactory.sample("p\(i)/chosen", answer: 2 + i, seed: UInt64(i)),
                             rejected: SampleFactory.sample("p\(i)/rejected", answer: 3, seed: UInt64(100 + i)))
        }
        let data = InMemorySamples(pairs: pairs)
        XCTAssertThrowsError(try DataLoader(source: data, config: config(.rows(2))))
        let loader = try DataLoader(source: data, config: config(.groups(2)))
        var seen: [String] = []
        for _ in 0..<3 {
            let b = try loader.next()
            XCTAssertEqual(b.groups.count, 2)
            for g in b.groups {
                let ids = g.map { b.segments[$0].id }
                XCTAssertEqual(ids.count, 2)
                XCTAssertTrue(ids[0].hasSuffix("/chosen") && ids[1].hasSuffix("/rejected"), "\(ids)")
                XCTAssertEqual(ids[0].split(separator: "/")[0], ids[1].split(separator: "/")[0])
                seen.append(String(ids[0].split(separator: "/")[0]))
            }
        }
        XCTAssertEqual(seen.sorted(), (0..<6).map { "p\($0)" })
    }

    func testRestoreRejectsAnotherDataSet() throws {
        let loader = try DataLoader(source: source(40), config: config())
        _ = try loader.next()
        let other = try DataLoader(source: source(41), config: config())
        XCTAssertThrowsError(try other.restore(loader.state)) { error in
            XCTAssertEqual("\(error)", "cannot restore the data position: the data set had 40 samples, it now has 41")
        }
        let longer = InMemorySamples((0..<40).map { SampleFactory.sample("s\($0)", prefix: 2 + $0 % 5, seed: UInt64($0)) })
        XCTAssertThrowsError(try DataLoader(source: longer, config: config()).restore(loader.state)) { error in
            XCTAssertEqual("\(error)", "cannot restore the data position: the samples changed since the position was saved (their lengths differ)")
        }
        XCTAssertThrowsError(try DataLoader(source: source(), config: DataLoaderConfig(maxLength: 0, batch: .rows(1), seed: 1))) { error in
            XCTAssertEqual("\(error)", "invalid data settings: max length must be positive, not 0")
        }
    }
}
