import XCTest
import Autograd
import Core
import Datasets

final class PackingTests: XCTestCase {
    private func items(_ lengths: [Int]) -> [PackItem] {
        lengths.enumerated().map { PackItem(index: $0, length: $1, group: $0) }
    }

    /// Worked by hand: sorted 7,6,5,4,3,2,1 into rows of 10. 7→r0 (room 3); 6→r1 (4); 5→r2 (5);
    /// 4→r1 (the tightest that fits: room 4); 3→r0 (room 3); 2→r2 (5 left); 1→r2.
    func testBestFitDecreasingOnKnownLengths() {
        let plan = PackPlan.bestFitDecreasing(items([3, 7, 5, 4, 2, 6, 1]), maxLength: 10)
        XCTAssertEqual(plan.rows.map { $0.map(\.index) }, [[1, 0], [5, 3], [2, 4, 6]])
        // Equal lengths keep their order; a full row is never reopened.
        let ties = PackPlan.bestFitDecreasing(items([4, 4, 4]), maxLength: 8)
        XCTAssertEqual(ties.rows.map { $0.map(\.index) }, [[0, 1], [2]])
        // Equal rooms: the earliest row wins.
        let rooms = PackPlan.bestFitDecreasing(items([6, 6, 4, 4]), maxLength: 10)
        XCTAssertEqual(rooms.rows.map { $0.map(\.index) }, [[0, 2], [1, 3]])
        // Best fit, not first fit: 12→r0 (room 8), 9→r1 (11), 9→r1 (2); the 2 then goes to r1
        // (the tightest room), where first fit would have put it into r0.
        let best = PackPlan.bestFitDecreasing(items([12, 9, 9, 2]), maxLength: 20)
        XCTAssertEqual(best.rows.map { $0.map(\.index) }, [[0], [1, 2, 3]])
    }

    func testStatisticsOfKnownPacking() {
        let lengths = [3, 7, 5, 4, 2, 6, 1]
        let infos = lengths.map { SampleInfo(length: $0, imageEnd: 0, firstSupervised: 0) }
        let (plan, stats) = PackPlan.make(groups: lengths.indices.map { [$0] }, info: { infos[$0] },
                                          maxLength: 10, policy: .truncate)
        XCTAssertEqual(plan.rows.count, 3)
        XCTAssertEqual(stats.samples, 7)
        XCTAssertEqual(stats.rows, 3)
        XCTAssertEqual(stats.tokens, 28)
        XCTAssertEqual(stats.fillRatio, 28.0 / 30.0, accuracy: 1e-12)
        XCTAssertEqual(stats.samplesPerRow, 7.0 / 3.0, accuracy: 1e-12)
        XCTAssertTrue(stats.description.contains("7 samples in 3 rows of 10 tokens, fill 93.3 %, 2.33 samples/row"), stats.description)
        XCTAssertTrue(stats.description.contains("0 truncated"), stats.description)
        let unpacked = PackPlan.make(groups: lengths.indices.map { [$0] }, info: { infos[$0] },
                                     maxLength: 10, policy: .truncate, packing: false)
        XCTAssertEqual(unpacked.plan.rows.map { $0.map(\.index) }, lengths.indices.map { [$0] })
    }

    func testFitDecisions() {
        XCTAssertEqual(SampleFit.decide(SampleInfo(length: 24, imageEnd: 20, firstSupervised: 1), maxLength: 24, policy: .drop), .whole)
        XCTAssertEqual(SampleFit.decide(SampleInfo(length: 30, imageEnd: 20, firstSupervised: 22), maxLength: 24, policy: .truncate), .truncated(to: 24))
        XCTAssertEqual(SampleFit.decide(SampleInfo(length: 30, imageEnd: 24, firstSupervised: 22), maxLength: 24, policy: .truncate), .truncated(to: 24))
        XCTAssertEqual(SampleFit.decide(SampleInfo(length: 30, imageEnd: 25, firstSupervised: 1), maxLength: 24, policy: .truncate), .dropped(.imageBeyondLimit))
        XCTAssertEqual(SampleFit.decide(SampleInfo(length: 30, imageEnd: 10, firstSupervised: 23), maxLength: 24, policy: .truncate), .dropped(.nothingSupervised))
        XCTAssertEqual(SampleFit.decide(SampleInfo(length: 30, imageEnd: 0, firstSupervised: -1), maxLength: 24, policy: .truncate), .dropped(.nothingSupervised))
        XCTAssertEqual(SampleFit.decide(SampleInfo(length: 30, imageEnd: 0, firstSupervised: 0), maxLength: 24, policy: .drop), .dropped(.tooLong))
    }

    private func sizes(_ s: [(Int, Int)]) -> [TgtSize] { s.map { TgtSize(h: $0.0, w: $0.1) } }

    func testPackedBatchKeepsSamplesApart() throws {
        let samples = [
            SampleFactory.sample("s0", slices: sizes([(2, 1), (1, 3)]), seed: 1),   // 17 tokens
            SampleFactory.sample("s1", seed: 2),                                     // 7
            SampleFactory.sample("s2", slices: sizes([(1, 1)]), seed: 3),           // 12
            SampleFactory.sample("s3", slices: sizes([(2, 2), (1, 2), (1, 1)]), seed: 4),  // 22
        ]
        XCTAssertEqual(samples.map(\.length), [17, 7, 12, 22])
        for s in samples { XCTAssertNoThrow(try s.validate(queryCount: 3, patchSize: 14)) }
        let (plan, _) = PackPlan.make(groups: [[0], [1], [2], [3]], info: { samples[$0].info }, maxLength: 24, policy: .truncate)
        XCTAssertEqual(plan.rows.map { $0.map(\.index) }, [[3], [0, 1], [2]])
        let batch = try PackedBatch.assemble(plan, padId: 0) { samples[$0] }
        XCTAssertEqual(batch.rows, 3)
        XCTAssertEqual(batch.length, 24)
        XCTAssertEqual(batch.rowSampleIds, [["s3"], ["s0", "s1"], ["s2"]])
        checkInvariants(batch, samples, queryCount: 3)
    }

    /// Every property packing promises, checked position by position.
    private func checkInvariants(_ b: PackedBatch, _ samples: [TrainingSample], queryCount q: Int,
                                 file: StaticString = #filePath, line: UInt = #line) {
        let t = b.length
        var covered = Array(repeating: false, count: b.rows * t)
        var expectedSlices: [ImageSlice] = []
        for (k, seg) in b.segments.enumerated() {
            let s = seg.truncated ? samples[seg.sourceIndex].truncated(to: seg.length) : samples[seg.sourceIndex]
            XCTAssertEqual(seg.length, s.length, file: file, line: line)
            let base = seg.row * t + seg.start
            for i in 0..<s.length {
                covered[base + i] = true
                XCTAssertEqual(b.positionIds[base + i], Int32(i), "position ids restart per sample", file: file, line: line)
                XCTAssertEqual(b.segmentIds[base + i], Int32(k), file: file, line: line)
                XCTAssertEqual(b.inputIds[base + i], s.inputIds[i], file: file, line: line)
                XCTAssertEqual(b.labels[base + i], s.labels[i], file: file, line: line)
            }
            XCTAssertEqual(b.labels[base + s.length - 1], ignoreIndex, "a sample's last position has no label", file: file, line: line)
            expectedSlices += s.slices
        }
        for i in covered.indices where !covered[i] {
            XCTAssertEqual(b.segmentIds[i], -1, file: file, line: line)
            XCTAssertEqual(b.labels[i], ignoreIndex, file: file, line: line)
            XCTAssertEqual(b.inputIds[i], 0, file: file, line: line)
        }
        // No label predicts across a boundary: the target is the next token of the same sample.
        for i in b.labels.indices where b.labels[i] != ignoreIndex {
            XCTAssertTrue(i % t < t - 1 && b.segmentIds[i + 1] == b.segmentIds[i], "label at \(i) crosses a boundary", file: file, line: line)
            XCTAssertEqual(b.labels[i], b.inputIds[i + 1], file: file, line: line)
        }
        // Image spans: whole, inside one sample, between their tags, in slice order.
        XCTAssertEqual(b.imageBounds.count, expectedSlices.count, file: file, line: line)
        XCTAssertEqual(b.imageBounds.map(\.lowerBound), b.imageBounds.map(\.lowerBound).sorted(), file: file, line: line)
        for bound in b.imageBounds {
            XCTAssertEqual(bound.count, q, file: file, line: line)
            XCTAssertEqual(b.inputIds[bound.lowerBound - 1], SampleFactory.imageOpen, file: file, line: line)
            XCTAssertEqual(b.inputIds[bound.upperBound], SampleFactory.imageClose, file: file, line: line)
            XCTAssertTrue(b.inputIds[bound].allSatisfy { $0 == SampleFactory.unk }, file: file, line: line)
            XCTAssertEqual(Set(b.segmentIds[(bound.lowerBound - 1)...bound.upperBound]).count, 1, file: file, line: line)
        }
        XCTAssertEqual(b.tgtSizes, expectedSlices.map(\.tgtSize), file: file, line: line)
        XCTAssertEqual(b.maxPatches, expectedSlices.map(\.tgtSize.patchCount).max() ?? 0, file: file, line: line)
        XCTAssertEqual(b.pixelValues.count, expectedSlices.count * 3 * 14 * b.maxPatches * 14, file: file, line: line)
        for (n, slice) in expectedSlices.enumerated() { XCTAssertEqual(b.strip(n), slice.pixels, file: file, line: line) }
        // Padding columns are zero: the total mass equals the strips' mass.
        let total = b.pixelValues.reduce(0) { $0 + Double(abs($1)) }
        let strips = expectedSlices.reduce(0) { $0 + $1.pixels.reduce(0) { $0 + Double(abs($1)) } }
        XCTAssertEqual(total, strips, accuracy: 1e-6 * max(strips, 1), file: file, line: line)
    }

    func testOverlongSamplesAreTruncatedAfterTheirLastImageOrDropped() throws {
        let long = SampleFactory.sample("long", slices: sizes([(1, 1)]), question: 2, answer: 20, seed: 5)   // 29 tokens
        let wide = SampleFactory.sample("wide", prefix: 10, slices: sizes([(1, 1), (1, 1), (1, 1)]), seed: 6) // image end 25
        let short = SampleFactory.sample("short", seed: 7)
        let samples = [long, wide, short]
        XCTAssertEqual(long.length, 29)
        XCTAssertEqual(wide.info.imageEnd, 25)
        let (plan, stats) = PackPlan.make(groups: [[0], [1], [2]], info: { samples[$0].info }, maxLength: 16, policy: .truncate)
        XCTAssertEqual(stats.truncated, 1)
        XCTAssertEqual(stats.truncatedTokens, 13)
        XCTAssertEqual(stats.dropped, [.imageBeyondLimit: 1])
        XCTAssertEqual(stats.samples, 2)
        XCTAssertTrue(stats.description.contains("1 truncated after their last image (13 tokens cut); 1 dropped (1 image beyond the row length)"), stats.description)
        let batch = try PackedBatch.assemble(plan, padId: 0) { samples[$0] }
        XCTAssertEqual(batch.rowSampleIds, [["long"], ["short"]])
        let seg = batch.segments[0]
        XCTAssertTrue(seg.truncated)
        XCTAssertEqual(seg.length, 16)
        XCTAssertEqual(Array(batch.inputIds[0..<16]), Array(long.inputIds[0..<16]))
        XCTAssertEqual(Array(batch.labels[0..<15]), Array(long.labels[0..<15]))
        XCTAssertEqual(batch.labels[15], ignoreIndex, "the cut position's target is gone")
        XCTAssertEqual(batch.imageBounds, long.imageBounds)
        checkInvariants(batch, samples, queryCount: 3)

        let (dropPlan, dropStats) = PackPlan.make(groups: [[0], [1], [2]], info: { samples[$0].info }, maxLength: 16, policy: .drop)
        XCTAssertEqual(dropPlan.rows.flatMap { $0.map(\.index) }, [2])
        XCTAssertEqual(dropStats.dropped, [.tooLong: 2])
    }

    func testPreferencePairsAreDroppedTogether() throws {
        let samples = [SampleFactory.sample("a/chosen", seed: 1),
                       SampleFactory.sample("a/rejected", prefix: 10, slices: sizes([(1, 1), (1, 1), (1, 1)]), seed: 2),
                       SampleFactory.sample("b/chosen", seed: 3), SampleFactory.sample("b/rejected", seed: 4)]
        let (plan, stats) = PackPlan.make(groups: [[0, 1], [2, 3]], info: { samples[$0].info }, maxLength: 16, policy: .truncate)
        XCTAssertEqual(Set(plan.rows.flatMap { $0.map(\.index) }), [2, 3])
        XCTAssertEqual(stats.dropped, [.imageBeyondLimit: 1, .partnerDropped: 1])
        let batch = try PackedBatch.assemble(plan, padId: 0) { samples[$0] }
        XCTAssertEqual(batch.groups.map { $0.map { batch.segments[$0].id } }, [["b/chosen", "b/rejected"]])
    }

    func testUnpackedBatchesAreTheSamplesAlone() throws {
        let samples = [
            SampleFactory.sample("s0", slices: sizes([(2, 1), (1, 3)]), seed: 1),
            SampleFactory.sample("s1", seed: 2),
            SampleFactory.sample("s2", slices: sizes([(1, 1)]), question: 2, answer: 20, seed: 3),
        ]
        let (plan, _) = PackPlan.make(groups: [[0], [1], [2]], info: { samples[$0].info }, maxLength: 26, policy: .truncate)
        let packed = try PackedBatch.assemble(plan, padId: 7, padToMaxLength: true) { samples[$0] }
        XCTAssertEqual(packed.length, 26)
        let singles = packed.unpacked()
        XCTAssertEqual(singles.map { $0.segments[0].id }, packed.segments.map(\.id))
        XCTAssertEqual(packed.supervisedCount, singles.reduce(0) { $0 + $1.supervisedCount })
        for one in singles {
            let s = samples.first { $0.id == one.segments[0].id }!
            let expected = one.segments[0].truncated ? s.truncated(to: one.length) : s
            XCTAssertEqual(one.rows, 1)
            XCTAssertEqual(one.inputIds, expected.inputIds)
            XCTAssertEqual(one.labels, expected.labels)
            XCTAssertEqual(one.positionIds, (0..<expected.length).map(Int32.init))
            XCTAssertEqual(one.segmentIds, Array(repeating: 0, count: expected.length))
            XCTAssertEqual(one.imageBounds, expected.imageBounds)
            XCTAssertEqual(one.tgtSizes, expected.slices.map(\.tgtSize))
            for n in 0..<one.sliceCount { XCTAssertEqual(one.strip(n), expected.slices[n].pixels) }
        }
    }

    func testValidationRejectsBadBounds() {
        var s = SampleFactory.sample("bad", slices: sizes([(1, 1)]))
        XCTAssertNoThrow(try s.validate(queryCount: 3, patchSize: 14))
        XCTAssertThrowsError(try s.validate(queryCount: 4, patchSize: 14)) { error in
            XCTAssertTrue("\(error)".contains("sample bad: image span 0"), "\(error)")
        }
        s.slices.append(s.slices[0])
        XCTAssertThrowsError(try s.validate(queryCount: 3, patchSize: 14)) { error in
            XCTAssertEqual("\(error)", "sample bad: 1 image spans in the text but 2 image slices")
        }
        var t = SampleFactory.sample("lab")
        t.labels[t.length - 1] = 5
        XCTAssertThrowsError(try t.validate(queryCount: 3, patchSize: 14))
    }
}
