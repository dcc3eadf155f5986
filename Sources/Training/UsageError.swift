/// A call into the training library that cannot work as asked: a setting out of range
/// (a DPO beta, a sampling temperature, a benchmark preset, a pairing rule) or inputs
/// that disagree (batch sizes, candidates and reference sets). `context` names the
/// part ("sampling", "DPO loss", …), `message` the problem.
///
/// The library's other errors: `RecipeError` (recipe files), `DataError` and
/// `ImageError` (data), `ModelError` (configs and batches), `CheckpointError`
/// (checkpoints and weights) and `NonFiniteError` (a step that is not applied).
public struct UsageError: Error, CustomStringConvertible {
    public let context: String
    public let message: String
    public init(_ context: String, _ message: String) { self.context = context; self.message = message }
    public var description: String { "\(context): \(message)" }
}
