import Checkpointing
import Foundation
import Models
import Training
import XCTest

/// `trainer export --gguf` on a briefly trained micro model: both files read back
/// with the keys llama.cpp looks for, every tensor under its llama.cpp name and
/// shape, and the values of the model (exact in F32, within the block error in Q8_0).
final class GGUFExportTests: XCTestCase {
    func testExportWritesTheLLMAndTheMMProjFiles() throws {
        let dir = E2E.scratch("gguf")
        defer { try? FileManager.default.removeItem(at: dir) }
        let recipe = try E2E.recipe(E2E.captionRecipe(name: "gguf", dir: dir, steps: 2), in: dir)
        _ = try TrainingRun(recipe: recipe, options: E2E.quiet(RunOptions())).run()
        let checkpoint = dir.appendingPathComponent("ckpt/latest.h5").path
        let model = try ModelStore.model(checkpoint: checkpoint)
        let params = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.path, $0.parameter.value.scalars) })
        let c = model.config

        for type in [GGMLType.f32, .q8_0] {
            let out = dir.appendingPathComponent("gguf-\(type.name)").path
            let report = try GGUFExport.run(checkpoint: checkpoint, directory: out, type: type)
            // The micro preset's position table is 16 × 16 (224 px), not llama.cpp's 70 × 70: said.
            XCTAssertTrue(report.contains("position table is 16 × 16"), report)
            let llm = try GGUFFile(contentsOf: out + "/model-\(type.name.lowercased()).gguf")
            XCTAssertEqual(llm["general.architecture"], .string("qwen2"))
            XCTAssertEqual(llm["qwen2.block_count"], .uint32(UInt32(c.llm.numHiddenLayers)))
            XCTAssertEqual(llm["qwen2.attention.head_count_kv"], .uint32(UInt32(c.llm.numKeyValueHeads)))
            XCTAssertEqual(llm["tokenizer.ggml.model"], .string("gpt2"))
            guard case .strings(let tokens)? = llm["tokenizer.ggml.tokens"], case .int32s(let types)? = llm["tokenizer.ggml.token_type"],
                  case .strings(let merges)? = llm["tokenizer.ggml.merges"], case .uint32(let eos)? = llm["tokenizer.ggml.eos_token_id"] else {
                return XCTFail("tokenizer keys missing")
            }
            XCTAssertEqual(tokens.count, c.llm.vocabSize)
            XCTAssertEqual(types.count, tokens.count)
            XCTAssertEqual(tokens[Int(eos)], "<|im_end|>")
            XCTAssertEqual(types[Int(eos)], 3)
            XCTAssertFalse(merges.isEmpty)
            XCTAssertTrue(merges.allSatisfy { $0.split(separator: " ").count == 2 })

            let names: [(String, String)] = [
                ("token_embd.weight", "llm.model.embed_tokens.weight"),
                ("blk.0.attn_q.weight", "llm.model.layers.0.self_attn.q_proj.weight"),
                ("blk.0.attn_q.bias", "llm.model.layers.0.self_attn.q_proj.bias"),
                ("blk.1.ffn_down.weight", "llm.model.layers.1.mlp.down_proj.weight"),
                ("blk.1.ffn_norm.weight", "llm.model.layers.1.post_attention_layernorm.weight"),
                ("output_norm.weight", "llm.model.norm.weight"),
            ]
            for (g, p) in names {
                let t = try XCTUnwrap(llm.tensor(g), g), want = try XCTUnwrap(params[p], p)
                XCTAssertEqual(t.count, want.count, g)
                let got = t.values()
                if t.type == .f32 {
                    XCTAssertEqual(got, want, g)
                } else {
                    let amax = want.map(abs).max()!
                    for (a, b) in zip(got, want) { XCTAssertEqual(a, b, accuracy: amax / 127 * 0.5 + amax * 2e-3, g) }
                }
            }
            XCTAssertEqual(llm.tensors.count, 1 + 1 + c.llm.numHiddenLayers * 12 + (c.llm.tieWordEmbeddings ? 0 : 1))

            let mm = try GGUFFile(contentsOf: out + "/mmproj-model-f16.gguf")
            XCTAssertEqual(mm["general.architecture"], .string("clip"))
            XCTAssertEqual(mm["clip.projector_type"], .string("resampler"))
            XCTAssertEqual(mm["clip.minicpmv_query_num"], .uint32(UInt32(c.queryNum)))
            XCTAssertEqual(mm["clip.vision.block_count"], .uint32(UInt32(c.visionLayers)))
            let d = c.resampler.embedDim
            let inProj = try XCTUnwrap(params["resampler.attn.in_proj_weight"])
            let k = try XCTUnwrap(mm.tensor("resampler.attn.k.weight"))
            XCTAssertEqual(k.shape, [d, d])
            for (a, b) in zip(k.values(), inProj[(d * d)..<(2 * d * d)]) { XCTAssertEqual(a, b, accuracy: abs(b) * 1e-3 + 1e-6) }
            let proj = try XCTUnwrap(params["resampler.proj"]), pw = try XCTUnwrap(mm.tensor("resampler.proj.weight")).values()
            XCTAssertEqual(pw[1 * d + 0], proj[0 * d + 1], accuracy: abs(proj[1]) * 1e-3 + 1e-6, "stored transposed")
            XCTAssertEqual(try XCTUnwrap(mm.tensor("resampler.pos_embed_k")).shape, [c.resampler.maxSize[0] * c.resampler.maxSize[1], d])
            let fc1 = try XCTUnwrap(params["vpm.encoder.layers.0.mlp.fc1.weight"])
            XCTAssertEqual(try XCTUnwrap(mm.tensor("v.blk.0.ffn_down.weight")).count, fc1.count, "fc1 is written as ffn_down")
            XCTAssertEqual(try XCTUnwrap(mm.tensor("v.patch_embd.weight")).shape.count, 4)
            XCTAssertNotNil(mm.tensor("v.post_ln.bias"))
        }
    }
}
