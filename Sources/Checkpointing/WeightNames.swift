import Foundation

/// Mapping of Hugging Face checkpoint names onto MiniCPM-V parameter paths.
///
/// A MiniCPM-V checkpoint (`vpm.*`, `resampler.*`, `llm.*`) is used as is. A
/// separate vision checkpoint (SigLIP / Idefics2 names, possibly under a
/// `vision_model.` or `model.vision_model.` prefix) goes to `vpm.*`; the text
/// tower and pooling head of a full SigLIP model are left out (MiniCPM-V has
/// neither). A separate LLM checkpoint (`model.*`, `lm_head.weight`) goes to `llm.*`.
public enum WeightNames {
    /// The parameter that marks a vision tower checkpoint.
    static let visionMarker = "embeddings.patch_embedding.weight"

    /// MiniCPM-V names for the tensors a source holds: `names[new] = old`, and the
    /// names deliberately left out (sorted).
    public static func miniCPMV(names all: [String], source: String)
        throws -> (names: [String: String], ignored: [String]) {
        if all.contains(where: { $0.hasPrefix("vpm.") || $0.hasPrefix("resampler.") || $0.hasPrefix("llm.") }) {
            return (Dictionary(uniqueKeysWithValues: all.map { ($0, $0) }), [])
        }
        if let prefix = visionPrefix(all) {
            var out: [String: String] = [:], ignored: [String] = []
            for name in all {
                let rest = name.hasPrefix(prefix) ? String(name.dropFirst(prefix.count)) : nil
                if let rest, !rest.hasPrefix("head.") {
                    out["vpm." + rest] = name
                } else {
                    ignored.append(name)
                }
            }
            return (out, ignored.sorted())
        }
        if all.contains(where: { $0.hasPrefix("model.") || $0 == "lm_head.weight" }) {
            return (Dictionary(uniqueKeysWithValues: all.map { ("llm." + $0, $0) }), [])
        }
        throw CheckpointError(file: source, message: "cannot map the weights: neither a MiniCPM-V, a vision tower "
                              + "nor an LLM checkpoint (no vpm./resampler./llm., no *\(visionMarker), no model.*)")
    }

    /// The prefix before `embeddings.patch_embedding.weight`, e.g. "" or "vision_model.".
    static func visionPrefix(_ names: [String]) -> String? {
        let hits = names.filter { $0.hasSuffix(visionMarker) }
            .map { String($0.dropLast(visionMarker.count)) }
            .filter { $0.isEmpty || $0.hasSuffix(".") }
        return hits.min(by: { $0.count < $1.count })
    }
}
