import Foundation

/// The progress line of a run: step, bar, loss, lr, grad norm, tokens/s, ETA.
/// On a terminal the line is redrawn in place; otherwise one line per report.
public final class ProgressLine {
    let total: Int
    let start = Date()
    let isTerminal = isatty(STDOUT_FILENO) != 0
    private var lastWidth = 0
    private var startStep: Int

    public init(totalSteps: Int, startStep: Int = 0) {
        total = totalSteps
        self.startStep = startStep
    }

    public func report(step: Int, fields: [(String, String)]) {
        let done = Double(step) / Double(max(total, 1))
        let width = 24, filled = Int(done * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let elapsed = Date().timeIntervalSince(start)
        let rate = Double(step - startStep) / max(elapsed, 1e-9)
        let eta = step > startStep ? Double(total - step) / rate : .nan
        var line = String(format: "step %\(String(total).count)d/%d %@ %3.0f%%", step, total, bar, done * 100)
        for (k, v) in fields { line += " | \(k) \(v)" }
        line += " | ETA \(formatDuration(eta))"
        if isTerminal {
            let pad = max(0, lastWidth - line.count)
            print("\r" + line + String(repeating: " ", count: pad), terminator: "")
            lastWidth = line.count
        } else {
            print(line)
        }
        fflush(stdout)
    }

    /// Ends the redrawn line before other output.
    public func newline() {
        if isTerminal && lastWidth > 0 { print(""); lastWidth = 0 }
    }
}

public func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "--" }
    let s = Int(seconds.rounded())
    if s < 60 { return "\(s)s" }
    if s < 3600 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
    return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m"
}

/// Appends one JSON object per line to metrics.jsonl.
public final class MetricsLog {
    public let path: String
    private let handle: FileHandle?

    public init(path: String, truncate: Bool) {
        self.path = path
        let fm = FileManager.default
        if truncate || !fm.fileExists(atPath: path) { fm.createFile(atPath: path, contents: nil) }
        handle = FileHandle(forWritingAtPath: path)
        handle?.seekToEndOfFile()
    }

    public func append(_ record: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        handle?.write(data)
        handle?.write("\n".data(using: .utf8)!)
    }

    deinit { try? handle?.close() }

    /// Reads back the records (for plots and resumed runs).
    public static func read(_ path: String) -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }
}
