"""Checks a PEFT LoRA adapter folder with the standard library only: adapter_config.json's fields,
and in adapter_model.safetensors (8-byte header length, JSON header) every tensor's Hugging Face
name and shape: lora_A [r, in], lora_B [out, r].

usage: check_peft_adapter.py DIR HIDDEN Q_OUT KV_OUT FFN LAYERS
"""
import json, re, struct, sys

d, hidden, q_out, kv_out, ffn, layers = sys.argv[1], *map(int, sys.argv[2:7])
cfg = json.load(open(f"{d}/adapter_config.json"))
assert cfg["peft_type"] == "LORA" and cfg["task_type"] == "CAUSAL_LM" and cfg["bias"] == "none", cfg
r = cfg["r"]
assert isinstance(cfg["lora_alpha"], (int, float)) and cfg["base_model_name_or_path"], cfg
with open(f"{d}/adapter_model.safetensors", "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(n))
header.pop("__metadata__", None)
dims = {"q_proj": (q_out, hidden), "k_proj": (kv_out, hidden), "v_proj": (kv_out, hidden), "o_proj": (hidden, q_out),
        "gate_proj": (ffn, hidden), "up_proj": (ffn, hidden), "down_proj": (hidden, ffn)}
pat = re.compile(r"base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+_proj)\.lora_([AB])\.weight$")
seen = set()
for name, info in header.items():
    m = pat.match(name)
    assert m, f"not a PEFT name: {name}"
    layer, _, module, ab = int(m[1]), m[2], m[3], m[4]
    assert layer < layers and module in cfg["target_modules"], name
    out, inp = dims[module]
    want = [r, inp] if ab == "A" else [out, r]
    assert info["shape"] == want, f"{name}: shape {info['shape']}, want {want}"
    assert info["dtype"] == "F32", name
    seen.add((layer, module, ab))
assert len(seen) == layers * len(cfg["target_modules"]) * 2, f"{len(seen)} tensors"
print(f"ok: {len(seen)} tensors, r={r}, modules {cfg['target_modules']}")
