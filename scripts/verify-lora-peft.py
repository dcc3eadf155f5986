#!/usr/bin/env python3
"""Checks that PEFT reads trainer's exported adapters as trainer means them
(optional; needs torch, transformers, peft).

    trainer export --checkpoint BASE.h5 --out base
    trainer export --checkpoint LORA.h5 --out adapter --adapter
    trainer export --checkpoint LORA.h5 --out merged --merge
    python3 scripts/verify-lora-peft.py base adapter merged

The LLM of `base` (a Qwen2 MiniCPM-V export) is built in transformers under
MiniCPM-V's module paths (`llm.model.layers.N…`), the adapter folder is loaded
onto it with `PeftModel.from_pretrained` (its LLM tensors; the modules it
trains in full, such as the resampler, are not part of a text-only forward),
and its logits are compared with those of transformers' Qwen2 holding the
weights of `merged`, which trainer folded itself. trainer's own LLM equals
transformers' Qwen2 to about 1e-6 (`make parity`), so agreement here means
the adapter gives in PEFT the logits it gives in trainer.
"""
import json, os, shutil, sys, tempfile

import torch
from peft import PeftModel
from safetensors.torch import load_file, save_file
from transformers import Qwen2Config, Qwen2ForCausalLM

base_dir, adapter_dir, merged_dir = sys.argv[1:4]
c = json.load(open(os.path.join(base_dir, "config.json")))
assert c.get("llm_model_type", "qwen2") == "qwen2", "this check builds Qwen2 LLMs (MiniCPM-V 2.6 layout)"
config = Qwen2Config(vocab_size=c["vocab_size"], hidden_size=c["hidden_size"], intermediate_size=c["intermediate_size"],
                     num_hidden_layers=c["num_hidden_layers"], num_attention_heads=c["num_attention_heads"],
                     num_key_value_heads=c["num_key_value_heads"], head_dim=c.get("head_dim"),
                     rms_norm_eps=c["rms_norm_eps"], rope_theta=c["rope_theta"],
                     max_position_embeddings=c["max_position_embeddings"],
                     tie_word_embeddings=c.get("tie_word_embeddings", False))


class MiniCPMVLike(torch.nn.Module):
    def __init__(self, weights_dir):
        super().__init__()
        self.llm = Qwen2ForCausalLM(config)
        weights = load_file(os.path.join(weights_dir, "model.safetensors"))
        llm = {k[len("llm."):]: v for k, v in weights.items() if k.startswith("llm.")}
        missing, unexpected = self.llm.load_state_dict(llm, strict=False)
        assert not unexpected and all("rotary" in m for m in missing), (missing, unexpected)

    def forward(self, input_ids):
        return self.llm(input_ids=input_ids).logits


# The adapter's LLM part, as its own folder.
tmp = tempfile.mkdtemp()
adapter_config = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
adapter_config["modules_to_save"] = None
json.dump(adapter_config, open(os.path.join(tmp, "adapter_config.json"), "w"))
tensors = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
save_file({k: v for k, v in tensors.items() if k.startswith("base_model.model.llm.")},
          os.path.join(tmp, "adapter_model.safetensors"), metadata={"format": "pt"})

torch.manual_seed(0)
ids = torch.randint(0, config.vocab_size, (4, 48))
with torch.no_grad():
    peft = PeftModel.from_pretrained(MiniCPMVLike(base_dir).eval(), tmp).eval()
    adapted = peft(ids)
    merged = MiniCPMVLike(merged_dir).eval()(ids)
    base = MiniCPMVLike(base_dir).eval()(ids)
shutil.rmtree(tmp)
scale = merged.abs().max()
print(f"adapters loaded by PEFT: {sum(1 for k in tensors if k.endswith('lora_A.weight'))}, rank {adapter_config['r']}")
print(f"PEFT (base + adapter) vs trainer's merged weights: max relative difference {((adapted - merged).abs().max() / scale).item():.2e}")
print(f"base vs merged (what the adapter changes):         max relative difference {((base - merged).abs().max() / scale).item():.2e}")
