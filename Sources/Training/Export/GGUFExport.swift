import Checkpointing
import Foundation
import Models
import NN
import Tokenizers

/// `trainer export --gguf DIR`: the two files llama.cpp's MiniCPM-V support reads.
///
/// - `model-<type>.gguf`: the LLM as llama.cpp's `qwen2` architecture (tensor names
///   `token_embd`, `blk.N.attn_q`, …, `output_norm`, `output`) with the tokenizer
///   (`gpt2` byte-level BPE: tokens, token types, merges, special ids). 2-D weights
///   take the chosen type; norms and biases stay F32; a weight whose rows are not
///   whole 32-value blocks falls back to F16 (as llama.cpp's converter does).
/// - `mmproj-model-f16.gguf`: the vision tower and the resampler as a `clip` file
///   with `clip.projector_type = resampler` (`GGUFVisionExport`).
public enum GGUFExport {
    public static func run(checkpoint: String, directory: String, type: GGMLType,
                           tokenizer: String? = nil) throws -> String {
        let generator = try Generator(checkpoint: checkpoint, tokenizer: tokenizer)
        let model = generator.model
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let llm = try languageModel(model, tokenizer: generator.builder.tokenizer, type: type,
                                    name: (checkpoint as NSString).lastPathComponent)
        let llmPath = (directory as NSString).appendingPathComponent("model-\(type.name.lowercased()).gguf")
        try llm.write(to: llmPath)
        let vision = try GGUFVisionExport.file(model)
        let visionPath = (directory as NSString).appendingPathComponent("mmproj-model-f16.gguf")
        try vision.write(to: visionPath)
        let fallbacks = llm.tensors.filter { $0.shape.count == 2 && $0.type != type }.count
        return "wrote \(llmPath) (\(llm.tensors.count) tensors, \(type.name)"
            + (fallbacks > 0 && type != .f32 ? "; \(fallbacks) weights with rows not a multiple of 32 as F16" : "")
            + ") and \(visionPath) (\(vision.tensors.count) tensors)"
            + (model.config.resampler.positionInValues
               ? "\nwarning: this resampler adds the 2-D positions to its values too (resampler.position_in_values); "
                 + "llama.cpp's adds them to the keys only, so its vision tokens will differ from this model's" : "")
            + (positionSide(model) != llamaPositionSide
               ? "\nwarning: this vision tower's position table is \(positionSide(model)) × \(positionSide(model)); llama.cpp's "
                 + "MiniCPM-V encoder buckets positions into \(llamaPositionSide) × \(llamaPositionSide) (the real models' table), "
                 + "so it reads outside this table and stops (measured with llama-mtmd-cli); the LLM file is not affected" : "")
    }

    /// The side of the position grid llama.cpp's MiniCPM-V encoder assumes (980 px / 14).
    static let llamaPositionSide = 70

    /// The side of a vision tower's position table (its image size in patches).
    static func positionSide(_ model: MiniCPMV) -> Int { model.config.vision.imageSize / model.config.vision.patchSize }

    /// llama.cpp's `general.file_type` for a file whose weights are mostly `type`.
    static func fileType(_ type: GGMLType) -> UInt32 {
        switch type {
        case .f32: return 0
        case .f16: return 1
        case .q4_0: return 2
        case .q8_0: return 7
        }
    }

    /// A 2-D weight as `type`, or F16 when its rows are not whole blocks.
    static func weight(_ name: String, _ p: Parameter, _ type: GGMLType) -> GGUFTensor {
        let t = p.shape.last! % type.block.values == 0 ? type : .f16
        return GGUFTensor(name: name, shape: p.shape, type: t, values: p.value.scalars)
    }

    static func float(_ name: String, _ p: Parameter) -> GGUFTensor {
        GGUFTensor(name: name, shape: p.shape, type: .f32, values: p.value.scalars)
    }

    public static func languageModel(_ model: MiniCPMV, tokenizer: Tokenizer, type: GGMLType, name: String) throws -> GGUFFile {
        let c = model.config.llm
        guard c.modelType == .qwen2 else {
            throw UsageError("export --gguf", "only Qwen2 LLMs (MiniCPM-V 2.6 style) are written as GGUF; this one is \(c.modelType.rawValue)")
        }
        let a = "qwen2"
        var f = GGUFFile()
        f.metadata = [
            ("general.architecture", .string(a)),
            ("general.name", .string(name)),
            ("general.file_type", .uint32(fileType(type))),
            ("general.quantization_version", .uint32(2)),
            ("general.alignment", .uint32(UInt32(GGUFFile.alignment))),
            ("\(a).context_length", .uint32(UInt32(c.maxPositionEmbeddings))),
            ("\(a).embedding_length", .uint32(UInt32(c.hiddenSize))),
            ("\(a).block_count", .uint32(UInt32(c.numHiddenLayers))),
            ("\(a).feed_forward_length", .uint32(UInt32(c.intermediateSize))),
            ("\(a).attention.head_count", .uint32(UInt32(c.numAttentionHeads))),
            ("\(a).attention.head_count_kv", .uint32(UInt32(c.numKeyValueHeads))),
            ("\(a).rope.freq_base", .float32(Float(c.ropeTheta))),
            ("\(a).attention.layer_norm_rms_epsilon", .float32(Float(c.rmsNormEps))),
        ]
        f.metadata += try tokenizerMetadata(tokenizer, vocabSize: c.vocabSize)

        let llm = model.llm, stack = llm.model
        f.tensors.append(weight("token_embd.weight", stack.embedTokens.weight, type))
        for (i, layer) in stack.layers.enumerated() {
            let b = "blk.\(i)", at = layer.attention, m = layer.mlp
            f.tensors.append(float("\(b).attn_norm.weight", layer.inputNorm.weight))
            for (n, lin) in [("attn_q", at.qProj), ("attn_k", at.kProj), ("attn_v", at.vProj), ("attn_output", at.outProj)] {
                f.tensors.append(weight("\(b).\(n).weight", lin.weight, type))
                if let bias = lin.bias { f.tensors.append(float("\(b).\(n).bias", bias)) }
            }
            f.tensors.append(float("\(b).ffn_norm.weight", layer.postAttentionNorm.weight))
            for (n, lin) in [("ffn_gate", m.gate), ("ffn_up", m.up), ("ffn_down", m.down)] {
                f.tensors.append(weight("\(b).\(n).weight", lin.weight, type))
                if let bias = lin.bias { f.tensors.append(float("\(b).\(n).bias", bias)) }
            }
        }
        f.tensors.append(float("output_norm.weight", stack.norm.weight))
        if let head = llm.lmHead { f.tensors.append(weight("output.weight", head.weight, type)) }
        return f
    }

    /// llama.cpp's `gpt2` tokenizer keys from a byte-level BPE tokenizer.json. Ids the
    /// file lacks up to the model's vocabulary size become unused `[PADn]` tokens.
    static func tokenizerMetadata(_ t: Tokenizer, vocabSize: Int) throws -> [(key: String, value: GGUFValue)] {
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: t.source)))
        } catch {
            throw CheckpointError(file: t.source, message: "cannot read the tokenizer for GGUF export: \(error.localizedDescription)")
        }
        guard let root = json as? [String: Any], let model = root["model"] as? [String: Any],
              (model["type"] as? String) == "BPE", let rawMerges = model["merges"] as? [Any] else {
            throw CheckpointError(file: t.source, message: "not a BPE tokenizer.json (GGUF export writes llama.cpp's gpt2 tokenizer)")
        }
        guard t.vocabSize <= vocabSize else {
            throw CheckpointError(file: t.source, message: "the tokenizer has \(t.vocabSize) ids, the model only \(vocabSize)")
        }
        let merges: [String] = rawMerges.compactMap { m in
            if let s = m as? String { return s }
            if let pair = m as? [String], pair.count == 2 { return pair[0] + " " + pair[1] }
            return nil
        }
        var tokens: [String] = [], types: [Int32] = []
        for id in 0..<vocabSize {
            if id < t.vocabSize, let s = t.token(of: Int32(id)) {
                tokens.append(s)
                // 1 normal, 3 control (special added tokens), 4 user-defined (other added tokens).
                let added = t.addedTokens.first { $0.id == Int32(id) }
                types.append(added.map { $0.special ? 3 : 4 } ?? 1)
            } else {
                tokens.append("[PAD\(id)]"); types.append(5)
            }
        }
        var out: [(key: String, value: GGUFValue)] = [
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string("qwen2")),
            ("tokenizer.ggml.tokens", .strings(tokens)),
            ("tokenizer.ggml.token_type", .int32s(types)),
            ("tokenizer.ggml.merges", .strings(merges)),
        ]
        let eos = t.id(of: "<|im_end|>") ?? t.id(of: "<|endoftext|>")
        if let bos = t.id(of: "<|endoftext|>") { out.append(("tokenizer.ggml.bos_token_id", .uint32(UInt32(bos)))) }
        if let eos { out.append(("tokenizer.ggml.eos_token_id", .uint32(UInt32(eos)))) }
        if let pad = t.id(of: "<|endoftext|>") { out.append(("tokenizer.ggml.padding_token_id", .uint32(UInt32(pad)))) }
        out.append(("tokenizer.ggml.add_bos_token", .bool(false)))
        out.append(("tokenizer.chat_template", .string(
            "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
            + "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")))
        return out
    }
}
