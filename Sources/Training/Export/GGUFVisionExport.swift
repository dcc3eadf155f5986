import Checkpointing
import Foundation
import Models
import NN

/// The vision tower and the resampler as llama.cpp's MiniCPM-V `mmproj` file
/// (architecture `clip`, projector type `resampler`), following the names and
/// quirks of llama.cpp's MiniCPM-V image-encoder converter:
///
/// - `vpm.encoder.layers.N.*` → `v.blk.N.{attn_q, attn_k, attn_v, attn_out, ln1, ln2}`,
///   and `mlp.fc1` → `ffn_down`, `mlp.fc2` → `ffn_up` (the converter's names are
///   swapped relative to their roles; llama.cpp reads them that way);
/// - the patch embedding (a 4-D convolution) is F16, 2-D weights F16, the rest F32;
/// - `resampler.attn.in_proj_{weight,bias}` is split into `resampler.attn.{q,k,v}`,
///   `out_proj` → `resampler.attn.out`, `kv_proj` → `resampler.kv`;
/// - `resampler.proj` is stored transposed as `resampler.proj.weight`;
/// - `resampler.pos_embed_k` is the 2-D sin-cos table of the resampler's largest
///   grid (`max_size`, 70 × 70 for 2.6), which llama.cpp adds to the keys.
public enum GGUFVisionExport {
    /// `clip.minicpmv_version` of a MiniCPM-V version: 2.0 → 1, 2.5 → 2, 2.6 → 3.
    static func minicpmvVersion(_ version: String) -> Int32 {
        switch version {
        case "2.0", "2": return 1
        case "2.5": return 2
        default: return 3
        }
    }

    public static func file(_ model: MiniCPMV) throws -> GGUFFile {
        let c = model.config, v = c.vision, r = model.resampler
        let vis = "clip.vision"
        var f = GGUFFile()
        f.metadata = [
            ("general.architecture", .string("clip")),
            ("general.file_type", .uint32(1)),
            ("general.description", .string("image encoder for MiniCPM-V")),
            ("general.alignment", .uint32(UInt32(GGUFFile.alignment))),
            ("clip.has_text_encoder", .bool(false)),
            ("clip.has_vision_encoder", .bool(true)),
            ("clip.has_minicpmv_projector", .bool(true)),
            ("clip.projector_type", .string("resampler")),
            ("clip.minicpmv_version", .int32(minicpmvVersion(c.version))),
            ("clip.minicpmv_query_num", .uint32(UInt32(c.queryNum))),
            ("\(vis).image_size", .uint32(UInt32(v.imageSize))),
            ("\(vis).patch_size", .uint32(UInt32(v.patchSize))),
            ("\(vis).embedding_length", .uint32(UInt32(v.hiddenSize))),
            ("\(vis).feed_forward_length", .uint32(UInt32(v.intermediateSize))),
            ("\(vis).projection_dim", .uint32(0)),
            ("\(vis).attention.head_count", .uint32(UInt32(v.numAttentionHeads))),
            ("\(vis).attention.layer_norm_epsilon", .float32(Float(v.layerNormEps))),
            ("\(vis).block_count", .uint32(UInt32(c.visionLayers))),
            ("\(vis).image_mean", .float32s([0.5, 0.5, 0.5])),
            ("\(vis).image_std", .float32s([0.5, 0.5, 0.5])),
            ("clip.use_gelu", .bool(true)),
        ]
        func f32(_ name: String, _ shape: [Int], _ values: [Float]) -> GGUFTensor {
            GGUFTensor(name: name, shape: shape, type: .f32, values: values)
        }
        func f16(_ name: String, _ shape: [Int], _ values: [Float]) -> GGUFTensor {
            GGUFTensor(name: name, shape: shape, type: .f16, values: values)
        }
        func norm(_ name: String, _ n: LayerNorm) -> [GGUFTensor] {
            [f32("\(name).weight", n.weight.shape, n.weight.value.scalars), f32("\(name).bias", n.bias.shape, n.bias.value.scalars)]
        }
        func linear(_ name: String, _ l: Linear) -> [GGUFTensor] {
            var out = [f16("\(name).weight", l.weight.shape, l.weight.value.scalars)]
            if let b = l.bias { out.append(f32("\(name).bias", b.shape, b.value.scalars)) }
            return out
        }

        // Resampler first, as the converter writes it.
        let d = c.resampler.embedDim
        f.tensors.append(f32("resampler.query", r.query.shape, r.query.value.scalars))
        if let kv = r.kvProj { f.tensors.append(f16("resampler.kv.weight", kv.weight.shape, kv.weight.value.scalars)) }
        let inW = r.attn.inProjWeight.value.scalars, inB = r.attn.inProjBias.value.scalars
        for (k, part) in ["q", "k", "v"].enumerated() {
            f.tensors.append(f16("resampler.attn.\(part).weight", [d, d], Array(inW[(k * d * d)..<((k + 1) * d * d)])))
            f.tensors.append(f32("resampler.attn.\(part).bias", [d], Array(inB[(k * d)..<((k + 1) * d)])))
        }
        f.tensors += linear("resampler.attn.out", r.attn.outProj)
        f.tensors += norm("resampler.ln_q", r.lnQ) + norm("resampler.ln_kv", r.lnKV) + norm("resampler.ln_post", r.lnPost)
        let p = r.proj.value.scalars
        var pt = [Float](repeating: 0, count: d * d)
        for i in 0..<d { for j in 0..<d { pt[j * d + i] = p[i * d + j] } }
        f.tensors.append(f16("resampler.proj.weight", [d, d], pt))
        let (gh, gw) = (c.resampler.maxSize[0], c.resampler.maxSize[1])
        f.tensors.append(f32("resampler.pos_embed_k", [gh * gw, d], SinCosEmbedding.grid2D(dim: d, height: gh, width: gw).scalars))

        // The vision tower.
        let vpm = model.vpm, pe = vpm.embeddings.patchEmbedding
        f.tensors.append(f16("v.patch_embd.weight", pe.weight.shape, pe.weight.value.scalars))
        f.tensors.append(f32("v.patch_embd.bias", pe.bias.shape, pe.bias.value.scalars))
        let pos = vpm.embeddings.positionEmbedding.weight
        f.tensors.append(f32("v.position_embd.weight", pos.shape, pos.value.scalars))
        for (i, layer) in vpm.encoder.layers.prefix(c.visionLayers).enumerated() {
            let b = "v.blk.\(i)", a = layer.attention
            f.tensors += linear("\(b).attn_q", a.qProj) + linear("\(b).attn_k", a.kProj)
                + linear("\(b).attn_v", a.vProj) + linear("\(b).attn_out", a.outProj)
            f.tensors += norm("\(b).ln1", layer.norm1) + norm("\(b).ln2", layer.norm2)
            f.tensors += linear("\(b).ffn_down", layer.mlp.fc1) + linear("\(b).ffn_up", layer.mlp.fc2)
        }
        f.tensors += norm("v.post_ln", vpm.postLayerNorm)
        return f
    }
}
