import Foundation
import Optimizers
import XCTest

final class SchedulesTests: XCTestCase {
    /// transformers' `num_cycles` in the WSD cosine decay: 0.5(1 + cos(2π·cycles·p)), then
    /// min_lr_ratio once the decay is over.
    func testWSDCosineDecayFollowsNumCycles() throws {
        let s = LRSchedule.wsd(warmupSteps: 0, stableSteps: 10, decaySteps: 8, warmup: .linear, decay: .cosine,
                               minRatio: 0.1, halfLife: nil, cycles: 1.0)
        try s.validate()
        for step in 10...18 {
            let p = Double(step - 10) / 8
            let want = step == 18 ? 0.1 : 0.5 * (1 + cos(2 * Double.pi * p)) * 0.9 + 0.1
            XCTAssertEqual(s.factor(atStep: step), want, accuracy: 1e-12, "step \(step)")
        }
        XCTAssertEqual(s.factor(atStep: 14), 0.1, accuracy: 1e-12, "a full cycle is at its low half-way")
        XCTAssertEqual(s.factor(atStep: 30), 0.1)
        XCTAssertThrowsError(try LRSchedule.wsd(warmupSteps: 0, stableSteps: 1, decaySteps: 1, warmup: .linear,
                                                decay: .cosine, minRatio: 0, halfLife: nil, cycles: 0).validate())
    }

    func testConstantWithWarmup() {
        let s = LRSchedule.constant(warmupSteps: 4)
        XCTAssertEqual((0...6).map { s.factor(atStep: $0) }, [0, 0.25, 0.5, 0.75, 1, 1, 1])
        XCTAssertEqual(LRSchedule.constant(warmupSteps: 0).factor(atStep: 0), 1)
    }

    func testCosineHoldsEndValueAndMapsMinRatio() {
        let s = LRSchedule.cosine(warmupSteps: 2, totalSteps: 10, minRatio: 0.1)
        XCTAssertEqual(s.factor(atStep: 1), 0.5)          // warmup is not mapped (transformers)
        XCTAssertEqual(s.factor(atStep: 2), 1, accuracy: 1e-12)
        XCTAssertEqual(s.factor(atStep: 6), 0.55, accuracy: 1e-12)   // half-way: ½·0.9 + 0.1
        XCTAssertEqual(s.factor(atStep: 10), 0.1, accuracy: 1e-12)
        XCTAssertEqual(s.factor(atStep: 25), 0.1, accuracy: 1e-12)
    }

    func testExponentialDecayUsesHalfLife() {
        let s = LRSchedule.wsd(warmupSteps: 0, stableSteps: 10, decaySteps: 30, warmup: .linear,
                               decay: .exponential, minRatio: 0, halfLife: 5)
        XCTAssertEqual(s.factor(atStep: 9), 1)
        XCTAssertEqual(s.factor(atStep: 10), 1)
        XCTAssertEqual(s.factor(atStep: 15), 0.5, accuracy: 1e-12)
        XCTAssertEqual(s.factor(atStep: 40), 1.0 / 64, accuracy: 1e-12)
        XCTAssertEqual(s.factor(atStep: 100), 1.0 / 64, accuracy: 1e-12)   // held after the decay
    }

    func testInferredStableLength() throws {
        let s = try LRSchedule.wsdInferringStable(totalSteps: 1000, warmupSteps: 10)
        XCTAssertEqual(s, .wsd(warmupSteps: 10, stableSteps: 890, decaySteps: 100, warmup: .linear,
                               decay: .cosine, minRatio: 0, halfLife: nil))
        XCTAssertEqual(s.totalSteps, 1000)
        let short = try LRSchedule.wsdInferringStable(totalSteps: 7, warmupSteps: 6, decayFraction: 0.5,
                                                      decay: .linear)
        XCTAssertEqual(short, .wsd(warmupSteps: 6, stableSteps: 0, decaySteps: 1, warmup: .linear,
                                   decay: .linear, minRatio: 0, halfLife: nil))
        XCTAssertThrowsError(try LRSchedule.wsdInferringStable(totalSteps: 10, warmupSteps: 11))
        XCTAssertThrowsError(try LRSchedule.wsdInferringStable(totalSteps: 10, warmupSteps: 1, decayFraction: 1.5))
    }

    func testBranchingDecayFromStablePhase() throws {
        let main = LRSchedule.wsd(warmupSteps: 10, stableSteps: 90, decaySteps: 20, warmup: .linear,
                                  decay: .linear, minRatio: 0.1, halfLife: nil)
        let branch = try main.branchingDecay(from: 40, decaySteps: 10)
        for step in 0...40 { XCTAssertEqual(branch.factor(atStep: step), main.factor(atStep: step), "\(step)") }
        XCTAssertEqual(branch.factor(atStep: 45), 0.55, accuracy: 1e-12)  // (1 − ½)·0.9 + 0.1
        XCTAssertEqual(branch.factor(atStep: 50), 0.1, accuracy: 1e-12)
        XCTAssertEqual(branch.totalSteps, 50)
        let exponential = try main.branchingDecay(from: 100, decaySteps: 4, decay: .oneMinusSqrt)
        XCTAssertEqual(exponential.factor(atStep: 101), (1 - 0.5) * 0.9 + 0.1, accuracy: 1e-12)
        let fromConstant = try LRSchedule.constant(warmupSteps: 5).branchingDecay(from: 20, decaySteps: 10)
        XCTAssertEqual(fromConstant.factor(atStep: 25), 0.5, accuracy: 1e-12)
        XCTAssertThrowsError(try main.branchingDecay(from: 5, decaySteps: 10))
        XCTAssertThrowsError(try main.branchingDecay(from: 101, decaySteps: 10))
        XCTAssertThrowsError(try LRSchedule.cosine(warmupSteps: 0, totalSteps: 10).branchingDecay(from: 5, decaySteps: 2))
    }

    func testValidationAndCodable() throws {
        XCTAssertThrowsError(try LRSchedule.constant(warmupSteps: -1).validate())
        XCTAssertThrowsError(try LRSchedule.cosine(warmupSteps: 5, totalSteps: 4).validate())
        XCTAssertThrowsError(try LRSchedule.wsd(warmupSteps: 0, stableSteps: 1, decaySteps: 1, warmup: .linear,
                                                decay: .exponential, minRatio: 1.5, halfLife: nil).validate()) {
            XCTAssertTrue("\($0)".contains("1.5"))
        }
        let schedules: [LRSchedule] = [
            .constant(warmupSteps: 3),
            .cosine(warmupSteps: 1, totalSteps: 9, cycles: 0.5, minRatio: 0.1),
            .wsd(warmupSteps: 1, stableSteps: 2, decaySteps: 3, warmup: .oneMinusSqrt, decay: .exponential,
                 minRatio: 0, halfLife: 2.5),
        ]
        let data = try JSONEncoder().encode(schedules)
        XCTAssertEqual(try JSONDecoder().decode([LRSchedule].self, from: data), schedules)
        XCTAssertTrue(String(decoding: data, as: UTF8.self).contains("\"1-sqrt\""))
    }
}
