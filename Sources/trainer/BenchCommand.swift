import ArgumentParser
import Foundation
import Autograd
import Core
import Training

/// `trainer bench`: engine speed on this machine.
///
///   trainer bench --matmul [--threads N]    engine matmul vs raw cblas_sgemm
///   trainer bench --kernels [--threads N]   elementwise, norm, softmax, loss and attention kernels
///   trainer bench --preset tiny|small [--threads N] [--steps N] [--gemm-profile]
///                                           a full training step; last line JSON
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure speed: a full training step at a preset, matmul against raw sgemm, the engine's kernels.")

    @Flag(name: .long, help: "Engine matmul GFLOP/s next to raw cblas_sgemm at the same shapes.")
    var matmul = false

    @Flag(name: .long, help: "Forward and backward times of the engine's own kernels.")
    var kernels = false

    @Option(name: .long, help: "Only kernels whose label contains this text (with --kernels).")
    var only: String?

    @Option(name: .long, help: "Threads for the engine and OpenBLAS (default: TRAINER_THREADS or all cores).")
    var threads: Int?

    @Option(name: .long, help: "Seconds spent on each shape or kernel.")
    var seconds: Double = 1

    @Option(name: .long, help: "A full training step (vision, resampler and LLM trainable, AdamW) at this preset: tiny, small, or the real shapes minicpm-v-2 / minicpm-v-2_6 (random weights).")
    var preset: String?

    @Option(name: .long, help: "Timed training steps (with --preset).")
    var steps: Int = 5

    @Option(name: .long, help: "Untimed steps before them (with --preset).")
    var warmup: Int = 2

    @Flag(name: .long, help: "After the timed steps, one more step with every sgemm call timed: where the BLAS time goes (with --preset).")
    var gemmProfile = false

    @Option(name: .long, help: "Train LoRA adapters of this rank on the LLM's attention projections and the resampler in full; the rest frozen (with --preset).")
    var lora: Int?

    @Flag(name: .long, help: "Recompute every vision and decoder layer in backward instead of keeping its activations (with --preset).")
    var recompute = false

    @Flag(name: .long, help: "Keep the frozen weights in bfloat16 (with --preset and --lora).")
    var bf16 = false

    func validate() throws {
        if !matmul && !kernels && preset == nil {
            throw ValidationError("choose what to measure: --preset tiny|small, --matmul and/or --kernels")
        }
        if steps < 1 { throw ValidationError("--steps must be at least 1") }
        if warmup < 0 { throw ValidationError("--warmup must be at least 0") }
        if gemmProfile && preset == nil { throw ValidationError("--gemm-profile needs --preset") }
        if (lora != nil || recompute) && preset == nil { throw ValidationError("--lora and --recompute need --preset") }
        if let lora, lora < 1 { throw ValidationError("--lora must be a positive rank") }
        if bf16 && lora == nil { throw ValidationError("--bf16 keeps frozen weights in bf16: it needs --lora (without it everything trains)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if seconds <= 0 { throw ValidationError("--seconds must be positive") }
    }

    func run() throws {
        if let threads { Threads.set(threads) }
        print(benchHeader())
        if matmul { printMatmulTable(MatmulBenchmark.run(secondsPerShape: seconds)) }
        if kernels { printKernelTable(KernelBenchmark.run(filter: only, secondsPerCase: seconds / 2)) }
        if let preset {
            let r = try TrainingBenchmark.run(preset: preset, threads: Threads.count, steps: steps, warmup: warmup,
                                              gemmProfile: gemmProfile, loraRank: lora, recompute: recompute, bf16: bf16) { print($0); fflush(stdout) }
            print(r.jsonLine)
        }
    }
}

/// The run header: BLAS kernel family and thread budget.
func benchHeader() -> String {
    "trainer bench — BLAS kernel \(BLAS.kernelDescription), \(Threads.count) thread\(Threads.count == 1 ? "" : "s")"
}

private func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - s.count))
    return right ? fill + s : s + fill
}

private func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }

func printMatmulTable(_ rows: [MatmulBenchmark.Row]) {
    print("")
    print(pad("shape", 14) + pad("M×N×K", 18) + pad("engine GFLOP/s", 16, right: true)
          + pad("sgemm GFLOP/s", 16, right: true) + pad("engine/sgemm", 14, right: true))
    for r in rows {
        let s = r.shape
        let dims = "\(s.m)×\(s.n)×\(s.k)\(s.transposeB ? "ᵀ" : "")"
        print(pad(s.label, 14) + pad(dims, 18) + pad(fixed(r.engineGFLOPS, 1), 16, right: true)
              + pad(fixed(r.rawGFLOPS, 1), 16, right: true) + pad(fixed(100 * r.ratio, 1) + " %", 14, right: true))
    }
}

func printKernelTable(_ rows: [KernelBenchmark.Row]) {
    print("")
    print(pad("kernel", 22) + pad("inputs", 36) + pad("forward ms", 12, right: true) + pad("backward ms", 13, right: true))
    for r in rows {
        print(pad(r.label, 22) + pad(r.shape, 36) + pad(fixed(r.forwardSeconds * 1e3, 2), 12, right: true)
              + pad(r.backwardSeconds.map { fixed($0 * 1e3, 2) } ?? "—", 13, right: true))
    }
}
