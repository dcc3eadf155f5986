import Autograd
import Core
import Checkpointing
import Foundation

/// Where a run's checkpoints live and how they are written: one HDF5 file per
/// checkpoint, written to a temporary name, flushed, closed, then renamed, so a
/// kill during the write leaves the previous checkpoint intact. The newest is
/// also reachable as `latest.h5` (a symbolic link), and only the last N stay.
public struct CheckpointDirectory {
    public let path: String
    public let keep: Int

    public init(path: String, keep: Int) {
        self.path = path; self.keep = max(1, keep)
    }

    public func file(forStep step: Int) -> String {
        (path as NSString).appendingPathComponent(String(format: "step-%06d.h5", step))
    }

    public var latestLink: String { (path as NSString).appendingPathComponent("latest.h5") }

    /// Checkpoint files present, oldest first.
    public func existing() -> [(step: Int, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.compactMap { name -> (Int, String)? in
            guard name.hasPrefix("step-"), name.hasSuffix(".h5"),
                  let s = Int(name.dropFirst(5).dropLast(3)) else { return nil }
            return (s, (path as NSString).appendingPathComponent(name))
        }.sorted { $0.0 < $1.0 }
    }

    /// The newest checkpoint, if any.
    public func latest() -> String? { existing().last?.path }

    /// Writes a checkpoint atomically with `body` filling the file, then updates
    /// `latest.h5` and prunes old files. Returns the final path.
    @discardableResult
    public func write(step: Int, _ body: (HDF5File) throws -> Void) throws -> String {
        let final = file(forStep: step)
        try ModelStore.writeAtomically(final, body)
        pointLatest(at: final)
        // Only older checkpoints go: the one just written stays, and `latest.h5` with it.
        for old in existing().filter({ $0.step < step }).dropLast(keep - 1) { unlink(old.path) }
        return final
    }

    /// Points `latest.h5` at `target` (a file of this folder), replaced atomically.
    public func pointLatest(at target: String) {
        let temp = latestLink + ".tmp-\(getpid())"
        unlink(temp)
        if symlink((target as NSString).lastPathComponent, temp) == 0 { rename(temp, latestLink) }
    }
}

/// The run state besides weights and optimizer moments, stored as JSON in
/// `/state/json` and mirrored in plain datasets for h5py readers.
public struct RunState: Codable, Equatable {
    public var phase: Int
    public var stepInPhase: Int
    public var globalStep: Int
    /// Micro-batches of the current step already accumulated (0 at step boundaries).
    public var microStep: Int
    public var tokensSeen: Int
    /// Every random stream by purpose.
    public var rng: [String: RNG]
    /// The data loader's cursor and pack plan, as the loader encodes it.
    public var data: String
    /// The scheduler's position: the learning-rate factor's step in the phase.
    public var scheduleStep: Int
}

extension HDF5File {
    /// Writes named tensors under `group` (`/model/<path>`).
    func writeTensors(_ tensors: [(String, Tensor)], group: String) throws {
        for (name, t) in tensors {
            try write("\(group)/\(name)", floats: t.scalars, shape: t.shape)
        }
    }

    func writeRunState(_ s: RunState) throws {
        let json = String(decoding: try JSONEncoder().encode(s), as: UTF8.self)
        try write("state/json", string: json)
        try write("state/step", int64s: [Int64(s.globalStep)], shape: [])
        try write("state/phase", int64s: [Int64(s.phase)], shape: [])
        try write("state/micro_step", int64s: [Int64(s.microStep)], shape: [])
        try write("state/schedule_step", int64s: [Int64(s.scheduleStep)], shape: [])
        try write("state/tokens_seen", int64s: [Int64(s.tokensSeen)], shape: [])
        try write("state/data", string: s.data)
        for (name, r) in s.rng {
            try write("state/rng/\(name)", int64s: [Int64(bitPattern: r.key), Int64(bitPattern: r.counter)], shape: [2])
        }
    }

    func readRunState() throws -> RunState {
        let json = try readString("state/json")
        do {
            return try JSONDecoder().decode(RunState.self, from: Data(json.utf8))
        } catch {
            throw CheckpointError(file: path, message: "the run state in /state/json is unreadable: \(error)")
        }
    }
}
