import Foundation

/// Locations of the shared reference fixtures and scratch files for the image tests.
enum ImageFixtures {
    /// TRAINER_REFERENCE_DIR (relative paths resolve against the current directory),
    /// else `../shared/reference` next to the package root.
    static var referenceDir: URL {
        if let dir = ProcessInfo.processInfo.environment["TRAINER_REFERENCE_DIR"], !dir.isEmpty {
            let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            return URL(fileURLWithPath: dir, relativeTo: cwd).standardizedFileURL
        }
        let packageRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return packageRoot.appendingPathComponent("../shared/reference").standardizedFileURL
    }

    static func reference(_ relative: String) -> String {
        referenceDir.appendingPathComponent(relative).path
    }

    /// A fresh, empty temporary directory.
    static func scratchDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("trainer-image-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
