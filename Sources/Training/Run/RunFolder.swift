import Checkpointing
import Foundation

/// A run's ownership of its checkpoint folder. While a run trains it holds an
/// exclusive lock on `DIR/.lock` (which records its pid), so a second run on
/// the same folder is refused instead of interleaving files. Taking the folder
/// also clears what killed writes left behind (`*.tmp-PID`) and checks that the
/// run does not mix with another run's checkpoints:
///
/// - a fresh run refuses a folder that holds checkpoints, unless told to
///   overwrite them (then the old checkpoints, `latest.h5`, `metrics.jsonl`
///   and `plot.svg` are removed first);
/// - a resumed run refuses a folder with checkpoints newer than the one it
///   resumes from (it would overwrite them), unless told to overwrite them;
///   on resume, `metrics.jsonl` loses its lines after the resumed step.
public final class RunFolder {
    public let directory: CheckpointDirectory
    private var fd: Int32 = -1

    public var lockPath: String { (directory.path as NSString).appendingPathComponent(".lock") }
    public var metricsPath: String { Self.metricsPath(in: directory) }
    public static func metricsPath(in directory: CheckpointDirectory) -> String {
        (directory.path as NSString).appendingPathComponent("metrics.jsonl")
    }

    /// Takes the folder (creating it) or throws, naming the pid of the run that holds it.
    public init(_ directory: CheckpointDirectory) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CheckpointError(file: lockPath, message: "cannot create the run's lock file (\(String(cString: strerror(errno))))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: lockPath, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            close(fd); fd = -1
            throw CheckpointError(file: directory.path, message: "another run (pid \(holder)) is training in this folder; "
                                  + "wait for it, stop it, or give this run its own `checkpoint.dir`")
        }
        _ = ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(fd, $0, strlen($0)) }
        removeOrphans()
    }

    deinit { release() }

    /// Gives the folder up (also done when the run object goes away).
    public func release() {
        guard fd >= 0 else { return }
        _ = flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    /// Temporary files of writes that were killed; only this run may write here now.
    func removeOrphans() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for name in names where name.contains(".tmp-") {
            unlink((directory.path as NSString).appendingPathComponent(name))
        }
    }

    /// Checks the folder against a run that starts fresh (`resumedStep` nil) or
    /// resumes at `resumedStep`; with `overwrite`, clears what stands in the way.
    /// Returns what was removed, for the log.
    @discardableResult
    public func prepare(resumedStep: Int?, overwrite: Bool) throws -> [String] {
        let fm = FileManager.default
        let standing = directory.existing().filter { resumedStep == nil || $0.step > resumedStep! }
        guard !standing.isEmpty else {
            if let s = resumedStep { try Self.dropMetrics(after: s, in: metricsPath) }
            return []
        }
        let names = standing.map { ($0.path as NSString).lastPathComponent }
        let listed = names.prefix(3).joined(separator: ", ") + (names.count > 3 ? ", … (\(names.count) files)" : "")
        guard overwrite else {
            if let s = resumedStep {
                throw CheckpointError(file: directory.path, message: "holds checkpoints after step \(s) (\(listed)) that "
                                      + "this run would overwrite; resume from the newest (`--resume latest`), or "
                                      + "pass `--overwrite` to drop them")
            }
            throw CheckpointError(file: directory.path, message: "holds the checkpoints of an earlier run (\(listed)); "
                                  + "continue it with `--resume latest`, start over with `--overwrite` (deletes them), "
                                  + "or set another `checkpoint.dir`")
        }
        var removed = names
        for c in standing { try? fm.removeItem(atPath: c.path) }
        if let s = resumedStep {
            try Self.dropMetrics(after: s, in: metricsPath)
            if let newest = directory.existing().last { directory.pointLatest(at: newest.path) }
        } else {
            for name in ["latest.h5", "metrics.jsonl", "plot.svg"] {
                let p = (directory.path as NSString).appendingPathComponent(name)
                if (try? fm.attributesOfItem(atPath: p)) != nil { try? fm.removeItem(atPath: p); removed.append(name) }
            }
        }
        return removed
    }

    /// Rewrites `metrics.jsonl` without the records of steps after `step`.
    static func dropMetrics(after step: Int, in path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        let kept = lines.filter { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let s = object["step"] as? Int else { return true }
            return s <= step
        }
        guard kept.count != lines.count else { return }
        try (kept.map { $0 + "\n" }.joined()).write(toFile: path, atomically: true, encoding: .utf8)
    }
}
