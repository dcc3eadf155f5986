#!/usr/bin/env python3
"""`make verify-gguf`: reads the files of `trainer export --gguf` with the `gguf`
package (llama.cpp's own Python reader) and checks what llama.cpp looks for.

usage: verify_gguf.py DIR

DIR holds model-f32.gguf, model-q8_0.gguf, model-q4_0.gguf and mmproj-model-f16.gguf.
Checks:
  - the LLM files: architecture keys, tokenizer keys, every tensor llama.cpp's qwen2
    loader needs with its shape, from the hyperparameters in the file;
  - Q8_0 and Q4_0 tensors decoded by gguf.quants (llama.cpp's reference layout)
    against the F32 file: within the error each format allows;
  - the mmproj file: the clip / resampler keys and the v.* and resampler.* tensors
    with their shapes.
Exits with status 1 on the first failed check.
"""
import sys

import numpy as np

try:
    import gguf
    from gguf import quants
except ImportError:
    sys.exit("verify-gguf: the gguf package is missing (pip install gguf)")

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL", what)


def field(reader, key):
    f = reader.fields.get(key)
    if f is None:
        return None
    if f.types and f.types[0] == gguf.GGUFValueType.ARRAY:
        if f.types[-1] == gguf.GGUFValueType.STRING:
            return [bytes(f.parts[i]).decode("utf-8") for i in f.data]
        return [f.parts[i].tolist()[0] for i in f.data]
    if f.types[0] == gguf.GGUFValueType.STRING:
        return bytes(f.parts[f.data[0]]).decode("utf-8")
    return f.parts[f.data[0]].tolist()[0]


def tensors(reader):
    # gguf reports shapes innermost first (ggml's ne); reverse to PyTorch order.
    return {t.name: t for t in reader.tensors}


def torch_shape(t):
    return [int(x) for x in reversed(t.shape.tolist())]


def values(t):
    if t.tensor_type in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
        return np.asarray(t.data, dtype=np.float32).reshape(-1)
    return quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)


def verify_llm(path, reference=None):
    r = gguf.GGUFReader(path)
    a = field(r, "general.architecture")
    check(a == "qwen2", f"{path}: architecture {a}")
    n = field(r, f"{a}.block_count")
    d = field(r, f"{a}.embedding_length")
    ff = field(r, f"{a}.feed_forward_length")
    heads = field(r, f"{a}.attention.head_count")
    kv = field(r, f"{a}.attention.head_count_kv")
    for key in ["context_length", "rope.freq_base", "attention.layer_norm_rms_epsilon"]:
        check(field(r, f"{a}.{key}") is not None, f"{path}: {a}.{key} missing")
    tokens = field(r, "tokenizer.ggml.tokens")
    check(field(r, "tokenizer.ggml.model") == "gpt2", f"{path}: tokenizer.ggml.model")
    check(tokens is not None and len(field(r, "tokenizer.ggml.token_type")) == len(tokens), f"{path}: token types")
    check(all(len(m.split(" ")) == 2 for m in field(r, "tokenizer.ggml.merges")), f"{path}: merges")
    eos = field(r, "tokenizer.ggml.eos_token_id")
    check(eos is not None and tokens[eos] == "<|im_end|>", f"{path}: eos token")
    ts = tensors(r)
    vocab = len(tokens)
    hd = d // heads
    want = {"token_embd.weight": [vocab, d], "output_norm.weight": [d]}
    for i in range(n):
        b = f"blk.{i}"
        want.update({f"{b}.attn_norm.weight": [d], f"{b}.ffn_norm.weight": [d],
                     f"{b}.attn_q.weight": [heads * hd, d], f"{b}.attn_q.bias": [heads * hd],
                     f"{b}.attn_k.weight": [kv * hd, d], f"{b}.attn_k.bias": [kv * hd],
                     f"{b}.attn_v.weight": [kv * hd, d], f"{b}.attn_v.bias": [kv * hd],
                     f"{b}.attn_output.weight": [d, heads * hd],
                     f"{b}.ffn_gate.weight": [ff, d], f"{b}.ffn_up.weight": [ff, d], f"{b}.ffn_down.weight": [d, ff]})
    if "output.weight" in ts:
        want["output.weight"] = [vocab, d]
    for name, shape in want.items():
        check(name in ts and torch_shape(ts[name]) == shape,
              f"{path}: {name} {torch_shape(ts[name]) if name in ts else 'missing'} != {shape}")
    check(set(ts) == set(want), f"{path}: unexpected tensors {sorted(set(ts) - set(want))}")
    worst = 0.0
    if reference is not None:
        for name, t in ts.items():
            x, ref = values(t), values(reference[name])
            kind = t.tensor_type.name
            if kind in ("Q8_0", "Q4_0"):
                blocks = ref.reshape(-1, 32)
                amax = np.abs(blocks).max(axis=1, keepdims=True)
                step = amax / (127.0 if kind == "Q8_0" else 8.0)
                # half a step (Q4_0: one step where the side opposite the largest value clips), plus the f16 scale
                allowed = step * (0.5 if kind == "Q8_0" else 1.0) + amax * 2e-3 + 1e-7
                err = np.abs(x.reshape(-1, 32) - blocks)
                check(bool((err <= allowed).all()), f"{path}: {name} ({kind}) off by up to {err.max():.3g}")
                worst = max(worst, float((err / np.maximum(amax, 1e-12)).max()))
            else:
                check(np.allclose(x, ref, rtol=1e-3, atol=1e-6), f"{path}: {name} ({kind}) differs from F32")
    print(f"{path}: {len(ts)} tensors, {n} layers, vocab {vocab}"
          + (f", worst block error / block max {worst:.4f}" if reference is not None else ""))
    return r, ts


def verify_mmproj(path):
    r = gguf.GGUFReader(path)
    check(field(r, "general.architecture") == "clip", f"{path}: architecture")
    check(field(r, "clip.projector_type") == "resampler", f"{path}: projector type")
    check(field(r, "clip.has_minicpmv_projector") is True or field(r, "clip.has_minicpmv_projector") == 1, f"{path}: has_minicpmv_projector")
    for key in ["clip.minicpmv_version", "clip.minicpmv_query_num", "clip.vision.image_size", "clip.vision.patch_size",
                "clip.vision.embedding_length", "clip.vision.feed_forward_length", "clip.vision.attention.head_count",
                "clip.vision.attention.layer_norm_epsilon", "clip.vision.block_count", "clip.vision.image_mean",
                "clip.vision.image_std"]:
        check(field(r, key) is not None, f"{path}: {key} missing")
    ts = tensors(r)
    n = field(r, "clip.vision.block_count")
    dv = field(r, "clip.vision.embedding_length")
    ff = field(r, "clip.vision.feed_forward_length")
    p = field(r, "clip.vision.patch_size")
    q = field(r, "clip.minicpmv_query_num")
    d = torch_shape(ts["resampler.query"])[1]
    want = {"resampler.query": [q, d], "resampler.kv.weight": [d, dv], "resampler.proj.weight": [d, d],
            "v.patch_embd.weight": [dv, 3, p, p], "v.patch_embd.bias": [dv], "v.post_ln.weight": [dv], "v.post_ln.bias": [dv]}
    for part in "qkv":
        want[f"resampler.attn.{part}.weight"] = [d, d]
        want[f"resampler.attn.{part}.bias"] = [d]
    want["resampler.attn.out.weight"] = [d, d]
    want["resampler.attn.out.bias"] = [d]
    for ln in ["q", "kv", "post"]:
        want[f"resampler.ln_{ln}.weight"] = [d]
        want[f"resampler.ln_{ln}.bias"] = [d]
    for i in range(n):
        b = f"v.blk.{i}"
        for part in ["attn_q", "attn_k", "attn_v", "attn_out"]:
            want[f"{b}.{part}.weight"] = [dv, dv]
            want[f"{b}.{part}.bias"] = [dv]
        for ln in ["ln1", "ln2"]:
            want[f"{b}.{ln}.weight"] = [dv]
            want[f"{b}.{ln}.bias"] = [dv]
        want[f"{b}.ffn_down.weight"] = [ff, dv]      # the converter's name for fc1
        want[f"{b}.ffn_down.bias"] = [ff]
        want[f"{b}.ffn_up.weight"] = [dv, ff]        # and for fc2
        want[f"{b}.ffn_up.bias"] = [dv]
    for name, shape in want.items():
        check(name in ts and torch_shape(ts[name]) == shape,
              f"{path}: {name} {torch_shape(ts[name]) if name in ts else 'missing'} != {shape}")
    check("resampler.pos_embed_k" in ts and torch_shape(ts["resampler.pos_embed_k"])[1] == d, f"{path}: pos_embed_k")
    check("v.position_embd.weight" in ts and torch_shape(ts["v.position_embd.weight"])[1] == dv, f"{path}: position_embd")
    print(f"{path}: {len(ts)} tensors, {n} vision blocks, resampler {q} queries of {d}")


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    out = args[0]
    _, f32 = verify_llm(f"{out}/model-f32.gguf")
    for kind in ["q8_0", "q4_0"]:
        verify_llm(f"{out}/model-{kind}.gguf", reference=f32)
    verify_mmproj(f"{out}/mmproj-model-f16.gguf")
    if failures:
        sys.exit(f"verify-gguf: {len(failures)} checks failed")
    print("verify-gguf: all checks passed")


if __name__ == "__main__":
    main()
