import ArgumentParser
import Autograd
import Core
import Foundation
import Training

/// `trainer eval --checkpoint FILE --data FILE`
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "How well a checkpoint sees: held-out loss with the right and with swapped images, BLEU-4 and "
            + "CIDEr-D of generated answers, and on the synthetic world per-attribute accuracy, recall, "
            + "hallucination rates and the character error rate of document readings.")

    @Option(help: "The checkpoint to evaluate.")
    var checkpoint: String
    @Option(help: "A held-out data file (captions JSONL, conversations JSON or preference JSONL).")
    var data: String
    @Option(help: "Ask this for every image instead of the file's questions (e.g. \"Describe this image in detail.\").")
    var prompt: String?
    @Option(help: "Answer at most this many questions (one per image for captions).")
    var limit: Int = 64
    @Option(name: .customLong("max-tokens"), help: "Longest answer.")
    var maxTokens: Int = 96
    @Option(help: "Ground truth of the synthetic world (default: metadata.jsonl beside the data file).")
    var metadata: String?
    @Option(help: "Write every generated answer, with the checker's claims and verdicts, to this JSONL file.")
    var answers: String?
    @Option(help: "Tokenizer, for a checkpoint without a recipe inside (imported weights).")
    var tokenizer: String?
    @Flag(name: .customLong("loss-only"), help: "Only the held-out losses; generate nothing.")
    var lossOnly = false
    @Flag(name: .customLong("no-loss"), help: "Only the generated answers; skip the held-out losses.")
    var noLoss = false
    @Flag(help: "Print the JSON report.")
    var json = false
    @Flag(help: "Print every generated answer.")
    var verbose = false

    func validate() throws {
        if lossOnly && noLoss { throw ValidationError("--loss-only and --no-loss exclude each other") }
        if lossOnly && answers != nil { throw ValidationError("--answers needs generated answers; drop --loss-only") }
        if limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        var o = EvaluationOptions()
        o.prompt = prompt; o.limit = limit; o.maxTokens = maxTokens; o.metadata = metadata
        o.answers = answers; o.skipLoss = noLoss; o.skipAnswers = lossOnly; o.tokenizer = tokenizer
        if verbose { o.log = { print($0) } }
        let r = try Evaluation.run(checkpoint: checkpoint, data: data, options: o)
        if json {
            let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(r), as: UTF8.self))
        } else {
            print("\(checkpoint) on \(data): \(r.summary)")
        }
    }
}
