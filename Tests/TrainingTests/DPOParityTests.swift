import XCTest
import Foundation
import TestSupport
import Autograd
import Core
import Training

/// Every case of `dpo/cases.json` (TRL-computed, float64): loss, gradients with
/// respect to the policy log-probs, per-example rewards and batch means.
final class DPOParityTests: XCTestCase {
    static let tolerance = 1e-5

    func testAllCases() throws {
        let url = Fixtures.referenceRoot.appendingPathComponent("dpo/cases.json")
        let data = try Data(contentsOf: url)
        let cases = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [[String: Any]],
                                  "\(url.path): expected a list of cases")
        XCTAssertFalse(cases.isEmpty, "\(url.path) holds no cases")
        var worst = (error: 0.0, at: "")
        for (index, c) in cases.enumerated() {
            let name = "case \(index) (\(c["variant"] as? String ?? "?"))"
            let (err, field) = try check(c, name: name)
            if err > worst.error { worst = (err, "\(name) \(field)") }
        }
        print("DPO parity: \(cases.count) cases, worst relative error \(worst.error) at \(worst.at)")
    }

    /// Checks one case; returns its worst relative error and where it was.
    private func check(_ c: [String: Any], name: String) throws -> (Double, String) {
        let variant = try XCTUnwrap(c["variant"] as? String, "\(name): no variant")
        let kind = try XCTUnwrap(DPOLossKind(rawValue: variant), "\(name): unknown variant \(variant)")
        let inp = try XCTUnwrap(c["inputs"] as? [String: Any], "\(name): no inputs")
        let exp = try XCTUnwrap(c["expected"] as? [String: Any], "\(name): no expected")
        func floats(_ d: [String: Any], _ k: String) throws -> [Double] {
            try XCTUnwrap((d[k] as? [NSNumber])?.map(\.doubleValue), "\(name): missing \(k)")
        }
        func number(_ d: [String: Any], _ k: String) throws -> Double {
            try XCTUnwrap((d[k] as? NSNumber)?.doubleValue, "\(name): missing \(k)")
        }

        let pc = try floats(inp, "policy_chosen_logps").map(Float.init)
        let pr = try floats(inp, "policy_rejected_logps").map(Float.init)
        let b = pc.count
        let leafC = Tensor(pc, shape: [b]).requiringGrad(), leafR = Tensor(pr, shape: [b]).requiringGrad()
        let config = DPOConfig(kind: kind, beta: Float(try number(inp, "beta")),
                               labelSmoothing: Float(try number(inp, "label_smoothing")))
        let out = try dpoLoss(DPOInputs(
            policyChosen: leafC, policyRejected: leafR,
            referenceChosen: try floats(inp, "ref_chosen_logps").map(Float.init),
            referenceRejected: try floats(inp, "ref_rejected_logps").map(Float.init),
            chosenLengths: try floats(inp, "chosen_lengths").map { Int($0) },
            rejectedLengths: try floats(inp, "rejected_lengths").map { Int($0) }), config: config)
        out.loss.backward()

        var worst = (0.0, "")
        func compare(_ got: [Double], _ want: [Double], _ field: String) {
            XCTAssertEqual(got.count, want.count, "\(name) \(field): length")
            for (i, (g, w)) in zip(got, want).enumerated() {
                let rel = abs(g - w) / max(abs(w), 1e-12)
                if rel > worst.0 { worst = (rel, field) }
                XCTAssertLessThanOrEqual(rel, Self.tolerance, "\(name) \(field)[\(i)]: got \(g), expected \(w)")
            }
        }
        compare([Double(out.loss.item)], [try number(exp, "loss")], "loss")
        compare(try XCTUnwrap(leafC.grad).scalars.map(Double.init), try floats(exp, "grad_policy_chosen_logps"),
                "grad_policy_chosen_logps")
        compare(try XCTUnwrap(leafR.grad).scalars.map(Double.init), try floats(exp, "grad_policy_rejected_logps"),
                "grad_policy_rejected_logps")
        compare(out.rewardsChosen, try floats(exp, "rewards/chosen"), "rewards/chosen")
        compare(out.rewardsRejected, try floats(exp, "rewards/rejected"), "rewards/rejected")
        compare(out.rewardsMargins, try floats(exp, "rewards/margins"), "rewards/margins")
        compare(out.rewardsAccuracies, try floats(exp, "rewards/accuracies"), "rewards/accuracies")
        let means = try XCTUnwrap(exp["metrics_batch_mean"] as? [String: NSNumber], "\(name): metrics_batch_mean")
        XCTAssertFalse(means.isEmpty)
        for (key, value) in means {
            let got = try XCTUnwrap(out.metrics[key], "\(name): metric \(key) not reported")
            compare([got], [value.doubleValue], "metrics_batch_mean/\(key)")
        }
        // The log-prob means are not in the fixture; they are plain means of the inputs.
        compare([try XCTUnwrap(out.metrics["logps/chosen"])], [pc.map(Double.init).reduce(0, +) / Double(b)],
                "logps/chosen")
        compare([try XCTUnwrap(out.metrics["logps/rejected"])], [pr.map(Double.init).reduce(0, +) / Double(b)],
                "logps/rejected")
        return worst
    }

}

/// The options the fixture does not cover, against the formulas evaluated in Double.
final class DPOLossOptionTests: XCTestCase {
    let pc: [Float] = [-12.5, -40.25, -7.75], pr: [Float] = [-15.0, -38.5, -9.5]
    let rc: [Float] = [-13.0, -41.0, -7.5], rr: [Float] = [-14.0, -39.0, -10.0]
    let lc = [5, 20, 3], lr = [6, 18, 4]

    func testAveragedLogProbsDivideByLength() throws {
        let leafC = Tensor(pc, shape: [3]).requiringGrad(), leafR = Tensor(pr, shape: [3]).requiringGrad()
        let beta = 0.5
        let out = try dpoLoss(DPOInputs(policyChosen: leafC, policyRejected: leafR, referenceChosen: rc,
                                        referenceRejected: rr, chosenLengths: lc, rejectedLengths: lr),
                              config: DPOConfig(kind: .sigmoid, beta: Float(beta), averageLogProbs: true))
        out.loss.backward()
        var loss = 0.0, gradC = [Double](), rewardsC = [Double]()
        for i in 0..<3 {
            let ratioC = (Double(pc[i]) - Double(rc[i])) / Double(lc[i])
            let ratioR = (Double(pr[i]) - Double(rr[i])) / Double(lr[i])
            let z = beta * (ratioC - ratioR)
            loss += Foundation.log1p(Foundation.exp(-z)) / 3
            gradC.append(-beta / (1 + Foundation.exp(z)) / Double(lc[i]) / 3)
            rewardsC.append(beta * ratioC)
        }
        XCTAssertEqual(Double(out.loss.item), loss, accuracy: 1e-6)
        for i in 0..<3 {
            XCTAssertEqual(Double(leafC.grad!.scalars[i]), gradC[i], accuracy: 1e-7)
            XCTAssertEqual(out.rewardsChosen[i], rewardsC[i], accuracy: 1e-6)
        }
        let meanLogpC = (0..<3).map { Double(pc[$0]) / Double(lc[$0]) }.reduce(0, +) / 3
        XCTAssertEqual(out.metrics["logps/chosen"]!, meanLogpC, accuracy: 1e-6)
    }

    /// With averaged log-probs IPO's loss is the same as with sums (it normalises anyway).
    func testIPOIsNormalisedOnce() throws {
        func loss(_ average: Bool) throws -> Float {
            try dpoLoss(DPOInputs(policyChosen: Tensor(pc, shape: [3]), policyRejected: Tensor(pr, shape: [3]),
                                  referenceChosen: rc, referenceRejected: rr, chosenLengths: lc, rejectedLengths: lr),
                        config: DPOConfig(kind: .ipo, beta: 0.1, averageLogProbs: average)).loss.item
        }
        XCTAssertEqual(try loss(true), try loss(false), accuracy: 1e-4)
    }

    func testSFTTermAddsWeightedMeanNLL() throws {
        let nll = Tensor(scalar: 60).requiringGrad()
        let inputs = DPOInputs(policyChosen: Tensor(pc, shape: [3]), policyRejected: Tensor(pr, shape: [3]),
                               referenceChosen: rc, referenceRejected: rr, chosenLengths: lc, rejectedLengths: lr,
                               chosenNLLSum: nll, chosenTokenCount: 28)
        let plain = try dpoLoss(inputs, config: DPOConfig(kind: .hinge, beta: 0.2)).loss.item
        let out = try dpoLoss(inputs, config: DPOConfig(kind: .hinge, beta: 0.2, sftWeight: 0.25))
        out.loss.backward()
        XCTAssertEqual(out.loss.item, plain + 0.25 * 60 / 28, accuracy: 1e-5)
        XCTAssertEqual(nll.grad!.item, 0.25 / 28, accuracy: 1e-8)
        XCTAssertEqual(out.metrics["nll_loss"]!, 60.0 / 28, accuracy: 1e-6)
    }

    func testBadInputsThrow() {
        let t = Tensor(pc, shape: [3])
        XCTAssertThrowsError(try dpoLoss(DPOInputs(policyChosen: t, policyRejected: t, referenceChosen: [1, 2],
                                                   referenceRejected: rr, chosenLengths: lc, rejectedLengths: lr),
                                         config: DPOConfig())) { error in
            XCTAssertTrue("\(error)".contains("referenceChosen has 2"), "\(error)")
        }
        XCTAssertThrowsError(try dpoLoss(DPOInputs(policyChosen: t, policyRejected: t, referenceChosen: rc,
                                                   referenceRejected: rr, chosenLengths: lc, rejectedLengths: lr),
                                         config: DPOConfig(kind: .robust, labelSmoothing: 0.5)))
        XCTAssertThrowsError(try dpoLoss(DPOInputs(policyChosen: t, policyRejected: t, referenceChosen: rc,
                                                   referenceRejected: rr, chosenLengths: lc, rejectedLengths: lr),
                                         config: DPOConfig(sftWeight: 1)))
    }

    /// Margins far beyond Float32's exp range keep a finite loss and gradient.
    func testExtremeMarginsStayFinite() throws {
        for sign: Float in [1, -1] {
            let leaf = Tensor([sign * 5000], shape: [1]).requiringGrad()
            let out = try dpoLoss(DPOInputs(policyChosen: leaf, policyRejected: Tensor([0], shape: [1]),
                                            referenceChosen: [0], referenceRejected: [0],
                                            chosenLengths: [1], rejectedLengths: [1]),
                                  config: DPOConfig(kind: .conservative, beta: 0.1, labelSmoothing: 0.1))
            out.loss.backward()
            XCTAssertTrue(out.loss.item.isFinite && leaf.grad!.item.isFinite)
            // −(1−ε)logσ(z) − ε logσ(−z) ≈ ε·z for z ≫ 0 and (1−ε)·|z| for z ≪ 0.
            XCTAssertEqual(out.loss.item, sign > 0 ? 0.1 * 500 : 0.9 * 500, accuracy: 1e-2)
        }
    }
}
