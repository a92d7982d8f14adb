"""A manual check (needs torch, transformers, peft and gguf; not run by `cargo test`): the PEFT
adapter `distillery export-adapter` wrote, applied by PEFT to a Hugging Face llama built from the
same GGUF base (dequantized, q's and k's rows un-permuted as the inverse of llama.cpp's converter),
answers greedily as Distillery's student does.

usage: check_peft_equivalence.py BASE.gguf ADAPTER_DIR PROMPT_TOKEN_IDS(comma-separated)
Prints the base's and the adapted model's greedy token ids (up to 40, stopping at id 2).
"""
import sys, numpy as np, torch
from gguf import GGUFReader
from gguf.quants import dequantize
from transformers import LlamaConfig, LlamaForCausalLM
from peft import PeftModel
torch.set_num_threads(1)
r = GGUFReader(sys.argv[1])
def f(k):
    v = r.fields[k]; return v.parts[v.data[0]][0]
heads, kv, hidden, layers, ffn = int(f("llama.attention.head_count")), int(f("llama.attention.head_count_kv")), int(f("llama.embedding_length")), int(f("llama.block_count")), int(f("llama.feed_forward_length"))
eps, theta = float(f("llama.attention.layer_norm_rms_epsilon")), float(f("llama.rope.freq_base"))
def unpermute(w, h):
    out, cols = w.shape
    return w.reshape(h, out // h // 2, 2, cols).swapaxes(1, 2).reshape(out, cols)
names = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight"}
mods = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}
sd = {}
for t in r.tensors:
    w = dequantize(t.data, t.tensor_type).reshape([int(x) for x in reversed(t.shape)]) if len(t.shape) > 1 else dequantize(t.data, t.tensor_type).reshape(-1)
    if t.name in names: hf = names[t.name]
    else:
        _, l, m, _ = t.name.split(".")
        hf = f"model.layers.{l}.{mods[m]}.weight"
        if m == "attn_q": w = unpermute(w, heads)
        if m == "attn_k": w = unpermute(w, kv)
    sd[hf] = torch.tensor(np.ascontiguousarray(w), dtype=torch.float32)
vocab = sd["model.embed_tokens.weight"].shape[0]
cfg = LlamaConfig(hidden_size=hidden, num_attention_heads=heads, num_key_value_heads=kv, intermediate_size=ffn, num_hidden_layers=layers, vocab_size=vocab, tie_word_embeddings=True, rope_theta=theta, rms_norm_eps=eps)
model = LlamaForCausalLM(cfg)
missing, unexpected = model.load_state_dict(sd, strict=False)
assert not unexpected and all("lm_head" in k or "rotary" in k for k in missing), (missing, unexpected)
model.tie_weights()
ids = [int(x) for x in sys.argv[3].split(",")]
def greedy(m):
    x = torch.tensor([ids])
    out = []
    with torch.no_grad():
        for _ in range(40):
            nxt = int(m(input_ids=x).logits[0, -1].argmax())
            if nxt == 2: break
            out.append(nxt); x = torch.cat([x, torch.tensor([[nxt]])], 1)
    return out
print("base   ", greedy(model))
peft = PeftModel.from_pretrained(model, sys.argv[2]).eval()
print("student", greedy(peft))
