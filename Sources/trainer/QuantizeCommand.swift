import ArgumentParser
import Foundation
import Training

/// `trainer quantize --checkpoint FILE --calibration DATA --bits 4 --group-size 128 --out FILE`
struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Quantize the LLM's linear layers of a checkpoint to 4 or 8 bits (GPTQ or round-to-nearest); "
            + "the result loads in eval and generate.")

    @Option(help: "The float checkpoint to quantize.")
    var checkpoint: String
    @Option(help: "Calibration data (captions JSONL or conversations JSON); needed by GPTQ.")
    var calibration: String?
    @Option(help: "Bits per weight: 4 or 8.")
    var bits: Int = 4
    @Option(name: .customLong("group-size"), help: "Weights of a row that share a scale and zero (the last group of a row may be shorter).")
    var groupSize: Int = 128
    @Flag(name: .customLong("act-order"), help: "GPTQ: quantize the columns with the largest Hessian diagonal first.")
    var actOrder = false
    @Option(help: "gptq, rtn (round-to-nearest), or q4_0 / q8_0 (llama.cpp's GGUF blocks of 32, for comparison).")
    var method: String = "gptq"
    @Option(help: "Calibration samples (the first ones of the file).")
    var samples: Int = 256
    @Option(help: "The quantized checkpoint to write.")
    var out: String

    func validate() throws {
        guard QuantizationMethod(rawValue: method) != nil else {
            throw ValidationError("--method must be gptq, rtn, q4_0 or q8_0, got '\(method)'")
        }
        if samples < 1 { throw ValidationError("--samples must be at least 1") }
    }

    func run() throws {
        var o = QuantizationOptions()
        o.bits = bits; o.groupSize = groupSize; o.actOrder = actOrder
        o.method = QuantizationMethod(rawValue: method)!; o.samples = samples
        o.log = { print($0) }
        let r = try ModelQuantization.run(checkpoint: checkpoint, calibration: calibration, out: out, options: o)
        let grid = o.method.blockType == nil ? "\(bits)-bit, group \(groupSize)\(actOrder ? ", act-order" : "")" : "blocks of 32"
        print("\(method) \(grid): \(r.summary) → \(out)")
    }
}
