import ArgumentParser
import Autograd
import Core
import Foundation

@main
struct Trainer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trainer",
        abstract: "Train MiniCPM-V-style multimodal models on the CPU.",
        version: "0.1.0",
        subcommands: [
            Preprocess.self,
            DataCommand.self,
            TokenizerCommand.self,
            Import.self,
            Export.self,
            Quantize.self,
            Run.self,
            Generate.self,
            Eval.self,
            Sample.self,
            Score.self,
            Pairs.self,
            Bench.self,
        ])

    static func main() {
        // OpenBLAS picks its kernels when it loads: re-exec with the right
        // OPENBLAS_CORETYPE before anything else runs.
        BLAS.ensureOptimizedKernels()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            // Usage mistakes are explained by the argument parser (with help);
            // everything else is one line naming the file and the problem.
            if String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") { exit(withError: error) }
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            Foundation.exit(1)
        }
    }
}
