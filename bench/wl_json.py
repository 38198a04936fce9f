#!/usr/bin/env python3
"""wl_json.py: a JSON/dict-heavy Python workload for bench/run.sh.

usage: python3 wl_json.py [ROUNDS]   (default 48)

Each round builds a nested structure of dicts and lists (500 records, each a dict of
strings, numbers, a list of tag strings and a nested dict of 20 items), serializes it with
json.dumps, parses it back with json.loads, rebuilds an index dict keyed by a formatted
string, and merges a copy of every record with dict unpacking. Everything is dropped
before the next round except a small rolling summary. Run with PYTHONMALLOC=malloc so
that every object goes through malloc/free (the interposed allocator). Prints a checksum.
"""
import json
import sys


def build(round_no, n=500):
    recs = []
    for i in range(n):
        recs.append({
            "id": i,
            "name": "item-%d-%d" % (round_no, i),
            "price": i * 1.25 + round_no,
            "tags": ["t%d" % (j * i % 97) for j in range(8)],
            "attrs": {"k%d" % j: {"v": j * i, "s": str(j)} for j in range(20)},
        })
    return {"round": round_no, "records": recs}


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 48
    check = 0
    for r in range(rounds):
        doc = build(r)
        text = json.dumps(doc)
        back = json.loads(text)
        index = {"%s/%d" % (rec["name"], rec["id"]): rec for rec in back["records"]}
        merged = [{**rec, "extra": len(rec["tags"])} for rec in index.values()]
        check = (check + len(text) + sum(m["extra"] for m in merged)) % 1000000007
        del doc, text, back, index, merged
    print(check)


if __name__ == "__main__":
    main()
