import Foundation
import Autograd
import Core
import NN
import Models
import Optimizers

/// What `trainer bench --preset` reports, as one JSON object (the last line of
/// its output; bench/torch_reference.py prints the same keys).
public struct BenchmarkResult: Codable, Equatable {
    public var preset: String
    public var threads: Int
    /// rows · seq_len / median step time.
    public var tokensPerSecond: Double
    public var imagesPerSecond: Double
    public var stepMillisecondsMedian: Double
    /// Peak resident memory of the process (VmHWM), in MiB.
    public var peakRSSMegabytes: Double
    /// The step's matmul FLOPs (`BenchmarkPreset.matmulFLOPs`) / median step time.
    public var matmulGFLOPS: Double
    /// Best sgemm 1024³ on the same threads.
    public var sgemmPeakGFLOPS: Double

    enum CodingKeys: String, CodingKey, CaseIterable {
        case preset, threads
        case tokensPerSecond = "tokens_per_s"
        case imagesPerSecond = "images_per_s"
        case stepMillisecondsMedian = "step_ms_median"
        case peakRSSMegabytes = "peak_rss_mb"
        case matmulGFLOPS = "matmul_gflops"
        case sgemmPeakGFLOPS = "sgemm_peak_gflops"
    }

    /// The JSON keys, in the order `jsonLine` writes them.
    public static let jsonKeys = CodingKeys.allCases.map(\.rawValue)

    /// One line of JSON with the keys in the documented order.
    public var jsonLine: String {
        func number(_ x: Double) -> String {
            guard x.isFinite else { return "null" }
            return "\((x * 1000).rounded() / 1000)"
        }
        let values: [String] = ["\"\(preset)\"", "\(threads)", number(tokensPerSecond), number(imagesPerSecond),
                                number(stepMillisecondsMedian), number(peakRSSMegabytes), number(matmulGFLOPS),
                                number(sgemmPeakGFLOPS)]
        return "{" + zip(Self.jsonKeys, values).map { "\"\($0)\": \($1)" }.joined(separator: ", ") + "}"
    }
}

/// A full training step at a preset: vision tower, resampler and LLM all
/// trainable, AdamW over every parameter, Float32, on random data in the
/// packing layout of `BenchmarkPreset`.
public enum TrainingBenchmark {
    /// Builds the preset model, runs `warmup` untimed steps then `steps` timed
    /// ones, and reports medians. `log` receives the header and one line per step.
    ///
    /// - seqLen: overrides the preset's row length (quick tests).
    /// - gemmProfile: after the timed steps, run one more with every sgemm call
    ///   recorded (`GEMMProfile`) and log the table of shapes, slowest first.
    /// - loraRank: train LoRA adapters of this rank on the LLM's attention
    ///   projections and the resampler in full, the rest frozen (nil: everything trains).
    /// - recompute: recompute every vision and decoder layer in backward.
    public static func run(preset name: String, threads: Int, steps: Int, warmup: Int = 2, seqLen: Int? = nil,
                           gemmProfile: Bool = false, loraRank: Int? = nil, recompute: Bool = false,
                           bf16: Bool = false, log: (String) -> Void) throws -> BenchmarkResult {
        guard threads >= 1 else { throw UsageError("benchmark", "threads must be at least 1, got \(threads)") }
        guard steps >= 1, warmup >= 0 else { throw UsageError("benchmark", "need at least one timed step (steps \(steps), warm-up \(warmup))") }
        let preset = try BenchmarkPreset.named(name, seqLen: seqLen)
        Threads.set(threads)
        var rng = RNG(seed: 0).derived("bench")
        // With bf16, the weights that stay frozen are narrowed as they are filled: with LoRA
        // every linear and embedding weight outside the resampler, else none (all train).
        let narrowed: ((String) -> Bool)? = bf16 && loraRank != nil ? { !Module.path($0, isUnder: "resampler") } : nil
        let lora = try loraRank.map { rank -> Recipe.LoRASpec in
            guard rank > 0 else { throw UsageError("benchmark", "LoRA rank must be positive, got \(rank)") }
            return Recipe.LoRASpec(rank: rank, alpha: Double(rank), dropout: 0,
                                   targets: Recipe.LoRASpec.attentionTargets, full: ["resampler"])
        }
        func prepare(_ model: MiniCPMV) {
            model.recomputeLayers = recompute
            if let lora {
                LoRA.attach(lora.config, to: model, rng: RNG(seed: 0).derived("lora"))
                RunSetup.applyTrainable([], lora: lora, to: model)
            }
        }
        // The plan, from the shapes alone (a model whose weights are never written), before anything is allocated.
        let plan: MemoryPlan = {
            let shapes = MiniCPMV(config: preset.config, seed: 0, initialize: false)
            prepare(shapes)
            return MemoryPlan(model: shapes, narrowed: narrowed.map { Set(shapes.bf16EligiblePaths().filter($0)) } ?? [],
                              tokens: preset.tokenCount, labelled: preset.tokenCount - preset.imageCount * preset.config.queryNum,
                              samples: preset.rows * preset.samplesPerRow, slices: preset.imageCount,
                              patchesPerSlice: preset.patchesPerSide * preset.patchesPerSide, recompute: recompute)
        }()
        log("memory: " + plan.summary)
        if let available = MemoryPlan.availableBytes(), plan.totalBytes > available {
            throw UsageError("benchmark", String(format: "the step needs about %.1f GB but %.1f GB are available; ", plan.totalBytes / 1e9, available / 1e9)
                             + "what helps: " + [loraRank == nil ? "--lora R (train adapters, not every weight)" : nil,
                                                 bf16 || loraRank == nil ? nil : "--bf16 (frozen weights in bfloat16)",
                                                 recompute ? nil : "--recompute (keep only each layer's input)",
                                                 "TRAINER_POOL_MB=0 (no spare buffers kept)"].compactMap { $0 }.joined(separator: ", "))
        }
        let model = preset.isRealSize ? fastRandomModel(preset.config, bf16: narrowed)
            : MiniCPMV(config: preset.config, seed: 0, bf16: narrowed)
        prepare(model)
        let parameters = model.namedParameters().filter { $0.parameter.isTrainable }
        let input = preset.makeInput(rng: &rng)
        let optimizer = AdamW(beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1)
        log(header(preset, parameters: model.parameterCount, threads: threads))
        if loraRank != nil || recompute || bf16 {
            log("training " + (loraRank.map { "LoRA rank \($0) on the LLM's attention projections + the resampler" } ?? "every parameter")
                + String(format: " (%.2f M trainable)", Double(parameters.reduce(0) { $0 + $1.parameter.value.count }) / 1e6)
                + (recompute ? "; layers recomputed in backward" : "")
                + (narrowed != nil ? "; frozen weights in bf16" : ""))
        }

        StorageStats.resetPeak()       // the steps' peak, not the construction's (lazily committed weights)
        var samples: [StepTimes] = []
        for i in 0..<(warmup + steps) {
            let t = try trainingStep(model, parameters, optimizer, input)
            let timed = i >= warmup
            if timed { samples.append(t) }
            log(String(format: "%@ %d/%d: %.1f ms (forward %.1f, backward %.1f, optimizer %.1f; cpu %.1f ms), loss %.4f",
                       timed ? "step" : "warm-up", timed ? i - warmup + 1 : i + 1, timed ? steps : warmup,
                       t.total * 1e3, t.forward * 1e3, t.backward * 1e3, t.optimizer * 1e3, t.cpu * 1e3, t.loss))
        }
        let median = samples.map(\.total).median
        log(String(format: "median %.1f ms: forward %.1f, backward %.1f, optimizer %.1f; peak tensor memory %.0f MiB",
                   median * 1e3, samples.map(\.forward).median * 1e3, samples.map(\.backward).median * 1e3,
                   samples.map(\.optimizer).median * 1e3, Double(StorageStats.peakBytes) / 1_048_576))
        if gemmProfile {
            GEMMProfile.start()
            let t = try trainingStep(model, parameters, optimizer, input)
            GEMMProfile.stop().table(stepSeconds: t.total).forEach(log)
        }
        let peak = sgemmPeakGFLOPS()
        return BenchmarkResult(preset: preset.name, threads: threads,
                               tokensPerSecond: Double(preset.tokenCount) / median,
                               imagesPerSecond: Double(preset.imageCount) / median,
                               stepMillisecondsMedian: median * 1e3,
                               peakRSSMegabytes: peakResidentMegabytes(),
                               matmulGFLOPS: preset.matmulFLOPs / median / 1e9,
                               sgemmPeakGFLOPS: peak)
    }

    /// A model of real size with random weights drawn in parallel (the seeded
    /// initialisation draws one value at a time, minutes for billions): every
    /// matrix uniform in ±1/√fan-in, vectors as their initializer says, and the
    /// weights `bf16` selects narrowed as soon as they are drawn.
    static func fastRandomModel(_ config: MiniCPMVConfig, bf16: ((String) -> Bool)?) -> MiniCPMV {
        let model = MiniCPMV(config: config, seed: 0, initialize: false)
        let narrowed = bf16.map { Set(model.bf16EligiblePaths().filter($0)) } ?? []
        let base = RNG(seed: 0).derived("bench-weights")
        for (path, p) in model.namedParameters() {
            if p.shape.count == 2 {
                let stream = base.derived(path), bound = 1 / Float(p.shape[1]).squareRoot()
                let v = p.value.pointer
                parallelFor(p.count, grain: 1 << 16) { range in
                    for i in range { v[i] = (2 * uniform24(stream.draw(UInt64(i))) - 1) * bound }
                }
            } else {
                var stream = base.derived(path)
                p.initializer.fill(p.value, rng: &stream)
            }
            if narrowed.contains(path) { p.isTrainable = false; p.storeInBF16() }
        }
        model.resampler.startSpatially(patchGrid: config.vision.imageSize / config.vision.patchSize)
        return model
    }

    static func header(_ p: BenchmarkPreset, parameters: Int, threads: Int) -> String {
        "trainer bench — BLAS kernel \(BLAS.kernelDescription), \(threads) thread\(threads == 1 ? "" : "s")\n"
            + String(format: "preset %@: %.2f M parameters, %d images, %d × %d tokens (%d samples per row), %.2f matmul GFLOP per step",
                     p.name, Double(parameters) / 1e6, p.imageCount, p.rows, p.seqLen, p.samplesPerRow, p.matmulFLOPs / 1e9)
    }

    struct StepTimes {
        var forward = 0.0, backward = 0.0, optimizer = 0.0, cpu = 0.0
        var loss: Float = 0
        var total: Double { forward + backward + optimizer }
    }

    /// Forward, loss, backward, AdamW update, gradients cleared.
    static func trainingStep(_ model: MiniCPMV, _ parameters: [(path: String, parameter: Parameter)],
                             _ optimizer: AdamW, _ input: MiniCPMVInput) throws -> StepTimes {
        var t = StepTimes()
        let cpu0 = processCPUSeconds(), t0 = benchClock()
        let (lossSum, count) = try model.loss(input)
        let loss = lossSum * (1 / Float(max(count, 1)))
        let t1 = benchClock()
        loss.backward()
        let t2 = benchClock()
        optimizer.update(parameters.map {
            OptimizerTensor(path: $0.path, value: $0.parameter.value, grad: $0.parameter.grad,
                            decays: $0.parameter.value.rank >= 2)
        }, lr: 1e-5)
        for (_, p) in parameters { p.zeroGrad() }
        let t3 = benchClock()
        t.forward = t1 - t0; t.backward = t2 - t1; t.optimizer = t3 - t2
        t.cpu = processCPUSeconds() - cpu0
        t.loss = loss.item
        return t
    }

    /// Best GFLOP/s of sgemm 1024 × 1024 × 1024 over about `seconds`, on the
    /// current thread budget (the ceiling the step's matmuls are measured against).
    public static func sgemmPeakGFLOPS(seconds: Double = 1) -> Double {
        let n = 1024
        var rng = RNG(seed: 1)
        let a = Tensor.uniform([n, n], low: -1, high: 1, rng: &rng)
        let b = Tensor.uniform([n, n], low: -1, high: 1, rng: &rng)
        let c = Tensor.zeros([n, n])
        for _ in 0..<3 { BLAS.rawSgemm(m: n, n: n, k: n, a: a.pointer, b: b.pointer, c: c.pointer) }
        var best = Double.infinity
        let start = benchClock()
        repeat {
            let t0 = benchClock()
            BLAS.rawSgemm(m: n, n: n, k: n, a: a.pointer, b: b.pointer, c: c.pointer)
            best = min(best, benchClock() - t0)
        } while benchClock() - start < seconds
        return 2 * Double(n * n * n) / best / 1e9
    }

    /// VmHWM of /proc/self/status in MiB (the lifetime peak resident set, as
    /// getrusage's ru_maxrss); 0 where /proc is missing.
    public static func peakResidentMegabytes() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let kb = kilobytes("VmHWM", in: status) else { return 0 }
        return kb / 1024
    }

    /// The value of a `NAME: … kB` line of a /proc file ("VmHWM:\t10183532 kB": the
    /// separator is a tab, and spaces pad numbers under eight digits).
    public static func kilobytes(_ name: String, in text: String) -> Double? {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
        return line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap { Double($0) }
    }
}

/// Seconds on a monotonic clock.
func benchClock() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// User + system CPU seconds of the whole process (all threads).
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

extension Array where Element == Double {
    /// The middle value (mean of the two middle ones for an even count).
    var median: Double {
        guard !isEmpty else { return .nan }
        let s = sorted(), m = s.count / 2
        return s.count % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2
    }
}
