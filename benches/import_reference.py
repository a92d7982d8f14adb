#!/usr/bin/env python3
"""Reference for `distillery bench import`: the same load with Python's json + sqlite3.

Reads an Alpaca JSON file, hashes each row's content with SHA-256, and inserts the rows into the
`samples` table of a store that Distillery created (same schema, indexes and pragmas: WAL,
synchronous=FULL), in one transaction with executemany, skipping duplicates by the same 64-bit
content key. Prints the seconds from reading the
file to the commit.
"""
import hashlib, json, sqlite3, struct, sys, time

def field(h, tag, s):
    b = s.encode("utf-8")
    h.update(tag)
    h.update(struct.pack("<Q", len(b)))
    h.update(b)

def main(path, db):
    start = time.perf_counter()
    with open(path, "rb") as f:
        rows = json.loads(f.read().decode("utf-8-sig"))
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA busy_timeout=5000")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA foreign_keys=ON")
    now = int(time.time() * 1000)
    params = []
    for i, r in enumerate(rows):
        ins, inp, out = r["instruction"], r.get("input") or "", r["output"]
        if not all(isinstance(x, str) for x in (ins, inp, out)):
            raise SystemExit(f"{path}: row {i}: expected strings")
        h = hashlib.sha256()
        field(h, b"i", ins)
        field(h, b"n", inp)
        field(h, b"o", out)
        d = h.digest()
        params.append((ins, inp, out, "imported", f"{path}:{i + 1}", d, int.from_bytes(d[:8], "little", signed=True), now))
    con.execute("BEGIN IMMEDIATE")
    con.executemany(
        "INSERT INTO samples (instruction, input, output, origin, source, content_hash, content_key, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(content_key) DO NOTHING", params)
    con.execute("COMMIT")
    con.close()
    print(f"{time.perf_counter() - start:.6f}")

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
