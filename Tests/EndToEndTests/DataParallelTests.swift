import Datasets
import Foundation
import TestSupport
import Training
import XCTest

/// `mpirun -np 2 trainer run` trains the model that one process trains on the
/// same global batch, its checkpoints resume at any number of ranks, and an
/// error on one rank ends every rank. These tests run the built `trainer`
/// binary under Open MPI's `mpirun` (installed by `make deps`); without it they
/// fail, naming what to install.
final class DataParallelTests: XCTestCase {
    static let steps = 4

    func testTwoRanksTrainAsOneProcessAndTheirCheckpointResumesAnywhere() throws {
        let dir = E2E.scratch("data-parallel")
        // One process, the reference: 4 steps, a checkpoint every 2.
        let one = try Recipe.load(try Self.writeRecipe(dir, "one"), overrides: [])
        _ = try TrainingRun(recipe: one, options: E2E.quiet(RunOptions())).run()
        // Two ranks share every step's rows (2 micro-batches × 2 rows); small
        // buckets, so that the sums start one by one during backward.
        let two = try Self.writeRecipe(dir, "two")
        let result = try Self.mpirun(ranks: 2, ["run", two, "--check-weights", "1", "--threads", "1"],
                                     environment: ["TRAINER_ALLREDUCE_BUCKET_FLOATS=4096"])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("data parallel: 2 ranks"), result.output)
        XCTAssertEqual(result.output.components(separatedBy: "done: ").count, 2, "rank 0 alone reports: \(result.output)")

        let lossesOne = try Self.losses(dir, "one"), lossesTwo = try Self.losses(dir, "two")
        XCTAssertEqual(lossesOne.count, Self.steps)
        XCTAssertEqual(lossesTwo.count, Self.steps, "metrics.jsonl is written once, by rank 0")
        for (a, b) in zip(lossesOne, lossesTwo) { XCTAssertEqual(a, b, accuracy: 1e-5 * abs(a)) }
        try Self.assertClose(Self.checkpoint(dir, "one", step: 4), Self.checkpoint(dir, "two", step: 4))
        let weights = try E2E.tensors(Self.checkpoint(dir, "one", step: 4), group: "model")
        let first = try E2E.tensors(Self.checkpoint(dir, "one", step: 2), group: "model")
        XCTAssertNotEqual(weights.first!.value, first[weights.first!.key], "the weights changed (the comparison is not vacuous)")
        // Most buckets started while backward still ran (the last waits for the first layers' gradients).
        for step in try Self.metrics(dir, "two") {
            let early = step["allreduce_early_buckets"] as? Double ?? 0, all = step["allreduce_buckets"] as? Double ?? 0
            XCTAssertGreaterThan(all, 2, "small buckets: \(step)")
            XCTAssertGreaterThanOrEqual(early, all / 2, "buckets started during backward: \(step)")
        }

        // The 2-rank checkpoint of step 2 resumes in one process and continues as the reference did.
        let resumedOnOne = try Self.copyCheckpoint(from: dir, "two", to: "two-then-one")
        let recipeOnOne = try Recipe.load(try Self.writeRecipe(dir, "two-then-one"), overrides: [])
        _ = try TrainingRun(recipe: recipeOnOne, options: E2E.quiet(RunOptions(resume: resumedOnOne))).run()
        try Self.assertClose(Self.checkpoint(dir, "one", step: 4), Self.checkpoint(dir, "two-then-one", step: 4))
        for (a, b) in zip(lossesOne.suffix(2), try Self.losses(dir, "two-then-one").suffix(2)) {
            XCTAssertEqual(a, b, accuracy: 1e-5 * abs(a))
        }

        // And the one-process checkpoint of step 2 resumes at two ranks.
        let resumedOnTwo = try Self.copyCheckpoint(from: dir, "one", to: "one-then-two")
        let recipeOnTwo = try Self.writeRecipe(dir, "one-then-two")
        let resumed = try Self.mpirun(ranks: 2, ["run", recipeOnTwo, "--resume", resumedOnTwo, "--threads", "1"])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        try Self.assertClose(Self.checkpoint(dir, "one", step: 4), Self.checkpoint(dir, "one-then-two", step: 4))
    }

    func testAnErrorOnOneRankEndsEveryRankAndIsPrintedOnce() throws {
        let dir = E2E.scratch("data-parallel-error")
        let recipe = try Self.writeRecipe(dir, "run")
        let missing = dir.appendingPathComponent("missing.h5").path
        // Rank 0 starts afresh and waits for rank 1, whose checkpoint to resume from is missing.
        let trainer = try Self.trainerBinary()
        let result = try Self.run(try Self.mpirunPath(), Self.mpirunFlags + [
            "-np", "1", trainer, "run", recipe, "--threads", "1", ":",
            "-np", "1", trainer, "run", recipe, "--threads", "1", "--resume", missing])
        XCTAssertNotEqual(result.status, 0, result.output)
        XCTAssertEqual(result.output.components(separatedBy: "missing.h5: checkpoint not found").count, 2, result.output)
        XCTAssertTrue(result.output.contains("error (rank 1 of 2)"), result.output)
        let written = (try? FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("run/ckpt").path)) ?? []
        XCTAssertFalse(written.contains { $0.hasPrefix("step-") }, "no step was taken")
    }

    func testRanksWithDifferentRecipesAreRefused() throws {
        let dir = E2E.scratch("data-parallel-recipes")
        let recipe = try Self.writeRecipe(dir, "run")
        let trainer = try Self.trainerBinary()
        let result = try Self.run(try Self.mpirunPath(), Self.mpirunFlags + [
            "-np", "1", trainer, "run", recipe, "--threads", "1", ":",
            "-np", "1", trainer, "run", recipe, "--threads", "1", "--set", "optimizer.lr=1e-3"])
        XCTAssertNotEqual(result.status, 0, result.output)
        XCTAssertEqual(result.output.components(separatedBy: "rank(s) 1 run a recipe that differs").count, 2, result.output)
    }

    func testWeightsThatDifferAcrossRanksAreAnError() throws {
        XCTAssertNoThrow(try DataParallel.checkWeightsAgree(fingerprints: [7, 7, 7], step: 3))
        XCTAssertThrowsError(try DataParallel.checkWeightsAgree(fingerprints: [7, 7, 9], step: 3)) { error in
            XCTAssertTrue("\(error)".contains("after step 3 the weights of rank(s) 2 differ"), "\(error)")
        }
    }

    func testEachRankTakesAContiguousShareOfTheStepsRows() {
        let row = { (i: Int) in [PackItem(index: i, length: 10, group: i)] }
        let plans = [PackPlan(maxLength: 64, rows: [row(0), row(1)]), PackPlan(maxLength: 64, rows: [row(2)])]
        let shares = (0..<2).map { DataParallel.share(of: plans, rank: $0, size: 2) }
        XCTAssertEqual(shares[0].map { $0.rows.map { $0[0].index } }, [[0]])
        XCTAssertEqual(shares[1].map { $0.rows.map { $0[0].index } }, [[1], [2]])
        // More ranks than rows: some ranks take none; every row goes to exactly one rank.
        let four = (0..<4).map { DataParallel.share(of: plans, rank: $0, size: 4) }
        XCTAssertEqual(four.flatMap { $0.flatMap { $0.rows.map { $0[0].index } } }, [0, 1, 2])
        XCTAssertTrue(four[0].isEmpty)
    }

    // MARK: - Helpers

    /// The test recipe: the micro model's caption recipe, a checkpoint every 2 steps, one thread.
    static func recipe(_ dir: URL, _ name: String) -> String {
        let folder = dir.appendingPathComponent(name)
        return E2E.captionRecipe(name: name, dir: folder, steps: steps)
            .replacingOccurrences(of: "every: 0", with: "every: 2")
            .replacingOccurrences(of: "threads: 2", with: "threads: 1")
            .replacingOccurrences(of: "\(folder.path)/cache", with: "\(dir.path)/cache")
    }

    static func writeRecipe(_ dir: URL, _ name: String) throws -> String {
        let folder = dir.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("recipe.yaml").path
        try recipe(dir, name).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func checkpoint(_ dir: URL, _ name: String, step: Int) -> String {
        dir.appendingPathComponent(name).appendingPathComponent(String(format: "ckpt/step-%06d.h5", step)).path
    }

    /// Copies run `from`'s step-2 checkpoint into run `to`'s empty folder; returns its new path.
    static func copyCheckpoint(from dir: URL, _ from: String, to: String) throws -> String {
        let target = checkpoint(dir, to, step: 2)
        try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: checkpoint(dir, from, step: 2), toPath: target)
        return target
    }

    static func losses(_ dir: URL, _ name: String) throws -> [Double] {
        try metrics(dir, name).compactMap { $0["loss"] as? Double }
    }

    /// The step lines of a run's metrics.jsonl.
    static func metrics(_ dir: URL, _ name: String) throws -> [[String: Any]] {
        let text = try String(contentsOf: dir.appendingPathComponent(name).appendingPathComponent("ckpt/metrics.jsonl"), encoding: .utf8)
        return text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]).flatMap { $0["loss"] is Double ? $0 : nil }
        }
    }

    /// Weights and optimizer moments agree within 1e-5 of each tensor's largest value.
    static func assertClose(_ a: String, _ b: String, file: StaticString = #filePath, line: UInt = #line) throws {
        for group in ["model", "optimizer"] {
            let ta = try E2E.tensors(a, group: group), tb = try E2E.tensors(b, group: group)
            XCTAssertFalse(ta.isEmpty, file: file, line: line)
            XCTAssertEqual(Set(ta.keys), Set(tb.keys), group, file: file, line: line)
            for (k, x) in ta {
                guard let y = tb[k], x.count == y.count else { XCTFail("\(k) differs in shape", file: file, line: line); continue }
                let scale = max(x.map { abs($0) }.max() ?? 0, 1e-30)
                let worst = zip(x, y).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThanOrEqual(worst / scale, 1e-5, "\(k) differs", file: file, line: line)
            }
        }
    }

    // MARK: - Processes

    /// Open MPI refuses root without `--allow-run-as-root`; this machine may have fewer
    /// cores than ranks (`--oversubscribe`); the ranks' threads must not be pinned
    /// to one core each (`--bind-to none`).
    static let mpirunFlags = ["--oversubscribe", "--allow-run-as-root", "--bind-to", "none"]

    /// `environment`: `NAME=value` settings passed to every rank (`-x`).
    static func mpirun(ranks: Int, _ arguments: [String], environment: [String] = []) throws -> (status: Int32, output: String) {
        try run(try mpirunPath(), mpirunFlags + environment.flatMap { ["-x", $0] } + ["-np", "\(ranks)", try trainerBinary()] + arguments)
    }

    static func mpirunPath() throws -> String {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map { "\($0)/mpirun" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path else {
            XCTFail("mpirun not found: install Open MPI (`make deps` installs libopenmpi-dev and openmpi-bin)")
            throw CocoaError(.fileNoSuchFile)
        }
        return path
    }

    /// The `trainer` built beside this test bundle (`swift build --build-tests` builds both).
    static func trainerBinary() throws -> String {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [beside.appendingPathComponent("trainer").path,
                          beside.deletingLastPathComponent().appendingPathComponent("trainer").path,
                          Fixtures.packageRoot.appendingPathComponent(".build/release/trainer").path]
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            XCTFail("the trainer binary was not found beside the tests (\(candidates[0])); build it with `swift build -c release`")
            throw CocoaError(.fileNoSuchFile)
        }
        return path
    }

    /// Runs a command with its output in a file; a command still running after
    /// `timeout` seconds is killed and fails the test (a hang).
    static func run(_ executable: String, _ arguments: [String], timeout: Double = 180) throws -> (status: Int32, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("trainer-mpirun-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        try process.run()
        if done.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            _ = done.wait(timeout: .now() + 10)
            XCTFail("`\(([executable] + arguments).joined(separator: " "))` still ran after \(Int(timeout)) s (a hang)")
        }
        try handle.close()
        return (process.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }
}
