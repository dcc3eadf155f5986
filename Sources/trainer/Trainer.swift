import ArgumentParser
import Autograd
import Core
import Foundation

@main
struct Trainer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trainer",
        abstract: "Train MiniCPM-V-style multimodal models on the CPU.",
        discussion: """
            The OpenBLAS kernel is chosen at start-up: when the CPU offers a faster kernel family than the one \
            in force, it is checked in a child process (`trainer blas-check`) and used when it passes. \
            `--blas-kernel NAME` (before or after the subcommand) or TRAINER_BLAS_KERNEL=NAME chooses it instead: \
            a family such as SkylakeX or Haswell, `keep` for the one in force, `auto` for the automatic choice.
            """,
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
            BLASCheck.self,
        ])

    static func main() {
        // OpenBLAS picks its kernels when it loads: decide them (re-executing
        // with OPENBLAS_CORETYPE when they change) before anything else runs.
        let arguments = BLASKernel.selectAtStartUp()
        do {
            var command = try parseAsRoot(Array(arguments.dropFirst()))
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
