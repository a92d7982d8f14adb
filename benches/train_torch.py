"""The PyTorch + PEFT reference for `distillery bench train`: the same step (LoRA r=8, alpha 16,
on q_proj and v_proj, no dropout, AdamW lr 1e-4, batch 4 x 128 tokens, loss on the last 64 tokens
of each row) on a llama of the shape given, in f32 on the CPU with the thread count given.
Weights are random: a step's time does not depend on their values.

usage: train_torch.py HIDDEN HEADS KV_HEADS FFN LAYERS VOCAB THREADS STEPS TIED
Prints `torch: seconds_per_step=S peak_rss_mb=M` (steady state: the first step left out).
"""
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

hidden, heads, kv, ffn, layers, vocab, threads, steps, tied = (int(a) for a in sys.argv[1:10])
torch.set_num_threads(threads)
torch.manual_seed(0)
cfg = LlamaConfig(hidden_size=hidden, num_attention_heads=heads, num_key_value_heads=kv, intermediate_size=ffn,
                  num_hidden_layers=layers, vocab_size=vocab, tie_word_embeddings=bool(tied), rope_theta=100000.0,
                  rms_norm_eps=1e-5, max_position_embeddings=2048, attn_implementation="sdpa")
model = LlamaForCausalLM(cfg).float()
model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
model.train()
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
ids = torch.randint(0, vocab, (4, 129))
x, y = ids[:, :-1].clone(), ids[:, 1:].clone()
labels = y.clone()
labels[:, :64] = -100
times = []
for s in range(steps):
    t = time.perf_counter()
    out = model(input_ids=x)
    logits = out.logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), labels.reshape(-1), ignore_index=-100)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    times.append(time.perf_counter() - t)
    print(f"  torch step {s + 1}/{steps}: {times[-1]:.2f} s, loss {loss.item():.3f}", flush=True)
steady = times[1:] or times
# VmHWM is this process's own peak (ru_maxrss would carry the parent's peak over the exec).
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024.0
print(f"torch: seconds_per_step={sum(steady) / len(steady):.4f} peak_rss_mb={rss:.0f}")
