import Foundation

/// An SVG chart of the training loss (left axis) and learning rate (right
/// axis) against the step, written beside the checkpoints.
public enum LossPlot {
    public static func svg(steps: [Double], loss: [Double], lr: [Double], evalSteps: [Double] = [],
                           evalLoss: [Double] = [], title: String) -> String {
        let (w, h) = (720.0, 360.0), (l, r, t, b) = (64.0, 72.0, 36.0, 44.0)
        let pw = w - l - r, ph = h - t - b
        let xMax = max(steps.max() ?? 1, 1), xMin = steps.min() ?? 0
        let finiteLoss = (loss + evalLoss).filter(\.isFinite)
        let lMin = finiteLoss.min() ?? 0, lMax = max(finiteLoss.max() ?? 1, lMin + 1e-6)
        let rMax = max(lr.max() ?? 1, 1e-12)
        func x(_ s: Double) -> Double { l + (s - xMin) / max(xMax - xMin, 1) * pw }
        func yl(_ v: Double) -> Double { t + (1 - (v - lMin) / (lMax - lMin)) * ph }
        func yr(_ v: Double) -> Double { t + (1 - v / rMax) * ph }
        func path(_ xs: [Double], _ ys: [Double], _ f: (Double) -> Double) -> String {
            zip(xs, ys).filter { $0.1.isFinite }.enumerated().map { i, p in
                String(format: "%@%.1f,%.1f", i == 0 ? "M" : "L", x(p.0), f(p.1))
            }.joined(separator: " ")
        }
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" font-family="sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(l)" y="20" font-size="13">\(escape(title))</text>
        <rect x="\(l)" y="\(t)" width="\(pw)" height="\(ph)" fill="none" stroke="#ccc"/>

        """
        for i in 0...4 {
            let f = Double(i) / 4
            let yv = t + f * ph
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", l, yv, l + pw, yv)
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#1f77b4\">%.3g</text>\n",
                        l - 6, yv + 4, lMax - f * (lMax - lMin))
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" fill=\"#d62728\">%.2e</text>\n", l + pw + 6, yv + 4, rMax * (1 - f))
        }
        for xv in ticks(from: xMin, to: xMax) {
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ccc\"/>\n",
                        x(xv), t + ph, x(xv), t + ph + 4)
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n", x(xv), t + ph + 16, xv)
        }
        s += "<path d=\"\(path(steps, loss, yl))\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\"/>\n"
        s += "<path d=\"\(path(steps, lr, yr))\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"1.2\" stroke-dasharray=\"4 3\"/>\n"
        for (sx, sy) in zip(evalSteps, evalLoss) where sy.isFinite {
            s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#2ca02c\"/>\n", x(sx), yl(sy))
        }
        s += """
        <text x="\(l + pw / 2)" y="\(h - 8)" text-anchor="middle">step</text>
        <text x="\(l + 8)" y="\(t + 14)" fill="#1f77b4">— train loss</text>
        <text x="\(l + 100)" y="\(t + 14)" fill="#d62728">- - learning rate</text>

        """
        if evalLoss.contains(where: \.isFinite) {
            s += "<text x=\"\(l + 220)\" y=\"\(t + 14)\" fill=\"#2ca02c\">● eval loss</text>\n"
        }
        s += "</svg>\n"
        return s
    }

    /// Round step values (1, 2 or 5 × 10^k apart, at most 7 of them) within [lo, hi].
    public static func ticks(from lo: Double, to hi: Double) -> [Double] {
        guard hi > lo else { return [lo] }
        let raw = (hi - lo) / 7, magnitude = pow(10, floor(log10(raw)))
        let spacing = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        let step = max(spacing, 1)
        return stride(from: (lo / step).rounded(.up) * step, through: hi, by: step).map { $0 }
    }

    /// Redraws the plot from a metrics.jsonl file.
    public static func write(metrics: String, to path: String, title: String) {
        var steps: [Double] = [], loss: [Double] = [], lr: [Double] = [], es: [Double] = [], el: [Double] = []
        for r in MetricsLog.read(metrics) {
            guard let step = r["step"] as? Double ?? (r["step"] as? Int).map(Double.init) else { continue }
            if let v = r["loss"] as? Double { steps.append(step); loss.append(v); lr.append(r["lr"] as? Double ?? 0) }
            if let v = r["eval_loss"] as? Double { es.append(step); el.append(v) }
        }
        let text = svg(steps: steps, loss: loss, lr: lr, evalSteps: es, evalLoss: el, title: title)
        try? text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
    }
}
