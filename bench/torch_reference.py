#!/usr/bin/env python3
"""The `trainer bench --preset` training step, built from PyTorch and Hugging Face modules.

Same model, same batch layout, same optimizer, same JSON line as the Swift
benchmark (Sources/Training/Benchmark.swift), so the two can be compared at equal
thread counts:

  vision tower   transformers' Idefics2VisionTransformer (SigLIP with NaViT patch masks and
                 bucketized position ids, the layout MiniCPM-V 2.6 uses), SDPA attention
  resampler      written here (FACTS.md section 3): query, kv_proj, ln_q / ln_kv / ln_post,
                 nn.MultiheadAttention with the 2-D sin-cos position added to the keys, proj
  LLM            transformers' Qwen2ForCausalLM (q/k/v bias, RMSNorm, RoPE, GQA, SwiGLU), SDPA
  assembly       vision tokens replace the token embeddings at the image positions
  packing        every row holds several samples; position ids restart at 0 for each, and
                 transformers detects the restarts (attention_mask=None, no cache) and builds
                 a block-diagonal causal mask, so samples never attend to each other
                 (--check-packing verifies it against each sample run alone)
  loss           summed cross-entropy over labelled tokens / their count (logits[t] predicts labels[t])
  optimizer      torch.optim.AdamW over every parameter (beta2 0.95, weight decay 0.1 on 2-D
                 weights), the fastest CPU implementation (see --adamw)

Needs PyTorch and transformers (optional for users of the Swift package).

    python3 bench/torch_reference.py --preset tiny --threads 2 --steps 10

Prints a header, then as its last line one JSON object:
{"preset", "threads", "tokens_per_s", "images_per_s", "step_ms_median", "peak_rss_mb",
 "matmul_gflops", "sgemm_peak_gflops"}.
"""

import argparse
import json
import math
import platform
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# --------------------------------------------------------------------------------------
# Presets: exactly the shapes of the Swift benchmark (BenchmarkPreset.swift).
# --------------------------------------------------------------------------------------

PRESETS = {
    "tiny": dict(
        vision=dict(hidden=192, layers=4, heads=3, mlp=768, patch=14, image=224),
        resampler=dict(queries=64, dim=256, heads=2),
        llm=dict(hidden=256, layers=4, heads=4, kv_heads=2, mlp=688, vocab=4096),
        rows=2, seq_len=512, samples_per_row=2,
    ),
    "small": dict(
        vision=dict(hidden=384, layers=8, heads=6, mlp=1536, patch=14, image=448),
        resampler=dict(queries=64, dim=768, heads=6),
        llm=dict(hidden=768, layers=12, heads=12, kv_heads=4, mlp=2048, vocab=16384),
        rows=1, seq_len=1024, samples_per_row=2,
    ),
}

# Where a sample's image sits: `<image>` at offset 1, its query_num tokens from offset 2.
IMAGE_OFFSET = 2
UNK_ID, IMAGE_START_ID, IMAGE_END_ID = 0, 1, 2


def matmul_flops(p, seq_len=None):
    """Matmul FLOPs of one training step, counted from the shapes (shared formula).

    The same formula is in Sources/Training/BenchmarkPreset.swift (`matmulFLOPs`).
    Forward FLOPs of every matmul-shaped op, 2*m*n*k each, times 3 (forward + backward,
    whose two products per matmul, dX and dW, cost twice the forward):

      vision, per image of L = (image/patch)^2 patches, width D, MLP F, per layer:
          8*L*D^2 (q, k, v, out) + 4*L*D*F (fc1, fc2) + 4*L^2*D (QK^T, PV)
        plus the patch embedding 2*L*(3*P^2)*D
      resampler, per image, Q queries, width E, keys L of width D:
          2*L*D*E (kv_proj, when D != E) + 2*Q*E^2 (q) + 4*L*E^2 (k, v) + 4*Q*L*E (attention)
          + 4*Q*E^2 (out_proj, proj)
      LLM, T = rows*seq_len tokens, width D, H heads, Hkv kv heads, head dim Dh, MLP F, vocab V:
          per layer 4*T*D*H*Dh (q, o) + 4*T*D*Hkv*Dh (k, v) + 6*T*D*F (gate, up, down)
            + sum over samples of 4*S^2*H*Dh (QK^T, PV over each sample's S x S block;
              the causal half is not subtracted)
          plus the lm_head 2*T*D*V
    """
    v, r, l = p["vision"], p["resampler"], p["llm"]
    seq_len = seq_len or p["seq_len"]
    images = p["rows"] * p["samples_per_row"]
    patches = (v["image"] // v["patch"]) ** 2
    d, f = v["hidden"], v["mlp"]
    vision = 2 * patches * 3 * v["patch"] ** 2 * d
    vision += v["layers"] * (8 * patches * d * d + 4 * patches * d * f + 4 * patches * patches * d)
    q, e = r["queries"], r["dim"]
    resampler = (2 * patches * d * e if d != e else 0) + 2 * q * e * e + 4 * patches * e * e \
        + 4 * q * patches * e + 4 * q * e * e
    tokens = p["rows"] * seq_len
    sample = seq_len // p["samples_per_row"]
    dl, h, hkv = l["hidden"], l["heads"], l["kv_heads"]
    dh = dl // h
    per_layer = 4 * tokens * dl * h * dh + 4 * tokens * dl * hkv * dh + 6 * tokens * dl * l["mlp"] \
        + p["rows"] * p["samples_per_row"] * 4 * sample * sample * h * dh
    llm = l["layers"] * per_layer + 2 * tokens * dl * l["vocab"]
    return 3 * (images * (vision + resampler) + llm)


# --------------------------------------------------------------------------------------
# The resampler (FACTS.md section 3)
# --------------------------------------------------------------------------------------

def sincos_2d(dim, h, w):
    """[h*w, dim]: first half encodes the column, second half the row; each half is
    [sin(p*omega), cos(p*omega)] with omega_k = 10000^(-k/(dim/4))."""
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)

    def table(n):
        a = torch.arange(n, dtype=torch.float64)[:, None] * omega[None, :]
        return torch.cat([a.sin(), a.cos()], dim=1)                     # [n, dim/2]

    cols, rows = table(w), table(h)
    grid = torch.cat([cols[None, :, :].expand(h, w, -1), rows[:, None, :].expand(h, w, -1)], dim=2)
    return grid.reshape(h * w, dim).float()


class Resampler(nn.Module):
    def __init__(self, queries, dim, heads, kv_dim, eps=1e-6):
        super().__init__()
        self.query = nn.Parameter(torch.empty(queries, dim))
        nn.init.trunc_normal_(self.query, std=0.02)
        self.kv_proj = nn.Linear(kv_dim, dim, bias=False) if kv_dim != dim else nn.Identity()
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_q = nn.LayerNorm(dim, eps=eps)
        self.ln_kv = nn.LayerNorm(dim, eps=eps)
        self.ln_post = nn.LayerNorm(dim, eps=eps)
        self.proj = nn.Parameter(dim ** -0.5 * torch.randn(dim, dim))
        self.dim = dim
        self._pos = {}

    def key_positions(self, tgt_sizes, length):
        """[N, length, D] sin-cos of each slice's patches, zero on padding rows (no grad)."""
        key = (tuple(tgt_sizes), length)
        if key not in self._pos:
            out = torch.zeros(len(tgt_sizes), length, self.dim)
            for i, (h, w) in enumerate(tgt_sizes):
                out[i, : h * w] = sincos_2d(self.dim, h, w)
            self._pos[key] = out
        return self._pos[key]

    def forward(self, x, tgt_sizes):                                     # x [N, L, kv_dim]
        n, length = x.shape[0], x.shape[1]
        x = self.ln_kv(self.kv_proj(x))                                  # [N, L, D]
        q = self.ln_q(self.query).unsqueeze(0).expand(n, -1, -1)         # [N, Q, D]
        lengths = torch.tensor([h * w for h, w in tgt_sizes])
        # No padding anywhere (every benchmark image fills its strip): pass no mask, the
        # fastest path; otherwise the key padding mask of the official code.
        padding = None
        if (lengths < length).any():
            padding = torch.arange(length)[None, :] >= lengths[:, None]
        out = self.attn(q, x + self.key_positions(tgt_sizes, length), x,
                        key_padding_mask=padding, need_weights=False)[0]  # [N, Q, D]
        return self.ln_post(out) @ self.proj


# --------------------------------------------------------------------------------------
# The assembled model
# --------------------------------------------------------------------------------------

class MiniCPMVBench(nn.Module):
    def __init__(self, p):
        super().__init__()
        from transformers import Qwen2Config, Qwen2ForCausalLM
        from transformers.models.idefics2.configuration_idefics2 import Idefics2VisionConfig
        from transformers.models.idefics2.modeling_idefics2 import Idefics2VisionTransformer

        v, r, l = p["vision"], p["resampler"], p["llm"]
        vcfg = Idefics2VisionConfig(
            hidden_size=v["hidden"], intermediate_size=v["mlp"], num_hidden_layers=v["layers"],
            num_attention_heads=v["heads"], patch_size=v["patch"], image_size=v["image"],
            hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6, attention_dropout=0.0)
        vcfg._attn_implementation = "sdpa"
        self.vpm = Idefics2VisionTransformer(vcfg)
        self.resampler = Resampler(r["queries"], r["dim"], r["heads"], v["hidden"])
        lcfg = Qwen2Config(
            vocab_size=l["vocab"], hidden_size=l["hidden"], intermediate_size=l["mlp"],
            num_hidden_layers=l["layers"], num_attention_heads=l["heads"],
            num_key_value_heads=l["kv_heads"], max_position_embeddings=4096, rms_norm_eps=1e-6,
            rope_parameters={"rope_type": "default", "rope_theta": 1e6},
            tie_word_embeddings=False, use_cache=False, attention_dropout=0.0)
        self.llm = Qwen2ForCausalLM._from_config(lcfg, attn_implementation="sdpa")
        self.hidden = l["hidden"]

    def forward(self, batch):
        vision = self.vpm(pixel_values=batch["pixels"],
                          patch_attention_mask=batch["patch_mask"]).last_hidden_state   # [N, L, Dv]
        tokens = self.resampler(vision, batch["tgt_sizes"])                              # [N, Q, D]
        ids = batch["input_ids"]                                                         # [B, T]
        embeds = self.llm.get_input_embeddings()(ids).reshape(-1, self.hidden)           # [B*T, D]
        embeds = embeds.index_copy(0, batch["image_positions"], tokens.reshape(-1, self.hidden))
        out = self.llm(inputs_embeds=embeds.reshape(*ids.shape, self.hidden),
                       position_ids=batch["position_ids"], use_cache=False)
        logits = out.logits.reshape(-1, out.logits.shape[-1])                            # [B*T, V]
        labels = batch["labels"].reshape(-1)
        loss_sum = F.cross_entropy(logits, labels, ignore_index=-100, reduction="sum")
        return loss_sum / batch["label_count"], logits


def make_batch(p, seq_len, generator):
    """Random pixels and ids in the packing layout: `rows` rows of `seq_len` tokens, each
    holding `samples_per_row` samples of seq_len/samples_per_row tokens; position ids
    restart per sample; each sample has one unsliced image whose query_num tokens start
    at sample offset 2; every other token is labelled with a random target."""
    v, r, l = p["vision"], p["resampler"], p["llm"]
    rows, spr = p["rows"], p["samples_per_row"]
    sample = seq_len // spr
    q = r["queries"]
    assert sample >= IMAGE_OFFSET + q + 1, "sequence too short for the image tokens"
    images = rows * spr
    side = v["image"] // v["patch"]
    ids = torch.randint(3, l["vocab"], (rows, seq_len), generator=generator)
    labels = torch.randint(3, l["vocab"], (rows, seq_len), generator=generator)
    positions = torch.arange(sample).repeat(rows, spr)
    image_positions = []
    for b in range(rows):
        for s in range(spr):
            start = b * seq_len + s * sample + IMAGE_OFFSET
            image_positions.extend(range(start, start + q))
    image_positions = torch.tensor(image_positions)
    flat_ids, flat_labels = ids.view(-1), labels.view(-1)
    flat_ids[image_positions] = UNK_ID
    flat_ids[image_positions - 1] = IMAGE_START_ID
    flat_ids[image_positions[q - 1::q] + 1] = IMAGE_END_ID
    flat_labels[image_positions] = -100
    return dict(
        pixels=torch.rand(images, 3, v["image"], v["image"], generator=generator) * 2 - 1,
        patch_mask=torch.ones(images, side, side, dtype=torch.bool),
        tgt_sizes=[(side, side)] * images,
        input_ids=ids, labels=labels, position_ids=positions, image_positions=image_positions,
        label_count=int((labels != -100).sum()), images=images, tokens=rows * seq_len,
    )


def make_optimizer(model, impl):
    decay = [w for w in model.parameters() if w.ndim >= 2]
    no_decay = [w for w in model.parameters() if w.ndim < 2]
    groups = [dict(params=decay, weight_decay=0.1), dict(params=no_decay, weight_decay=0.0)]
    kwargs = dict(lr=1e-5, betas=(0.9, 0.95), eps=1e-8)
    if impl == "fused":
        kwargs["fused"] = True
    elif impl == "foreach":
        kwargs["foreach"] = True
    else:
        kwargs["foreach"] = False
    return torch.optim.AdamW(groups, **kwargs)


def sgemm_peak(seconds=1.0):
    """Best GFLOP/s of torch.mm at 1024^3 on the current threads."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    c = torch.empty(1024, 1024)
    for _ in range(3):
        torch.mm(a, b, out=c)
    best, start = math.inf, time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
    return 2 * 1024 ** 3 / best / 1e9


def check_packing(model, p, generator):
    """Max |logit difference| between each packed sample and the same sample run alone."""
    model.eval()
    batch = make_batch(p, p["seq_len"], generator)
    with torch.no_grad():
        _, packed = model(batch)
        packed = packed.reshape(p["rows"], p["seq_len"], -1)
        sample = p["seq_len"] // p["samples_per_row"]
        vision = model.vpm(pixel_values=batch["pixels"], patch_attention_mask=batch["patch_mask"]).last_hidden_state
        tokens = model.resampler(vision, batch["tgt_sizes"])
        embeds = model.llm.get_input_embeddings()(batch["input_ids"]).reshape(-1, model.hidden)
        embeds = embeds.index_copy(0, batch["image_positions"], tokens.reshape(-1, model.hidden))
        embeds = embeds.reshape(p["rows"], p["seq_len"], model.hidden)
        worst = 0.0
        for b in range(p["rows"]):
            for s in range(p["samples_per_row"]):
                part = slice(s * sample, (s + 1) * sample)
                alone = model.llm(inputs_embeds=embeds[b:b + 1, part],
                                  position_ids=torch.arange(sample)[None], use_cache=False).logits[0]
                worst = max(worst, (alone - packed[b, part]).abs().max().item())
    model.train()
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--steps", type=int, default=10, help="timed steps (after the warm-up)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--seq-len", type=int, default=None, help="override the preset's row length")
    ap.add_argument("--adamw", choices=["fused", "foreach", "loop"], default="fused",
                    help="torch.optim.AdamW implementation (fused is the fastest on CPU)")
    ap.add_argument("--check-packing", action="store_true",
                    help="also check that packed samples equal the samples run alone")
    ap.add_argument("--profile", action="store_true", help="print a torch.profiler table of one step")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    p = PRESETS[args.preset]
    seq_len = args.seq_len or p["seq_len"]
    generator = torch.Generator().manual_seed(0)

    model = MiniCPMVBench(p).float().train()
    params = sum(w.numel() for w in model.parameters())
    opt = make_optimizer(model, args.adamw)
    batch = make_batch(p, seq_len, generator)
    flops = matmul_flops(p, seq_len)
    print(f"torch_reference — torch {torch.__version__}, transformers "
          f"{__import__('transformers').__version__}, {torch.get_num_threads()} thread(s), "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, {platform.machine()}")
    print(f"preset {args.preset}: {params / 1e6:.2f} M parameters, {batch['images']} images, "
          f"{p['rows']} x {seq_len} tokens, {flops / 1e9:.2f} matmul GFLOP per step, AdamW {args.adamw}")
    if args.check_packing:
        print(f"packing check: max |packed - alone| logit difference {check_packing(model, p, generator):.2e}")

    def step():
        loss, _ = model(batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    for _ in range(args.warmup):
        step()
    times = []
    for i in range(args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = step()
        times.append(time.perf_counter() - t0)
        print(f"step {i + 1}/{args.steps}: {times[-1] * 1e3:.1f} ms (cpu {(time.process_time() - c0) * 1e3:.1f} ms), "
              f"loss {loss:.4f}", file=sys.stderr)

    if args.profile:
        from torch.profiler import profile, ProfilerActivity
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))

    median = statistics.median(times)
    result = dict(
        preset=args.preset,
        threads=torch.get_num_threads(),
        tokens_per_s=batch["tokens"] / median,
        images_per_s=batch["images"] / median,
        step_ms_median=median * 1e3,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        matmul_gflops=flops / median / 1e9,
        sgemm_peak_gflops=sgemm_peak(),
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
