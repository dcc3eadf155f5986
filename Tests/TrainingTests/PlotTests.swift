import Foundation
import Training
import XCTest

final class PlotTests: XCTestCase {
    func testTicksAreRoundAndInsideTheRange() {
        XCTAssertEqual(LossPlot.ticks(from: 1, to: 800), [200, 400, 600, 800])
        XCTAssertEqual(LossPlot.ticks(from: 1, to: 130), [20, 40, 60, 80, 100, 120])
        XCTAssertEqual(LossPlot.ticks(from: 1, to: 4), [1, 2, 3, 4])
        XCTAssertEqual(LossPlot.ticks(from: 5, to: 5), [5])
    }

    /// Each step label sits where that step is drawn, and "eval loss" is listed only when there is one.
    func testLabelsSitAtTheirStepsAndTheLegendMatchesTheData() throws {
        let steps = (1...130).map(Double.init)
        let plain = LossPlot.svg(steps: steps, loss: steps.map { 1 / $0 }, lr: steps.map { _ in 1e-3 }, title: "t")
        XCTAssertFalse(plain.contains("eval loss"))
        // x(s) = 64 + (s - 1) / 129 × 584: the label "100" is centred at x = 512.2.
        XCTAssertTrue(plain.contains("<text x=\"512.2\" y=\"332.0\" text-anchor=\"middle\">100</text>"), plain)
        let withEval = LossPlot.svg(steps: steps, loss: steps.map { 1 / $0 }, lr: steps.map { _ in 1e-3 },
                                    evalSteps: [50], evalLoss: [0.1], title: "t")
        XCTAssertTrue(withEval.contains("eval loss"))
    }
}
