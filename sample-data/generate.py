#!/usr/bin/env python3
"""Writes Distillery's sample data: two narrow tasks a 135M student can learn.

Deterministic (fixed RNG seed); run `python3 sample-data/generate.py` from the repo root to rewrite
the files. Per task: seed tasks (Self-Instruct shape), ~20 candidate samples in Alpaca JSONL (some
deliberately wrong, marked only in this script), a held-out eval set of 60 items with
automatically scorable references, and 200 labelled questions (seed tasks whose one instance
holds the reference answer: what the rejection-sampling recipe samples and checks). The eval
items never overlap the seeds, candidates or questions (the test suite checks it). The questions
come from an RNG of their own, so adding them left the older files unchanged.
"""
import json, os, random

rng = random.Random(20261122)
HERE = os.path.dirname(os.path.abspath(__file__))

ARITH_INSTRUCTION = "Solve the word problem. Answer with just the number."
NAMES = ["Tom", "Priya", "Liam", "Mei", "Omar", "Sofia", "Jonas", "Aisha", "Carlos", "Yuki",
         "Nina", "Ravi", "Elena", "Kofi", "Hana", "Marco", "Zara", "Ben", "Ines", "Tariq"]
THINGS = ["apples", "marbles", "stickers", "books", "pencils", "cookies", "stamps", "shells",
          "cards", "coins", "balloons", "buttons"]

def arith_problem():
    name, thing = rng.choice(NAMES), rng.choice(THINGS)
    a, b = rng.randint(2, 40), rng.randint(2, 40)
    kind = rng.choice(["add", "sub", "mul", "add2"])
    if kind == "add":
        return f"{name} has {a} {thing} and gets {b} more. How many {thing} does {name} have now?", a + b
    if kind == "sub":
        a, b = max(a, b), min(a, b)
        return f"{name} had {a} {thing} and gave {b} away. How many {thing} are left?", a - b
    if kind == "mul":
        a, b = rng.randint(2, 12), rng.randint(2, 9)
        return f"{name} buys {b} bags with {a} {thing} in each bag. How many {thing} is that in total?", a * b
    c = rng.randint(2, 20)
    return (f"{name} has {a} {thing}, finds {b} more and then loses {c}. How many {thing} does "
            f"{name} have now?"), a + b - c

ITEMS = ["notebooks", "chairs", "lamps", "mugs", "keyboards", "backpacks", "umbrellas", "printers",
         "candles", "helmets", "blankets", "kettles"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
EXTRACT_INSTRUCTION = ('Extract the order from the text as JSON with the keys "name", "item", '
                       '"quantity" (a number) and "date" (YYYY-MM-DD). Output only the JSON.')

def ordinal(d):
    return f"{d}{'th' if 11 <= d <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(d % 10, 'th')}"

def date_text(y, m, d):
    style = rng.randint(0, 3)
    if style == 0:
        return f"{MONTHS[m - 1]} {d}, {y}"
    if style == 1:
        return f"{d} {MONTHS[m - 1]} {y}"
    if style == 2:
        return f"the {ordinal(d)} of {MONTHS[m - 1]} {y}"
    return f"{y}/{m:02d}/{d:02d}"

def extract_problem():
    name, other = rng.sample(NAMES, 2)
    item, other_item = rng.sample(ITEMS, 2)
    qty, other_qty = rng.randint(2, 60), rng.randint(2, 60)
    y, m, d = rng.randint(2021, 2025), rng.randint(1, 12), rng.randint(1, 28)
    when = date_text(y, m, d)
    templates = [
        f"On {when}, {name} ordered {qty} {item}. {other} had cancelled {other_qty} {other_item} the week before.",
        f"{other} asked about {other_qty} {other_item}, but only {name} placed an order: {qty} {item} on {when}.",
        f"Order note from {when}: {qty} {item} for {name}. (Not to be confused with {other}'s return of {other_qty} {other_item}.)",
        f"{name} bought {qty} {item} on {when} after {other} recommended them; {other} kept {other_qty} {other_item}.",
    ]
    text = rng.choice(templates)
    ref = {"name": name, "item": item, "quantity": qty, "date": f"{y}-{m:02d}-{d:02d}"}
    return text, ref

def unique(gen, n, seen):
    out = []
    while len(out) < n:
        q, a = gen()
        if q in seen:
            continue
        seen.add(q)
        out.append((q, a))
    return out

def write_jsonl(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")

def wrong_number(n):
    return rng.choice([n + rng.randint(1, 9), abs(n - rng.randint(1, 9)), n * 10 + rng.randint(0, 9)])

# The labelled questions' own RNG: the older files keep the draws they were written with.
qrng = random.Random(20261202)
QUESTIONS = 200

def questions(gen, seen, path, prefix, name, instruction, answer):
    """QUESTIONS labelled seed questions, none seen before, drawn with `qrng`."""
    global rng
    saved, rng = rng, qrng
    try:
        rows = unique(gen, QUESTIONS, seen)
    finally:
        rng = saved
    write_jsonl(path, [
        {"id": f"{prefix}_q{i}", "name": name, "instruction": instruction,
         "instances": [{"input": q, "output": answer(a)}], "is_classification": False}
        for i, (q, a) in enumerate(rows)])

def arithmetic():
    seen = set()
    seeds = unique(arith_problem, 8, seen)
    cands = unique(arith_problem, 20, seen)
    evals = unique(arith_problem, 60, seen)
    write_jsonl(f"{HERE}/arithmetic/seeds.jsonl", [
        {"id": f"arith_seed_{i}", "name": "word_problem", "instruction": ARITH_INSTRUCTION,
         "instances": [{"input": q, "output": str(a)}], "is_classification": False}
        for i, (q, a) in enumerate(seeds)])
    rows = []
    for i, (q, a) in enumerate(cands):
        kind = i % 5
        if kind == 3:    # wrong number
            out = str(wrong_number(a))
        elif kind == 4:  # verbose, ignores the format (right or wrong)
            out = f"Let's see. The answer is {a if i % 2 else wrong_number(a)}."
        else:
            out = str(a)
        rows.append({"instruction": ARITH_INSTRUCTION, "input": q, "output": out})
    write_jsonl(f"{HERE}/arithmetic/candidates.jsonl", rows)
    write_jsonl(f"{HERE}/arithmetic/eval.jsonl", [
        {"task": "arithmetic", "instruction": ARITH_INSTRUCTION, "input": q, "reference": str(a),
         "scorer": "number"} for q, a in evals])
    questions(arith_problem, seen, f"{HERE}/arithmetic/questions.jsonl", "arith", "word_problem",
              ARITH_INSTRUCTION, str)

def extraction():
    seen = set()
    seeds = unique(extract_problem, 8, seen)
    cands = unique(extract_problem, 20, seen)
    evals = unique(extract_problem, 60, seen)
    dump = lambda o: json.dumps(o, ensure_ascii=False)
    write_jsonl(f"{HERE}/extraction/seeds.jsonl", [
        {"id": f"extract_seed_{i}", "name": "order_extraction", "instruction": EXTRACT_INSTRUCTION,
         "instances": [{"input": t, "output": dump(r)}], "is_classification": False}
        for i, (t, r) in enumerate(seeds)])
    rows = []
    for i, (t, r) in enumerate(cands):
        kind = i % 5
        r = dict(r)
        if kind == 3:    # picks the distractor's quantity or leaves the date unnormalised
            r["quantity"] = r["quantity"] + rng.randint(1, 5)
        elif kind == 4:
            r["date"] = r["date"].replace("-", "/")
        out = dump(r)
        if i == 9:       # prose around the JSON
            out = "Here is the extracted order: " + out
        rows.append({"instruction": EXTRACT_INSTRUCTION, "input": t, "output": out})
    write_jsonl(f"{HERE}/extraction/candidates.jsonl", rows)
    write_jsonl(f"{HERE}/extraction/eval.jsonl", [
        {"task": "extraction", "instruction": EXTRACT_INSTRUCTION, "input": t,
         "reference": dump(r), "scorer": "json_exact"} for t, r in evals])
    questions(extract_problem, seen, f"{HERE}/extraction/questions.jsonl", "extract",
              "order_extraction", EXTRACT_INSTRUCTION, dump)

if __name__ == "__main__":
    arithmetic()
    extraction()
