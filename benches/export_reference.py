#!/usr/bin/env python3
"""Reference for `distillery bench export`: the same rows written with Python's sqlite3 + json.

Reads every sample of a Distillery store (the `samples` view, with each sample's decision state),
writes one Alpaca JSON object per line to a temp file, fsyncs and renames it. Prints the seconds.
"""
import json, os, sqlite3, sys, time

def main(db, out):
    start = time.perf_counter()
    con = sqlite3.connect(db)
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for ins, inp, outp, system in con.execute(
            "SELECT s.instruction, s.input, s.output, s.system FROM samples s "
            "LEFT JOIN sample_state st ON st.sample_id = s.id ORDER BY s.id"):
            row = {"instruction": ins, "input": inp, "output": outp}
            if system is not None:
                row["system"] = system
            f.write(json.dumps(row, ensure_ascii=False))
            f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out)
    print(f"{time.perf_counter() - start:.6f}")

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
