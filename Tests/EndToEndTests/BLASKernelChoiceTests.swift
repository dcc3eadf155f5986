import Foundation
import XCTest
import Autograd

/// The built `trainer` runs the BLAS self-check as a child and says which
/// kernel runs and why. Every run here keeps the kernel in force.
final class BLASKernelChoiceTests: XCTestCase {
    private func trainer(_ arguments: [String], variable: String? = "keep") throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try DataParallelTests.trainerBinary())
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env[BLASKernel.variable] = variable
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func testBlasCheckPassesAndNamesTheKernelAndWhy() throws {
        let r = try trainer(["blas-check"])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("blas-check: OpenBLAS kernel \(BLAS.coreName) (kept with TRAINER_BLAS_KERNEL=keep"), r.output)
        XCTAssertTrue(r.output.contains("blas-check: passed"), r.output)
    }

    /// `--blas-kernel` wins over the variable; naming the kernel in force needs no re-exec.
    func testTheOptionWinsOverTheVariable() throws {
        let r = try trainer(["blas-check", "--blas-kernel", BLAS.coreName, "--expect", BLAS.coreName])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("OpenBLAS kernel \(BLAS.coreName) (chosen with --blas-kernel)"), r.output)
        let wrong = try trainer(["blas-check", "--expect", "NoSuchKernel"])
        XCTAssertEqual(wrong.status, 1, wrong.output)
        XCTAssertTrue(wrong.output.contains("asked for NoSuchKernel"), wrong.output)
    }

    /// The start-up check as the start-up choice runs it: a child `trainer
    /// blas-check --expect` under the kernel in force, named.
    func testTheStartUpCheckPassesInAChild() throws {
        let result = BLASKernel.checkInChild(BLAS.coreName, executable: try DataParallelTests.trainerBinary())
        XCTAssertTrue(result.passed, result.detail)
        XCTAssertTrue(result.detail.hasPrefix("blas-check: passed"), result.detail)
    }
}
