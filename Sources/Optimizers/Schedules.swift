import Foundation

// Learning-rate schedules as multipliers of the base learning rate.
//
// `factor(atStep: s)` is the multiplier in force after `s` optimizer steps, i.e. the one used
// by step s+1 (step 0 is the first update). The formulas follow Hugging Face transformers'
// LambdaLR schedules exactly, so that a recipe ported from there trains identically:
//   constant  get_constant_schedule_with_warmup
//   cosine    get_cosine_schedule_with_warmup / get_cosine_with_min_lr_schedule_with_warmup
//   wsd       get_wsd_schedule (warmup, stable, decay; min_lr_ratio mapping f·(1−m)+m)
// plus MiniCPM's exponential decay (`DecayShape.exponential`, η·0.5^((s−T)/T_half)).

/// How the warmup rises from 0 to 1 over progress p ∈ [0, 1).
public enum WarmupShape: String, Codable, CaseIterable {
    case linear                         // p
    case cosine                         // ½(1 − cos πp)
    case oneMinusSqrt = "1-sqrt"        // 1 − √(1 − p)
}

/// How the decay falls over progress p ∈ [0, 1].
public enum DecayShape: String, Codable, CaseIterable {
    case linear                         // 1 − p
    case cosine                         // ½(1 + cos πp)
    case oneMinusSqrt = "1-sqrt"        // 1 − √p
    case exponential                    // 0.5^(steps into the decay / halfLife)  (MiniCPM)
}

public enum LRScheduleError: Error, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let message): return "learning-rate schedule: \(message)"
        }
    }
}

public enum LRSchedule: Equatable, Codable {
    /// Linear warmup over `warmupSteps`, then 1.
    case constant(warmupSteps: Int)
    /// Linear warmup, then a cosine over the remaining `totalSteps − warmupSteps` steps
    /// (`cycles` = 0.5: one half-wave from 1 to `minRatio`). Holds the end value past `totalSteps`.
    case cosine(warmupSteps: Int, totalSteps: Int, cycles: Double = 0.5, minRatio: Double = 0)
    /// Warmup–stable–decay. Warmup over `warmupSteps`, 1 for `stableSteps`, then decay over
    /// `decaySteps`; both warmup and decay factors are mapped to f·(1 − minRatio) + minRatio.
    /// After the decay the schedule holds minRatio (transformers' shapes) or the exponential's
    /// end value. `halfLife` (in steps) is used only by the exponential decay; nil means
    /// decaySteps / 10. `cycles` shapes the cosine decay as transformers' `num_cycles` does
    /// (0.5: one half-wave from 1 to minRatio).
    case wsd(warmupSteps: Int, stableSteps: Int, decaySteps: Int, warmup: WarmupShape,
             decay: DecayShape, minRatio: Double, halfLife: Double?, cycles: Double = 0.5)

    /// Multiplier of the base learning rate after `s` optimizer steps.
    public func factor(atStep s: Int) -> Double {
        switch self {
        case .constant(let warmupSteps):
            return s < warmupSteps ? Double(s) / Double(max(1, warmupSteps)) : 1
        case .cosine(let warmupSteps, let totalSteps, let cycles, let minRatio):
            if s < warmupSteps { return Double(s) / Double(max(1, warmupSteps)) }
            let progress = min(1, Double(s - warmupSteps) / Double(max(1, totalSteps - warmupSteps)))
            let f = 0.5 * (1 + cos(Double.pi * cycles * 2 * progress))
            return max(0, f * (1 - minRatio) + minRatio)
        case .wsd(let warmupSteps, let stableSteps, let decaySteps, let warmup, let decay,
                  let minRatio, let halfLife, let cycles):
            if s < warmupSteps {
                let progress = Double(s) / Double(max(1, warmupSteps))
                return max(0, Self.warmupFactor(warmup, progress) * (1 - minRatio) + minRatio)
            }
            let decayStart = warmupSteps + stableSteps
            if s < decayStart { return 1 }
            // Past the end of the decay the schedule holds its end value.
            if s >= decayStart + decaySteps && decay != .exponential { return minRatio }
            let into = min(s - decayStart, decaySteps)
            let f = Self.decayFactor(decay, stepsIntoDecay: into, decaySteps: decaySteps,
                                     halfLife: halfLife ?? Double(max(1, decaySteps)) / 10, cycles: cycles)
            return max(0, f * (1 - minRatio) + minRatio)
        }
    }

    static func warmupFactor(_ shape: WarmupShape, _ p: Double) -> Double {
        switch shape {
        case .linear: return p
        case .cosine: return 0.5 * (1 - cos(Double.pi * p))
        case .oneMinusSqrt: return 1 - (1 - p).squareRoot()
        }
    }

    static func decayFactor(_ shape: DecayShape, stepsIntoDecay: Int, decaySteps: Int,
                            halfLife: Double, cycles: Double) -> Double {
        let p = Double(stepsIntoDecay) / Double(max(1, decaySteps))
        switch shape {
        case .linear: return 1 - p
        case .cosine: return 0.5 * (1 + cos(Double.pi * cycles * 2 * p))
        case .oneMinusSqrt: return 1 - p.squareRoot()
        case .exponential: return pow(0.5, Double(stepsIntoDecay) / halfLife)
        }
    }
}

// MARK: - Building, checking and branching

extension LRSchedule {
    /// A WSD schedule whose stable length is inferred: the decay takes `decaySteps`, or
    /// else `decayFraction` of `totalSteps` (rounded), at most what the warmup leaves; the
    /// stable phase takes `stableSteps`, or else the rest. MiniCPM reports that a decay
    /// of about 10 % of the steps suffices.
    public static func wsdInferringStable(
        totalSteps: Int, warmupSteps: Int, decayFraction: Double = 0.1, decaySteps: Int? = nil,
        stableSteps: Int? = nil, warmup: WarmupShape = .linear, decay: DecayShape = .cosine,
        minRatio: Double = 0, halfLife: Double? = nil
    ) throws -> LRSchedule {
        guard totalSteps > 0, warmupSteps >= 0, warmupSteps <= totalSteps else {
            throw LRScheduleError.invalid(
                "need 0 ≤ warmup steps (\(warmupSteps)) ≤ total steps (\(totalSteps)) and total > 0")
        }
        guard decayFraction >= 0, decayFraction <= 1 else {
            throw LRScheduleError.invalid("decay fraction \(decayFraction) is outside [0, 1]")
        }
        let decayLength = min(decaySteps ?? Int((Double(totalSteps) * decayFraction).rounded()), totalSteps - warmupSteps)
        let schedule = LRSchedule.wsd(
            warmupSteps: warmupSteps, stableSteps: stableSteps ?? (totalSteps - warmupSteps - decayLength),
            decaySteps: decayLength, warmup: warmup, decay: decay, minRatio: minRatio, halfLife: halfLife)
        try schedule.validate()
        return schedule
    }

    /// Branches a decay off the stable phase: the returned schedule equals this one up to
    /// step `step`, then decays over `decaySteps` steps (reaching its end value at
    /// `step + decaySteps`). This is how WSD checkpoints are reused: train once through the
    /// stable phase, then resume from any stable-phase checkpoint with a short decay.
    /// Steps keep counting from the start of the run. `decay` nil keeps this schedule's
    /// decay shape (`.cosine` when branching from a constant schedule).
    public func branchingDecay(from step: Int, decaySteps: Int, decay: DecayShape? = nil) throws -> LRSchedule {
        guard decaySteps >= 0 else { throw LRScheduleError.invalid("decay steps \(decaySteps) < 0") }
        switch self {
        case .constant(let warmupSteps):
            guard step >= warmupSteps else {
                throw LRScheduleError.invalid("branch step \(step) lies in the warmup (\(warmupSteps) steps)")
            }
            return .wsd(warmupSteps: warmupSteps, stableSteps: step - warmupSteps, decaySteps: decaySteps,
                        warmup: .linear, decay: decay ?? .cosine, minRatio: 0, halfLife: nil)
        case .wsd(let warmupSteps, let stableSteps, _, let warmup, let oldDecay, let minRatio, let halfLife, let cycles):
            guard step >= warmupSteps, step <= warmupSteps + stableSteps else {
                throw LRScheduleError.invalid(
                    "branch step \(step) is outside the stable phase [\(warmupSteps), \(warmupSteps + stableSteps)]")
            }
            return .wsd(warmupSteps: warmupSteps, stableSteps: step - warmupSteps, decaySteps: decaySteps,
                        warmup: warmup, decay: decay ?? oldDecay, minRatio: minRatio, halfLife: halfLife, cycles: cycles)
        case .cosine:
            throw LRScheduleError.invalid("a cosine schedule has no stable phase to branch from")
        }
    }

    /// The step at which the schedule reaches its end value; nil for a constant schedule.
    public var totalSteps: Int? {
        switch self {
        case .constant: return nil
        case .cosine(_, let totalSteps, _, _): return totalSteps
        case .wsd(let w, let s, let d, _, _, _, _, _): return w + s + d
        }
    }

    /// Rejects negative lengths and ratios outside [0, 1].
    public func validate() throws {
        func check(_ ok: Bool, _ message: @autoclosure () -> String) throws {
            if !ok { throw LRScheduleError.invalid(message()) }
        }
        switch self {
        case .constant(let warmupSteps):
            try check(warmupSteps >= 0, "warmup steps \(warmupSteps) < 0")
        case .cosine(let warmupSteps, let totalSteps, let cycles, let minRatio):
            try check(warmupSteps >= 0 && totalSteps >= warmupSteps,
                      "need 0 ≤ warmup steps (\(warmupSteps)) ≤ total steps (\(totalSteps))")
            try check(cycles > 0, "cycles \(cycles) must be > 0")
            try check((0...1).contains(minRatio), "min ratio \(minRatio) is outside [0, 1]")
        case .wsd(let w, let s, let d, _, _, let minRatio, let halfLife, let cycles):
            try check(w >= 0 && s >= 0 && d >= 0, "negative phase length (warmup \(w), stable \(s), decay \(d))")
            try check(cycles > 0, "cycles \(cycles) must be > 0")
            try check((0...1).contains(minRatio), "min ratio \(minRatio) is outside [0, 1]")
            try check(halfLife.map { $0 > 0 } ?? true, "half-life \(halfLife ?? 0) must be > 0")
        }
    }
}
