"""llama.cpp references for `distillery bench teacher` and `bench throughput`: the same GGUF, the
same token ids, the same thread count. Reads one JSON job on stdin and prints one JSON object.

job: {"mode": "teacher" | "sequential", "model": PATH, "threads": N, "steps": N,
      "prompts": [[token id, ...], ...]}
- teacher: the first prompt computed from an empty cache, then `steps` greedy steps (no early
  stop); a warm-up, then the median of 3: {"prompt_s": ..., "decode_s": ...}.
- sequential: each prompt in turn (cache reset, prompt, `steps` greedy steps): {"total_s": ...}.
Both add "system_info", llama.cpp's build features ("AVX2 = 1 | AVX512 = 0 | ...").

Build llama-cpp-python for the instruction set compared, for example AVX2 only:
CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
-DGGML_AVX512=OFF" pip install llama-cpp-python
"""
import json
import sys
import time

import llama_cpp
import numpy as np
from llama_cpp import Llama

job = json.load(sys.stdin)
threads, steps = job["threads"], job["steps"]
llm = Llama(model_path=job["model"], n_threads=threads, n_threads_batch=threads, n_ctx=2048, n_batch=512, verbose=False)


def generate(ids):
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(ids)
    prompt_s = time.perf_counter() - t0
    tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    t1 = time.perf_counter()
    for _ in range(steps):
        llm.eval([tok])
        tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    return prompt_s, time.perf_counter() - t1


info = llama_cpp.llama_print_system_info()
info = info.decode() if isinstance(info, bytes) else str(info)
if job["mode"] == "teacher":
    generate(job["prompts"][0])
    runs = sorted((generate(job["prompts"][0]) for _ in range(3)), key=lambda r: r[1])
    prompts = sorted(r[0] for r in runs)
    out = {"prompt_s": prompts[1], "decode_s": runs[1][1]}
else:
    generate(job["prompts"][0][:8])
    t = time.perf_counter()
    for p in job["prompts"]:
        generate(p)
    out = {"total_s": time.perf_counter() - t}
out["system_info"] = info
print(json.dumps(out))
