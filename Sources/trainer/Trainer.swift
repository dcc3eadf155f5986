import ArgumentParser
import Autograd
import Core

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
        main(nil)
    }
}
