import Foundation

/// Which OpenBLAS kernel family runs, decided once at start-up.
///
/// OpenBLAS reads `OPENBLAS_CORETYPE` when it loads, so a different kernel
/// needs a re-executed process. The order of precedence:
///
/// 1. the user's choice: `--blas-kernel NAME` (anywhere on the command line),
///    else `TRAINER_BLAS_KERNEL=NAME`; `keep` (or `environment`) keeps the
///    kernel in force, `auto` asks for the automatic choice below, any other
///    name is used as it is, unchecked;
/// 2. otherwise, when the CPU offers a faster family than the one in force
///    (AVX-512 under Haswell, Zen or an older family; AVX2 under a pre-AVX2 one),
///    that family is tried in a child process (`trainer blas-check`, with a
///    time limit, so that a crash cannot take the run down) and used only when
///    its results match a simple reference;
/// 3. otherwise the kernel in force stays.
///
/// The decision is a pure function (`decide`, `afterCheck`); `selectAtStartUp`
/// carries it out. The run and bench headers print `BLAS.kernelDescription`.
public enum BLASKernel {
    /// The project's own variable for the user's choice.
    public static let variable = "TRAINER_BLAS_KERNEL"
    /// The global command-line option for the user's choice (it wins over the variable).
    public static let option = "--blas-kernel"
    /// Set on the re-executed process: why its kernel was chosen.
    static let reasonVariable = "TRAINER_BLAS_KERNEL_REASON"
    /// How long the child's self-check may take before it counts as failed.
    public static let checkTimeout = 60.0

    /// A user's choice, from the option or the variable.
    public enum Choice: Equatable, Sendable {
        case keep, auto, core(String)

        public init(_ text: String) {
            switch text.lowercased() {
            case "keep", "environment": self = .keep
            case "auto": self = .auto
            default: self = .core(text)
            }
        }
    }

    public enum Decision: Equatable, Sendable {
        /// Run the kernel in force; `reason` says why, for the header.
        case keep(reason: String)
        /// Re-execute under `core`, without a check (the user's choice, or a check passed).
        case use(core: String, reason: String)
        /// Try `candidate` in a child process first (then `afterCheck`).
        case check(candidate: String)
    }

    /// How fast OpenBLAS's x86 sgemm kernel families are, in tiers: AVX-512,
    /// AVX2 + FMA, AVX, older. Unknown names count as the oldest.
    public static func tier(_ core: String) -> Int {
        switch core.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return 3
        case "haswell", "zen": return 2
        case "sandybridge", "bulldozer", "piledriver", "steamroller", "excavator": return 1
        default: return 0
        }
    }

    /// The fastest family these CPU flags (as /proc/cpuinfo spells them) can run,
    /// or nil when nothing beats OpenBLAS's own detection. Cooperlake and
    /// SapphireRapids add only bf16 GEMMs, which the project does not call:
    /// for sgemm they are SkylakeX.
    public static func bestCore(flags: Set<String>) -> String? {
        if ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy(flags.contains) { return "SkylakeX" }
        if ["avx2", "fma"].allSatisfy(flags.contains) { return "Haswell" }
        return nil
    }

    /// Where the kernel in force came from, for the header.
    public static func origin(current: String, environmentCore: String?) -> String {
        environmentCore != nil ? "\(current) from OPENBLAS_CORETYPE in the environment" : "\(current), OpenBLAS's own choice"
    }

    /// The decision for a process running `current` (set by `environmentCore`,
    /// or detected by OpenBLAS when nil) on a CPU with `flags`; `choice` is the
    /// user's, with where it came from (`--blas-kernel` or the variable).
    public static func decide(flags: Set<String>, current: String, environmentCore: String?,
                              choice: (Choice, source: String)?) -> Decision {
        let best = bestCore(flags: flags)
        let faster = best.flatMap { tier($0) > tier(current) ? $0 : nil }
        switch choice {
        case (.keep, let source)?:
            let lost = faster.map { "; this CPU offers \($0)" } ?? ""
            let spelled = source == option ? "\(option) keep" : "\(source)=keep"
            return .keep(reason: "kept with \(spelled): \(origin(current: current, environmentCore: environmentCore))\(lost)")
        case (.core(let name), let source)?:
            if name.lowercased() == current.lowercased() { return .keep(reason: "chosen with \(source)") }
            return .use(core: name, reason: "chosen with \(source)")
        case (.auto, _)?, nil:
            guard let faster else {
                let why = best == nil ? "no faster kernel for this CPU" : "the fastest for this CPU"
                return .keep(reason: "\(environmentCore != nil ? "OPENBLAS_CORETYPE in the environment" : "OpenBLAS's own choice"); \(why)")
            }
            return .check(candidate: faster)
        }
    }

    /// After the child's check of `candidate`: switch when it passed, else keep
    /// the kernel in force and say what went wrong.
    public static func afterCheck(candidate: String, current: String, environmentCore: String?,
                                  passed: Bool, detail: String) -> Decision {
        let was = environmentCore != nil ? "\(current) in the environment" : "\(current), OpenBLAS's own choice"
        if passed { return .use(core: candidate, reason: "checked at start-up: faster than \(was)") }
        return .keep(reason: "\(environmentCore != nil ? "OPENBLAS_CORETYPE in the environment" : "OpenBLAS's own choice"); "
                     + "\(candidate) failed the start-up check (\(detail))")
    }

    /// The user's choice in `arguments` (`--blas-kernel NAME` or `--blas-kernel=NAME`,
    /// the last one wins) or in `environment`, and the arguments without the option.
    public static func userChoice(arguments: [String], environment: [String: String])
        -> (choice: (Choice, source: String)?, arguments: [String]) {
        var rest: [String] = [], fromOption: String?
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if i > 0, a == option, i + 1 < arguments.count {
                fromOption = arguments[i + 1]; i += 2; continue
            }
            if i > 0, a.hasPrefix(option + "=") {
                fromOption = String(a.dropFirst(option.count + 1)); i += 1; continue
            }
            rest.append(a); i += 1
        }
        if let fromOption { return ((Choice(fromOption), option), rest) }
        if let v = environment[variable], !v.isEmpty { return ((Choice(v), variable), rest) }
        return (nil, rest)
    }

    /// The CPU's flags from /proc/cpuinfo (empty where it cannot be read).
    public static var cpuFlags: Set<String> {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
        return Set(line.split(separator: ":", maxSplits: 1).last.map { $0.split(separator: " ").map(String.init) } ?? [])
    }

    nonisolated(unsafe) static var decidedReason: String?

    /// Decides the kernel and, when it changes, re-executes the program with
    /// `OPENBLAS_CORETYPE` set (this function then does not return). Returns the
    /// arguments to parse (without `--blas-kernel`).
    public static func selectAtStartUp(arguments: [String] = CommandLine.arguments) -> [String] {
        let env = ProcessInfo.processInfo.environment
        let (choice, rest) = userChoice(arguments: arguments, environment: env)
        let current = BLAS.coreName
        if let reason = env[reasonVariable] {
            // The re-executed process: say why, and what runs if OpenBLAS ignored the name.
            unsetenv(reasonVariable)
            let asked = env["OPENBLAS_CORETYPE"] ?? ""
            decidedReason = asked.lowercased() == current.lowercased()
                ? reason : "\(reason), but OpenBLAS did not load \(asked)"
            return rest
        }
        var decision = decide(flags: cpuFlags, current: current, environmentCore: env["OPENBLAS_CORETYPE"], choice: choice)
        if case .check(let candidate) = decision {
            let (passed, detail) = checkInChild(candidate)
            decision = afterCheck(candidate: candidate, current: current, environmentCore: env["OPENBLAS_CORETYPE"],
                                  passed: passed, detail: detail)
        }
        switch decision {
        case .keep(let reason):
            decidedReason = reason
        case .check:
            break   // afterCheck never answers .check
        case .use(let core, let reason):
            if tier(core) > tier(bestCore(flags: cpuFlags) ?? "") {
                FileHandle.standardError.write(Data("warning: OpenBLAS kernel \(core) (\(reason)) needs instructions this CPU may lack\n".utf8))
            }
            setenv("OPENBLAS_CORETYPE", core, 1)
            setenv(reasonVariable, reason, 1)
            var cargs: [UnsafeMutablePointer<CChar>?] = rest.map { strdup($0) }
            cargs.append(nil)
            execv("/proc/self/exe", &cargs)
            // execv only returns on failure: carry on with the kernel in force.
            let failure = String(cString: strerror(errno))
            unsetenv(reasonVariable)
            if let old = env["OPENBLAS_CORETYPE"] { setenv("OPENBLAS_CORETYPE", old, 1) } else { unsetenv("OPENBLAS_CORETYPE") }
            decidedReason = "could not re-execute for \(core): \(failure)"
        }
        return rest
    }

    /// Runs `trainer blas-check --expect CORE` under `OPENBLAS_CORETYPE=CORE`.
    /// Passed only when it exits 0 within the time limit.
    /// `executable` is this program unless a test names the built `trainer`.
    public static func checkInChild(_ core: String, executable: String? = nil) -> (passed: Bool, detail: String) {
        let executable = executable
            ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["blas-check", "--expect", core]
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_CORETYPE"] = core
        env[variable] = "keep"
        env.removeValue(forKey: reasonVariable)
        process.environment = env
        // The output goes to a file: a hung child cannot block the reader.
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("trainer-blas-check-\(getpid()).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        guard let handle = try? FileHandle(forWritingTo: log) else { return (false, "could not write \(log.path)") }
        defer { try? handle.close() }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        do { try process.run() } catch { return (false, "could not start the check: \(error)") }
        if done.wait(timeout: .now() + checkTimeout) == .timedOut {
            process.terminate()
            _ = done.wait(timeout: .now() + 5)
            return (false, "still running after \(Int(checkTimeout)) s")
        }
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        if process.terminationReason == .uncaughtSignal {
            return (false, "crashed with signal \(process.terminationStatus)")
        }
        let lastLine = text.split(separator: "\n").last.map(String.init) ?? ""
        return (process.terminationStatus == 0, process.terminationStatus == 0 ? lastLine : "exit \(process.terminationStatus): \(lastLine)")
    }
}
