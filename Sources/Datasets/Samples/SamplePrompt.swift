/// Prompts for generation: the same text layout as training samples, ending
/// where the assistant's answer begins.
extension SampleBuilder {
    /// Query spans (start = after the opening tag, end = the closing tag) in `ids`.
    public func imageBounds(in ids: [Int32]) throws -> [Range<Int>] {
        try SpanTokens(tokenizer: tokenizer, schema: images.placeholders.schema).bounds(ids, sampleID: "prompt")
    }

    /// The text that opens the assistant's turn in this template.
    public var assistantPrefix: String {
        switch template {
        case .chatml: return "<|im_start|>assistant\n"
        case .llama3: return "<|start_header_id|>assistant<|end_header_id|>\n\n"
        case .minicpm: return "<AI>"
        }
    }

    /// Token ids of a user turn (image placeholders first, as in training) followed
    /// by the opening of the assistant's answer, and the images' slices.
    public func prompt(question: String, images paths: [String]) throws -> PackedBatch {
        var content = "", slices: [ImageSlice] = []
        for (i, path) in paths.enumerated() {
            let p = try images.preprocess(path: path, imageIndex: i)
            content += p.placeholder + "\n"
            slices += zip(p.strips, p.tgtSizes).map { ImageSlice(tgtSize: $0.1, pixels: $0.0) }
        }
        let text = template.text([(role: "user", content: content + question)]) + assistantPrefix
        let ids = tokenizer.encode(text)
        let bounds = try imageBounds(in: ids)
        guard bounds.count == slices.count else {
            throw DataError.invalidSample(id: "prompt", problem: "\(bounds.count) image spans for \(slices.count) slices")
        }
        return PackedBatch.prompt(ids: ids, imageBounds: bounds, slices: slices)
    }
}
