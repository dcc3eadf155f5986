import Foundation
import Training
import XCTest

/// A run owns its checkpoint folder: one run at a time, no mixing with an
/// earlier run's checkpoints, nothing left behind by killed writes.
final class RunFolderTests: XCTestCase {
    func touch(_ dir: URL, _ name: String, _ text: String = "x") throws {
        try text.write(to: dir.appendingPathComponent(name), atomically: false, encoding: .utf8)
    }

    func testSecondRunOnTheFolderIsRefusedWithTheHoldersPid() throws {
        let dir = E2E.scratch("folder-lock")
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try RunFolder(CheckpointDirectory(path: dir.path, keep: 2))
        XCTAssertThrowsError(try RunFolder(CheckpointDirectory(path: dir.path, keep: 2))) { e in
            XCTAssertTrue("\(e)".contains("pid \(getpid())"), "\(e)")
        }
        first.release()
        XCTAssertNoThrow(try RunFolder(CheckpointDirectory(path: dir.path, keep: 2)))
    }

    func testOrphanedTemporaryFilesAreRemoved() throws {
        let dir = E2E.scratch("folder-orphans")
        defer { try? FileManager.default.removeItem(at: dir) }
        try touch(dir, "step-000004.h5.tmp-12345")
        try touch(dir, "step-000002.h5")
        _ = try RunFolder(CheckpointDirectory(path: dir.path, keep: 2))
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertFalse(names.contains("step-000004.h5.tmp-12345"))
        XCTAssertTrue(names.contains("step-000002.h5"))
    }

    func testFreshRunInAUsedFolderNeedsOverwrite() throws {
        let dir = E2E.scratch("folder-fresh")
        defer { try? FileManager.default.removeItem(at: dir) }
        try touch(dir, "step-000010.h5"); try touch(dir, "metrics.jsonl", "{\"step\":1}\n")
        let folder = try RunFolder(CheckpointDirectory(path: dir.path, keep: 2))
        XCTAssertThrowsError(try folder.prepare(resumedStep: nil, overwrite: false)) { e in
            XCTAssertTrue("\(e)".contains("step-000010.h5") && "\(e)".contains("--overwrite"), "\(e)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("step-000010.h5").path))
        let removed = try folder.prepare(resumedStep: nil, overwrite: true)
        XCTAssertEqual(Set(removed), ["step-000010.h5", "metrics.jsonl"])
        XCTAssertEqual(folder.directory.existing().count, 0)
    }

    func testResumingBeforeNewerCheckpointsNeedsOverwriteAndTrimsTheMetrics() throws {
        let dir = E2E.scratch("folder-resume")
        defer { try? FileManager.default.removeItem(at: dir) }
        for s in [2, 4, 6] { try touch(dir, String(format: "step-%06d.h5", s)) }
        try touch(dir, "metrics.jsonl", (1...6).map { "{\"loss\":1,\"step\":\($0)}\n" }.joined())
        let folder = try RunFolder(CheckpointDirectory(path: dir.path, keep: 5))
        XCTAssertNoThrow(try folder.prepare(resumedStep: 6, overwrite: false))
        XCTAssertThrowsError(try folder.prepare(resumedStep: 4, overwrite: false)) { e in
            XCTAssertTrue("\(e)".contains("after step 4") && "\(e)".contains("step-000006.h5"), "\(e)")
        }
        XCTAssertEqual(try folder.prepare(resumedStep: 4, overwrite: true), ["step-000006.h5"])
        XCTAssertEqual(folder.directory.existing().map(\.step), [2, 4])
        XCTAssertEqual(MetricsLog.read(folder.metricsPath).compactMap { $0["step"] as? Int }, [1, 2, 3, 4])
        let latest = try FileManager.default.destinationOfSymbolicLink(atPath: folder.directory.latestLink)
        XCTAssertEqual(latest, "step-000004.h5")
    }

    func testPruningKeepsTheNewCheckpointAndLatestPointsAtIt() throws {
        let dir = E2E.scratch("folder-prune")
        defer { try? FileManager.default.removeItem(at: dir) }
        let d = CheckpointDirectory(path: dir.path, keep: 2)
        for s in [1, 2, 3] { try d.write(step: s) { try $0.write("x", floats: [Float(s)], shape: [1]) } }
        XCTAssertEqual(d.existing().map(\.step), [2, 3])
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: d.latestLink), "step-000003.h5")
    }

    func testTrainingRunRefusesAFolderWithAnEarlierRun() throws {
        let dir = E2E.scratch("folder-run")
        defer { try? FileManager.default.removeItem(at: dir) }
        let recipe = try E2E.recipe(E2E.captionRecipe(name: "owned", dir: dir, steps: 4), in: dir)
        _ = try TrainingRun(recipe: recipe, options: E2E.quiet(RunOptions())).run()
        XCTAssertThrowsError(try TrainingRun(recipe: recipe, options: E2E.quiet(RunOptions())).run()) { e in
            XCTAssertTrue("\(e)".contains("earlier run"), "\(e)")
        }
        var again = E2E.quiet(RunOptions())
        again.overwrite = true
        XCTAssertEqual(try TrainingRun(recipe: recipe, options: again).run().steps, 4)
    }

    func testBranchedDecayWritesToItsOwnFolder() throws {
        let dir = E2E.scratch("folder-branch")
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = E2E.captionRecipe(name: "branch", dir: dir, steps: 8)
        let recipe = try E2E.recipe(text, in: dir, overrides: ["checkpoint.every=2"])
        _ = try TrainingRun(recipe: recipe, options: E2E.quiet(RunOptions())).run()
        let main = CheckpointDirectory(path: dir.appendingPathComponent("ckpt").path, keep: 5)
        let before = main.existing().map(\.step)
        XCTAssertEqual(before.last, 8)
        let from = main.file(forStep: 2)
        _ = try TrainingRun(recipe: recipe, options: E2E.quiet(RunOptions(resume: from, branchDecaySteps: 2))).run()
        XCTAssertEqual(main.existing().map(\.step), before)       // the main run is untouched
        let branch = CheckpointDirectory(path: main.path + "/decay-2-from-step-000002", keep: 5)
        XCTAssertEqual(branch.existing().last?.step, 4)
    }
}
