#!/usr/bin/env python3
"""Greedy generation with llama.cpp itself from an exported LLM GGUF file, compared
with `trainer generate` (optional; needs a llama.cpp build with its `llama-simple`).

usage: llamacpp_generate.py LLAMA_SIMPLE MODEL.gguf TRAINER CHECKPOINT [--tokens N]

For each prompt of scripts/gguf_generate.py: the chatml prompt is given to
llama.cpp's `llama-simple` (which tokenizes it with the GGUF file's own tokenizer,
special tokens parsed, and samples greedily until an end-of-generation token or N
tokens), and its continuation is compared with what `trainer generate
--max-tokens N` prints for the same question. Exits with status 1 when any differs.
"""
import subprocess
import sys

from gguf_generate import chatml, compare

STOPS = ["<|im_end|>", "<|endoftext|>"]


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    simple, model, trainer, checkpoint = sys.argv[1:5]
    n = int(sys.argv[sys.argv.index("--tokens") + 1]) if "--tokens" in sys.argv else 32

    def answer(p):
        prompt = chatml(p)
        out = subprocess.run([simple, "-m", model, "-n", str(n), prompt], capture_output=True, text=True, check=True).stdout
        if not out.startswith(prompt):
            sys.exit(f"llama-simple did not echo the prompt as given (tokenizer mismatch?): {out[:200]!r}")
        theirs = out[len(prompt):].rstrip("\n")
        for s in STOPS:
            theirs = theirs.split(s)[0]
        return theirs

    compare(answer, trainer, checkpoint, n, "llama.cpp")


if __name__ == "__main__":
    main()
