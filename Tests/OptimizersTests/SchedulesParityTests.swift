import Foundation
import TestSupport
import Optimizers
import XCTest

/// Every case of reference/schedules/wsd.json, every step, within 1e-6.
final class SchedulesParityTests: XCTestCase {
    func testEveryCaseEveryStep() throws {
        let url = Fixtures.referenceRoot.appendingPathComponent("schedules/wsd.json")
        let cases = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [[String: Any]])
        XCTAssertFalse(cases.isEmpty)
        var kinds: Set<String> = []
        for (index, item) in cases.enumerated() {
            let kind = try XCTUnwrap(item["kind"] as? String)
            let params = try XCTUnwrap(item["params"] as? [String: Any])
            let expected = try XCTUnwrap(item["lr_factors"] as? [Double])
            let label = "case \(index) (\(kind) \(params))"
            let schedule = try Self.schedule(kind: kind, params, label: label)
            XCTAssertEqual(expected.count, try Self.int(params, "num_training_steps", label) + 1, label)
            var worst = 0.0
            for (step, value) in expected.enumerated() {
                worst = max(worst, abs(schedule.factor(atStep: step) - value))
            }
            XCTAssertLessThanOrEqual(worst, 1e-6, label)
            kinds.insert(kind)
        }
        XCTAssertEqual(kinds, ["wsd", "cosine_with_warmup", "minicpm_exp"])
    }

    /// Maps a fixture case onto LRSchedule, from the JSON's own parameter names.
    private static func schedule(kind: String, _ p: [String: Any], label: String) throws -> LRSchedule {
        let total = try int(p, "num_training_steps", label)
        let warmup = try int(p, "num_warmup_steps", label)
        switch kind {
        case "wsd":
            // transformers get_wsd_schedule: the stable length defaults to the remainder.
            let decaySteps = try int(p, "num_decay_steps", label)
            let stable = try p["num_stable_steps"].map { _ in try int(p, "num_stable_steps", label) }
                ?? total - warmup - decaySteps
            return .wsd(warmupSteps: warmup, stableSteps: stable, decaySteps: decaySteps,
                        warmup: try XCTUnwrap(WarmupShape(rawValue: p["warmup_type"] as? String ?? "linear"), label),
                        decay: try XCTUnwrap(DecayShape(rawValue: p["decay_type"] as? String ?? "cosine"), label),
                        minRatio: p["min_lr_ratio"] as? Double ?? 0, halfLife: nil,
                        cycles: p["num_cycles"] as? Double ?? 0.5)
        case "cosine_with_warmup":
            return .cosine(warmupSteps: warmup, totalSteps: total, cycles: p["num_cycles"] as? Double ?? 0.5,
                           minRatio: p["min_lr_ratio"] as? Double ?? 0)
        case "minicpm_exp":
            let decayStart = try int(p, "decay_start", label)
            return .wsd(warmupSteps: warmup, stableSteps: decayStart - warmup, decaySteps: total - decayStart,
                        warmup: .linear, decay: .exponential, minRatio: 0,
                        halfLife: try XCTUnwrap(p["half_life"] as? Double, label))
        default:
            throw LRScheduleError.invalid("\(label): unknown kind")
        }
    }

    private static func int(_ p: [String: Any], _ key: String, _ label: String) throws -> Int {
        try XCTUnwrap((p[key] as? NSNumber)?.intValue, "\(label): missing \(key)")
    }
}
