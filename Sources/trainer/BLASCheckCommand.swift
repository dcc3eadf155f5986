import ArgumentParser
import Foundation
import Autograd

/// `trainer blas-check`: the self-test of the OpenBLAS kernel in force (the
/// start-up kernel choice runs it in a child process before it switches).
struct BLASCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blas-check",
        abstract: "Check the OpenBLAS kernel in force: sgemm, sgemv and the LAPACK routines used, against a simple reference.")

    @Option(name: .long, help: "Fail unless OpenBLAS runs this kernel family (the start-up choice asks for the one it tries).")
    var expect: String?

    func run() throws {
        print("blas-check: OpenBLAS kernel \(BLAS.kernelDescription)")
        if let expect, expect.lowercased() != BLAS.coreName.lowercased() {
            print("blas-check: FAILED: asked for \(expect), OpenBLAS runs \(BLAS.coreName)")
            throw ExitCode(1)
        }
        let report = BLASSelfCheck.run()
        for failure in report.failures.prefix(10) { print("  \(failure)") }
        let summary = "\(report.cases) products and factorisations in \(String(format: "%.0f", report.seconds * 1000)) ms"
        if report.passed {
            print("blas-check: passed, \(summary)")
        } else {
            print("blas-check: FAILED \(report.failures.count) of \(summary)")
            throw ExitCode(1)
        }
    }
}
