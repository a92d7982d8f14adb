#!/usr/bin/env python3
"""Reference for `distillery bench import`: the same load with Python's json + sqlite3.

Reads an Alpaca JSONL file line by line, hashes each row's content with SHA-256, and inserts the
rows into the `sample_rows` table of a store that Distillery created (same schema, indexes and
pragmas: WAL, synchronous=FULL) with executemany over a generator (so it streams), in one
transaction, skipping duplicates by the same 64-bit content key. Prints the seconds from opening
the file to the commit.
"""
import hashlib, json, sqlite3, struct, sys, time

def field(h, tag, s):
    b = s.encode("utf-8")
    h.update(tag)
    h.update(struct.pack("<Q", len(b)))
    h.update(b)

def rows(path, now):
    with open(path, "r", encoding="utf-8-sig") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            r = json.loads(line)
            ins, inp, out = r["instruction"], r.get("input") or "", r["output"]
            if not all(isinstance(x, str) for x in (ins, inp, out)):
                raise SystemExit(f"{path}:{i}: expected strings")
            h = hashlib.sha256()
            field(h, b"i", ins)
            field(h, b"n", inp)
            field(h, b"o", out)
            d = h.digest()
            yield (ins, inp, out, "imported", f"{path}:{i}", d, int.from_bytes(d[:8], "little", signed=True), now)

def main(path, db):
    start = time.perf_counter()
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA busy_timeout=5000")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA foreign_keys=ON")
    now = int(time.time() * 1000)
    con.execute("BEGIN IMMEDIATE")
    con.executemany(
        "INSERT INTO sample_rows (instruction, input, output, origin, source, content_hash, content_key, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(content_key) DO NOTHING", rows(path, now))
    con.execute("COMMIT")
    con.close()
    print(f"{time.perf_counter() - start:.6f}")

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
