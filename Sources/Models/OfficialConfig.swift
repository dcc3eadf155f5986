import Foundation

extension MiniCPMVConfig {
    /// The Hugging Face repository whose remote code matches each version's names.
    static let officialRepositories = ["2.6": "openbmb/MiniCPM-V-2_6", "2.5": "openbmb/MiniCPM-Llama3-V-2_5"]

    /// The config in the official MiniCPM-V `config.json` layout: LLM fields at
    /// top level, `vision_config`, `query_num`, `version` (a number),
    /// `slice_config`, `drop_vision_last_layer`, plus our `llm_model_type`,
    /// `resampler` and `special_token_ids` so that it decodes back exactly.
    public func officialJSON() throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try e.encode(OfficialLayout(config: self)), as: UTF8.self)
    }

    private struct OfficialLayout: Encodable {
        let config: MiniCPMVConfig

        func encode(to encoder: Encoder) throws {
            let c0 = config
            var c = encoder.container(keyedBy: AnyKey.self)
            try c.put("architectures", ["MiniCPMV"])
            try c.put("model_type", "minicpmv")
            try c.put("llm_model_type", c0.llm.modelType.rawValue)
            if let v = Double(c0.version) { try c.put("version", v) } else { try c.put("version", c0.version) }
            try c0.llm.encodeFields(into: &c)
            try c.put("vision_config", c0.vision)
            try c.put("query_num", c0.queryNum)
            try c.put("image_size", c0.sliceConfig.scaleResolution)
            try c.put("patch_size", c0.vision.patchSize)
            try c.put("slice_mode", true)
            try c.put("batch_vision_input", true)
            try c.put("slice_config", OfficialSlice(slice: c0.sliceConfig))
            try c.put("drop_vision_last_layer", c0.dropVisionLastLayer)
            try c.put("use_image_id", c0.useImageId)
            try c.put("resampler", c0.resampler)
            try c.put("special_token_ids", c0.specialTokenIds)
            try c.put("torch_dtype", "float32")
            if let repo = MiniCPMVConfig.officialRepositories[c0.version] {
                try c.put("auto_map", [
                    "AutoConfig": "\(repo)--configuration_minicpm.MiniCPMVConfig",
                    "AutoModel": "\(repo)--modeling_minicpmv.MiniCPMV",
                    "AutoModelForCausalLM": "\(repo)--modeling_minicpmv.MiniCPMV",
                ])
            }
        }
    }

    private struct OfficialSlice: Encodable {
        let slice: SliceConfig
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: AnyKey.self)
            try c.put("max_slice_nums", slice.maxSliceNums)
            try c.put("scale_resolution", slice.scaleResolution)
            try c.put("patch_size", slice.patchSize)
            try c.put("never_split", slice.neverSplit)
            try c.put("model_type", "minicpmv")
        }
    }
}
