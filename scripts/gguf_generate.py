#!/usr/bin/env python3
"""Greedy generation from an exported LLM GGUF file, computed with numpy the way
llama.cpp's qwen2 graph reads the file (an independent check of the export while
llama.cpp itself cannot be built here), compared with `trainer generate`.

usage: gguf_generate.py MODEL.gguf TOKENIZER.json TRAINER CHECKPOINT [--tokens N]

For each prompt below: the chatml prompt is tokenized with Hugging Face `tokenizers`,
N tokens are generated greedily from the GGUF weights (token_embd, blk.N.*, output_norm,
output or the tied embedding; RMSNorm with the file's epsilon; rotary embedding of the
NEOX kind, which llama.cpp uses for qwen2, with the file's freq_base; grouped-query
causal attention; SwiGLU), decoded, and compared with what `trainer generate
--max-tokens N` prints for the same question. Exits with status 1 when any differs.
"""
import subprocess
import sys

import numpy as np

import gguf
from tokenizers import Tokenizer

PROMPTS = [
    "Describe this image in detail.",
    "What colour is the circle?",
    "How many shapes are there?",
    "Read the document.",
    "Where is the red square?",
    "Is there a star in the picture?",
    "What is the background colour?",
    "Describe the image.",
    "Which shape is the largest?",
    "What is written on the first line?",
]


def load(path):
    r = gguf.GGUFReader(path)

    def field(key):
        f = r.fields[key]
        return f.parts[f.data[0]].tolist()[0]

    a = bytes(r.fields["general.architecture"].parts[r.fields["general.architecture"].data[0]]).decode()
    assert a == "qwen2", a
    hp = {k: field(f"qwen2.{k}") for k in ["block_count", "attention.head_count", "attention.head_count_kv",
                                          "rope.freq_base", "attention.layer_norm_rms_epsilon", "embedding_length"]}
    eos = field("tokenizer.ggml.eos_token_id")
    w = {}
    for t in r.tensors:
        assert t.tensor_type == gguf.GGMLQuantizationType.F32, f"{t.name}: export with --type f32"
        w[t.name] = np.asarray(t.data, dtype=np.float64).reshape([int(x) for x in reversed(t.shape.tolist())])
    return hp, eos, w


def rms(x, g, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g


def rope(x, pos, theta):
    # x [T, H, Dh]; NEOX: dimension i pairs with i + Dh/2.
    d = x.shape[-1]
    inv = theta ** (-np.arange(0, d // 2) * 2.0 / d)
    ang = pos[:, None] * inv[None, :]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    a, b = x[..., : d // 2], x[..., d // 2:]
    return np.concatenate([a * cos - b * sin, b * cos + a * sin], axis=-1)


def forward(hp, w, ids):
    n, h, kvh = hp["block_count"], hp["attention.head_count"], hp["attention.head_count_kv"]
    eps, theta = hp["attention.layer_norm_rms_epsilon"], hp["rope.freq_base"]
    x = w["token_embd.weight"][ids]
    t = len(ids)
    pos = np.arange(t, dtype=np.float64)
    mask = np.triu(np.full((t, t), -np.inf), 1)
    for i in range(n):
        b = f"blk.{i}"
        y = rms(x, w[f"{b}.attn_norm.weight"], eps)
        q = y @ w[f"{b}.attn_q.weight"].T + w[f"{b}.attn_q.bias"]
        k = y @ w[f"{b}.attn_k.weight"].T + w[f"{b}.attn_k.bias"]
        v = y @ w[f"{b}.attn_v.weight"].T + w[f"{b}.attn_v.bias"]
        dh = q.shape[-1] // h
        q, k, v = q.reshape(t, h, dh), k.reshape(t, kvh, dh), v.reshape(t, kvh, dh)
        q, k = rope(q, pos, theta), rope(k, pos, theta)
        rep = h // kvh
        k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
        s = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(dh) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        o = np.einsum("hqk,khd->qhd", s, v).reshape(t, h * dh)
        x = x + o @ w[f"{b}.attn_output.weight"].T
        y = rms(x, w[f"{b}.ffn_norm.weight"], eps)
        g = y @ w[f"{b}.ffn_gate.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * (y @ w[f"{b}.ffn_up.weight"].T)) @ w[f"{b}.ffn_down.weight"].T
    y = rms(x[-1], w["output_norm.weight"], eps)
    return y @ w.get("output.weight", w["token_embd.weight"]).T


def chatml(question):
    return f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"


def compare(answer, trainer, checkpoint, n, who):
    """Prints, for each prompt, `answer(prompt)` beside `trainer generate --max-tokens n`; exits 1 when any differs."""
    same = 0
    for p in PROMPTS:
        theirs = answer(p)
        ours = subprocess.run([trainer, "generate", "--checkpoint", checkpoint, "--prompt", p, "--max-tokens", str(n)],
                              capture_output=True, text=True, check=True).stdout.rstrip("\n")
        ok = ours == theirs
        same += ok
        print(("same " if ok else "DIFF ") + repr(p) + ": " + repr(theirs) + ("" if ok else "  vs trainer " + repr(ours)))
    print(f"{who}: greedy {n} tokens equal trainer generate on {same}/{len(PROMPTS)} prompts")
    if same != len(PROMPTS):
        sys.exit(1)


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    model, tok_path, trainer, checkpoint = sys.argv[1:5]
    n = int(sys.argv[sys.argv.index("--tokens") + 1]) if "--tokens" in sys.argv else 32
    hp, eos, w = load(model)
    tok = Tokenizer.from_file(tok_path)
    stop = {eos} | {tok.token_to_id(s) for s in ["<|endoftext|>", "<|im_end|>"] if tok.token_to_id(s) is not None}

    def answer(p):
        ids = tok.encode(chatml(p), add_special_tokens=False).ids
        out = []
        for _ in range(n):
            nxt = int(np.argmax(forward(hp, w, ids + out)))
            if nxt in stop:
                break
            out.append(nxt)
        return tok.decode(out, skip_special_tokens=False)

    compare(answer, trainer, checkpoint, n, "the GGUF file (numpy)")


if __name__ == "__main__":
    main()
