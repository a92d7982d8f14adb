"""llama.cpp reference for `distillery bench teacher`: the same GGUF, the same prompt tokens, the
same thread count. Prints one JSON object: prompt and decode seconds for k=1, greedy, no early stop.

usage: llamacpp_reference.py MODEL.gguf THREADS STEPS TOKEN_ID...
"""
import json
import sys
import time

import numpy as np
from llama_cpp import Llama

model, threads, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ids = [int(t) for t in sys.argv[4:]]
llm = Llama(model_path=model, n_threads=threads, n_threads_batch=threads, n_ctx=1024, n_batch=512, verbose=False)


def run():
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


run()  # warm-up
best = min((run() for _ in range(3)), key=lambda r: r[1])
print(json.dumps({"prompt_s": best[0], "decode_s": best[1]}))
