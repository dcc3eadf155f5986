#!/usr/bin/env python3
"""Makes the PEFT fixture of LoRATests (optional; needs torch, transformers, peft).

A Qwen2 LLM of the `micro` preset's shape with random weights, wrapped so that
its module paths are MiniCPM-V's (`llm.model.layers.N.self_attn.q_proj`), gets a
LoRA adapter from PEFT itself (rank 4, alpha 8, random A and B), saved with
`save_pretrained`. Written to OUT: base.safetensors (the LLM's weights, `llm.`
names), adapter/ (adapter_config.json + adapter_model.safetensors) and
logits.json (input ids, the base model's logits and the adapted model's logits,
the first 256 vocabulary entries of each position).

    python3 scripts/peft-lora-fixture.py Tests/EndToEndTests/Fixtures/peft-lora
"""
import json, os, sys

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import Qwen2Config, Qwen2ForCausalLM

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
config = Qwen2Config(vocab_size=2010, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6,
                     rope_theta=1e6, max_position_embeddings=2048, tie_word_embeddings=False)


class MiniCPMVLike(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.llm = Qwen2ForCausalLM(config)

    def forward(self, input_ids):
        return self.llm(input_ids=input_ids).logits


model = MiniCPMVLike().eval()
with torch.no_grad():
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            p.normal_(0, 0.02)                 # Qwen2's q/k/v biases start at zero; make them count
save_file({f"llm.{k}": v.contiguous() for k, v in model.llm.state_dict().items()},
          os.path.join(out, "base.safetensors"), metadata={"format": "pt"})
ids = torch.tensor([[5, 17, 300, 42, 9, 1000, 77, 3]])
with torch.no_grad():
    base = model(ids)[0]

lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, init_lora_weights=False,
                  target_modules=r"llm\..*layers\.\d+\.self_attn\.(q_proj|k_proj|v_proj|o_proj)")
peft_model = get_peft_model(model, lora).eval()
with torch.no_grad():
    adapted = peft_model(ids)[0]
peft_model.save_pretrained(os.path.join(out, "adapter"))
with open(os.path.join(out, "logits.json"), "w") as f:
    # The first 256 vocabulary entries of every position keep the file small.
    json.dump({"ids": ids[0].tolist(), "vocab_slice": 256,
               "base": base[:, :256].flatten().tolist(), "adapted": adapted[:, :256].flatten().tolist()}, f)
os.remove(os.path.join(out, "adapter", "README.md"))      # PEFT's model card template
print("max |adapted - base|:", (adapted - base).abs().max().item(), "→", out)
