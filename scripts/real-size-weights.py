#!/usr/bin/env python3
"""Random bf16 weights of a real-size MiniCPM-V, in the official layout.

    python3 scripts/real-size-weights.py minicpm-v-2 /tmp/minicpm-v-2

Writes config.json (the official keys) and sharded model-0000N-of-0000M.safetensors
with model.safetensors.index.json, for the shapes of Recipes/models/NAME.yaml.
Real weights cannot be downloaded here; these measure what `trainer import` and a
LoRA run over an imported base hold in memory. Needs numpy and PyYAML.
"""
import json, os, sys
import numpy as np
import yaml

name, out = sys.argv[1], sys.argv[2]
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
c = yaml.safe_load(open(os.path.join(root, "Recipes/models", name + ".yaml")))
v, l, r = c["vision"], c["llm"], c["resampler"]

def vision():
    d, f = v["hidden_size"], v["intermediate_size"]
    yield "vpm.embeddings.patch_embedding.weight", [d, 3, v["patch_size"], v["patch_size"]]
    yield "vpm.embeddings.patch_embedding.bias", [d]
    yield "vpm.embeddings.position_embedding.weight", [(v["image_size"] // v["patch_size"]) ** 2, d]
    layers = v["num_hidden_layers"] - (1 if c.get("drop_vision_last_layer") else 0)
    for i in range(layers):
        p = f"vpm.encoder.layers.{i}."
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            yield p + f"self_attn.{n}.weight", [d, d]
            yield p + f"self_attn.{n}.bias", [d]
        yield p + "mlp.fc1.weight", [f, d]; yield p + "mlp.fc1.bias", [f]
        yield p + "mlp.fc2.weight", [d, f]; yield p + "mlp.fc2.bias", [d]
        for n in ("layer_norm1", "layer_norm2"):
            yield p + n + ".weight", [d]; yield p + n + ".bias", [d]
    yield "vpm.post_layernorm.weight", [d]; yield "vpm.post_layernorm.bias", [d]

def resampler():
    e, kv = r["embed_dim"], r["kv_dim"]
    yield "resampler.query", [r["num_queries"], e]
    yield "resampler.kv_proj.weight", [e, kv]
    yield "resampler.attn.in_proj_weight", [3 * e, e]; yield "resampler.attn.in_proj_bias", [3 * e]
    yield "resampler.attn.out_proj.weight", [e, e]; yield "resampler.attn.out_proj.bias", [e]
    for n in ("ln_q", "ln_kv", "ln_post"):
        yield f"resampler.{n}.weight", [e]; yield f"resampler.{n}.bias", [e]
    yield "resampler.proj", [e, e]

def language():
    d, f, hd = l["hidden_size"], l["intermediate_size"], l.get("head_dim") or l["hidden_size"] // l["num_attention_heads"]
    q, kv = l["num_attention_heads"] * hd, l["num_key_value_heads"] * hd
    bias = l["model_type"] == "qwen2"
    yield "llm.model.embed_tokens.weight", [l["vocab_size"], d]
    for i in range(l["num_hidden_layers"]):
        p = f"llm.model.layers.{i}."
        for n, rows in (("q_proj", q), ("k_proj", kv), ("v_proj", kv)):
            yield p + f"self_attn.{n}.weight", [rows, d]
            if bias: yield p + f"self_attn.{n}.bias", [rows]
        yield p + "self_attn.o_proj.weight", [d, q]
        yield p + "mlp.gate_proj.weight", [f, d]; yield p + "mlp.up_proj.weight", [f, d]
        yield p + "mlp.down_proj.weight", [d, f]
        yield p + "input_layernorm.weight", [d]; yield p + "post_attention_layernorm.weight", [d]
    yield "llm.model.norm.weight", [d]
    if not l.get("tie_word_embeddings"): yield "llm.lm_head.weight", [l["vocab_size"], d]

def write_shard(path, tensors, rng):
    header, offset = {}, 0
    for n, shape in tensors:
        size = 2 * int(np.prod(shape))
        header[n] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    text += b" " * (-(len(text)) % 8)
    with open(path, "wb") as fh:
        fh.write(len(text).to_bytes(8, "little")); fh.write(text)
        for n, shape in tensors:
            count = int(np.prod(shape))
            scale = 1 / np.sqrt(shape[-1]) if len(shape) > 1 else 0.02
            one = n.endswith("norm.weight") or (".ln_" in n or "layer_norm" in n) and n.endswith(".weight")
            w = (rng.standard_normal(count, dtype=np.float32) * np.float32(scale) + np.float32(one)).astype(np.float32)
            fh.write((w.view(np.uint32) >> 16).astype(np.uint16).tobytes())

os.makedirs(out, exist_ok=True)
tensors = list(vision()) + list(resampler()) + list(language())
shards, current, size = [], [], 0
for t in tensors:
    current.append(t); size += 2 * int(np.prod(t[1]))
    if size > 2_000_000_000: shards.append(current); current, size = [], 0
if current: shards.append(current)
rng, weight_map = np.random.default_rng(0), {}
for i, shard in enumerate(shards):
    file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
    write_shard(os.path.join(out, file), shard, rng)
    weight_map.update({n: file for n, _ in shard})
json.dump({"metadata": {"total_size": sum(2 * int(np.prod(s)) for _, s in tensors)}, "weight_map": weight_map},
          open(os.path.join(out, "model.safetensors.index.json"), "w"), indent=1)

config = {"architectures": ["MiniCPMV"], "model_type": "minicpmv", "llm_model_type": l["model_type"],
          "version": float(c["version"]), "vision_config": v, "query_num": c["query_num"],
          "image_size": c["slice_config"]["scale_resolution"], "patch_size": v["patch_size"], "slice_mode": True,
          "slice_config": dict(c["slice_config"], model_type="minicpmv"), "drop_vision_last_layer": c["drop_vision_last_layer"],
          "use_image_id": c["use_image_id"], "resampler": r, "special_token_ids": c["special_token_ids"], "torch_dtype": "bfloat16"}
config.update({k: val for k, val in l.items() if k != "model_type"})
json.dump(config, open(os.path.join(out, "config.json"), "w"), indent=1)
print(f"{len(tensors)} tensors, {sum(int(np.prod(s)) for _, s in tensors) / 1e9:.2f} B parameters, {len(shards)} shards → {out}")
