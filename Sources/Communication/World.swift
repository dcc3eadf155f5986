import CMPI
import Core
import Foundation

/// The processes that train one model together, and the collective operations
/// they use: sums over every rank (`MPI_Allreduce`, or `MPI_Iallreduce` started
/// now and waited for later), a gather of one value per
/// rank, and the abort that ends them all.
///
/// A process started by `mpirun` joins MPI's world (its rank and size come from
/// MPI); any other process is a world of one and never calls MPI, so a plain
/// `trainer run` behaves exactly as without MPI. Only the main thread calls MPI.
public final class World: @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// Whether MPI was initialised for this world (false for a process on its own).
    public let usesMPI: Bool

    public var isRoot: Bool { rank == 0 }
    public var isDistributed: Bool { size > 1 }

    /// A process on its own.
    public static let single = World(rank: 0, size: 1, usesMPI: false)

    init(rank: Int, size: Int, usesMPI: Bool) {
        self.rank = rank; self.size = size; self.usesMPI = usesMPI
    }

    nonisolated(unsafe) private static var joined: World?

    /// Whether `mpirun` (Open MPI) started this process.
    public static var launchedByMPI: Bool { ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil }

    /// The world this process was launched into: MPI's when started by `mpirun`
    /// (initialised on the first call, finalised at exit), else `single`.
    ///
    /// Ranks that share a machine split its cores: unless `TRAINER_THREADS` says
    /// otherwise, each starts with cores ÷ ranks on the machine engine threads.
    public static func current() throws -> World {
        if let joined { return joined }
        guard launchedByMPI else { joined = .single; return .single }
        if trainer_mpi_is_initialized() == 0 {
            let code = trainer_mpi_init()
            guard code == MPI_SUCCESS else { throw DataParallelError("MPI_Init failed: \(errorText(code))") }
            _ = trainer_mpi_return_errors()
            atexit {
                if trainer_mpi_is_initialized() != 0 && trainer_mpi_is_finalized() == 0 { _ = trainer_mpi_finalize() }
            }
        }
        let world = World(rank: Int(trainer_mpi_rank()), size: Int(trainer_mpi_size()), usesMPI: true)
        if Threads.fromEnvironment == nil,
           let local = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap({ Int($0) }), local > 1 {
            Threads.set(max(1, ProcessInfo.processInfo.activeProcessorCount / local))
        }
        joined = world
        return world
    }

    // MARK: - Collectives (every rank must call them, in the same order)

    /// In place: each value becomes its sum over the ranks. Counts beyond
    /// MPI's 32-bit limit go in pieces.
    public func sum(_ values: UnsafeMutablePointer<Float>, count: Int) throws {
        guard usesMPI, size > 1 else { return }
        var done = 0
        while done < count {
            let n = min(count - done, Int(Int32.max))
            try check(trainer_mpi_allreduce_sum_float(values + done, Int32(n)), "MPI_Allreduce")
            done += n
        }
    }

    /// Starts an in-place sum of `count` values over the ranks (`MPI_Iallreduce`)
    /// and returns at once: `values` must stay allocated and untouched until the
    /// returned request's `wait()`. Counts beyond MPI's 32-bit limit go in pieces.
    /// In a world of one the request is already complete.
    public func startSum(_ values: UnsafeMutablePointer<Float>, count: Int) throws -> SumRequest {
        let request = SumRequest(world: self)
        guard usesMPI, size > 1 else { return request }
        var done = 0
        while done < count {
            let n = min(count - done, Int(Int32.max))
            var handle: MPI_Request?
            try check(trainer_mpi_iallreduce_sum_float(values + done, Int32(n), &handle), "MPI_Iallreduce")
            request.handles.append(handle)
            done += n
        }
        return request
    }

    /// Each value summed over the ranks (counts, losses).
    public func sum(_ values: [Double]) throws -> [Double] {
        guard usesMPI, size > 1, !values.isEmpty else { return values }
        var out = values
        try out.withUnsafeMutableBufferPointer {
            try check(trainer_mpi_allreduce_sum_double($0.baseAddress!, Int32($0.count)), "MPI_Allreduce")
        }
        return out
    }

    /// Whether `flag` is true on any rank.
    public func any(_ flag: Bool) throws -> Bool {
        guard usesMPI, size > 1 else { return flag }
        var value: Int64 = flag ? 1 : 0
        try check(trainer_mpi_allreduce_max_int64(&value, 1), "MPI_Allreduce")
        return value != 0
    }

    /// Every rank's `value`, in rank order.
    public func gather(_ value: UInt64) throws -> [UInt64] {
        guard usesMPI, size > 1 else { return [value] }
        var out = [UInt64](repeating: 0, count: size)
        try out.withUnsafeMutableBufferPointer {
            try check(trainer_mpi_allgather_uint64(value, $0.baseAddress!), "MPI_Allgather")
        }
        return out
    }

    /// Waits until every rank gets here.
    public func barrier() throws {
        guard usesMPI, size > 1 else { return }
        try check(trainer_mpi_barrier(), "MPI_Barrier")
    }

    /// Ends every rank after an error on this one: the error is printed once
    /// (rank 0 at once; another rank after a second, in case rank 0 fails too
    /// and its abort ends this one first), then `MPI_Abort` stops the job.
    public func abort(printing message: String) -> Never {
        if rank != 0 { usleep(1_000_000) }
        let origin = size > 1 ? " (rank \(rank) of \(size))" : ""
        FileHandle.standardError.write(Data("error\(origin): \(message)\n".utf8))
        if usesMPI { _ = trainer_mpi_abort(1) }
        exit(1)
    }

    fileprivate func check(_ code: Int32, _ operation: String) throws {
        guard code != MPI_SUCCESS else { return }
        throw DataParallelError("\(operation) failed on rank \(rank) of \(size): \(Self.errorText(code))")
    }

    static func errorText(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 512)
        trainer_mpi_error_string(code, &buffer, Int32(buffer.count))
        return String(cString: buffer)
    }
}

/// A sum started by `World.startSum`: `test()` lets MPI make progress on it
/// (Open MPI moves non-blocking collectives forward only inside MPI calls) and
/// says whether it is done; `wait()` returns once it is.
public final class SumRequest {
    let world: World
    /// One MPI request per piece; MPI sets each to `MPI_REQUEST_NULL` once it completes.
    var handles: [MPI_Request?] = []
    private(set) public var isComplete = false

    init(world: World) { self.world = world }

    /// Whether the sum is done (never blocks).
    @discardableResult
    public func test() throws -> Bool {
        guard !isComplete else { return true }
        for i in handles.indices {
            var done: Int32 = 0
            try world.check(trainer_mpi_test(&handles[i], &done), "MPI_Test")
            if done == 0 { return false }
        }
        isComplete = true
        return true
    }

    /// Returns once the sum is done.
    public func wait() throws {
        guard !isComplete else { return }
        for i in handles.indices { try world.check(trainer_mpi_wait(&handles[i]), "MPI_Wait") }
        isComplete = true
    }
}

/// Ranks of a data-parallel run that cannot go on together: an MPI call that
/// failed, ranks that hold different weights, or a phase that cannot be split.
public struct DataParallelError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "data parallel: \(message)" }
}
