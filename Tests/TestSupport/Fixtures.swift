import Foundation

/// Where the tests find the package, the shared reference fixtures and scratch space.
public enum Fixtures {
    /// The package root (the folder holding Package.swift).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The reference fixtures: `TRAINER_REFERENCE_DIR` (a relative path resolves
    /// against the current directory), else `../shared/reference` beside the package root.
    public static var referenceRoot: URL {
        if let dir = ProcessInfo.processInfo.environment["TRAINER_REFERENCE_DIR"], !dir.isEmpty {
            let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true)
            return URL(fileURLWithPath: dir, relativeTo: cwd).standardizedFileURL
        }
        return packageRoot.appendingPathComponent("../shared/reference").standardizedFileURL
    }

    /// The path of a file under the reference fixtures.
    public static func reference(_ relative: String) -> String {
        referenceRoot.appendingPathComponent(relative).path
    }

    /// A fresh, empty temporary directory named after `prefix`.
    public static func scratchDirectory(_ prefix: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
