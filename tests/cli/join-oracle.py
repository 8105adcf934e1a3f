#!/usr/bin/python3
"""join-oracle.py - data and a pandas oracle for tests/cli/1400-join.bats.

  gen DIR SEED        left.csv (trades), right.csv (quotes), table.csv:
                      disordered within 2 s, versions at exactly a left
                      time, duplicate table keys, keys on one side only
  lookup DIR OUT.csv  OUT (fs-cat -f csv of fs-join --lookup) against
                      pandas merge with the table's last row per key
  temporal DIR OUT.csv [outer]  against pandas merge_asof
  within DIR OUT.csv D_NS [outer]  against a pandas interval merge
  gen-json DIR SEED   left.csv (trades of accounts 1-9), right.jsonl
                      (account versions: acct as a number or text,
                      tier a number, desk text, sometimes null/absent;
                      some at exactly a left time, account 9 never)
  temporal-json DIR OUT.csv [outer]  against pandas merge_asof on
                      account = acct
  pairs LEFT.csv RIGHT.csv KEY D_NS OUT.csv COL...  (fs-cat -f csv of
                      both inputs) against a pandas merge on KEY with
                      |ts_left - ts_right| <= D_NS; COLs are the right's
Exit 0 when equal, 1 with the first differences.
"""
import random
import sys

import pandas as pd

T0 = 1767312000 * 10**9          # 2026-01-02T00:00:00Z
SYMS = ["AAA", "BBB", "CCC", "DDD", "EEE", "ZZZ"]


def gen(d, seed):
    rnd = random.Random(seed)
    left, right = [], []
    for i in range(600):                     # quotes: no ZZZ
        ts = T0 + rnd.randrange(0, 60 * 10**9)
        right.append((ts, rnd.choice(SYMS[:5]), rnd.randrange(1, 10**6),
                      rnd.randrange(1, 10**6)))
    for i in range(800):                     # trades: some at quote times
        if i % 7 == 0:
            q = rnd.choice(right)
            ts, s = q[0], q[1]
        else:
            ts, s = T0 + rnd.randrange(0, 60 * 10**9), rnd.choice(SYMS)
        left.append((ts, s, rnd.randrange(1, 10**6), rnd.randrange(1, 99)))

    def disorder(rows):  # sorted, then shuffled within 2 s windows
        rows.sort(key=lambda r: r[0])
        return sorted(rows, key=lambda r: r[0] + rnd.randrange(0, 2 * 10**9))
    with open(f"{d}/left.csv", "w") as f:
        f.write("ts_event,seq,symbol,price,qty\n")
        for i, r in enumerate(disorder(left)):
            f.write(f"{r[0]}ns,{i},{r[1]},{r[2] / 100:.2f},{r[3]}\n")
    with open(f"{d}/right.csv", "w") as f:
        f.write("ts_event,symbol,bid,ask\n")
        for r in disorder(right):
            f.write(f"{r[0]}ns,{r[1]},{r[2] / 100:.2f},{r[3] / 100:.2f}\n")
    with open(f"{d}/table.csv", "w") as f:  # no EEE/ZZZ, CCC twice
        f.write("symbol,tier,limit,note\n")
        for i, s in enumerate(["AAA", "BBB", "CCC", "DDD", "CCC"]):
            f.write(f"{s},{i + 1},{(i + 1) * 1.25},\"n,{i}\"\n")


def gen_json(d, seed):
    import json
    rnd = random.Random(seed)
    right = []
    for i in range(300):
        ts = T0 + rnd.randrange(0, 60 * 10**9)
        a = rnd.randrange(1, 9)
        v = {"ts_event": f"{ts}ns",
             "acct": a if rnd.random() < 0.5 else str(a)}
        if rnd.random() < 0.9:
            v["tier"] = rnd.choice([1, 2, 3, 2.5, -1])
        if rnd.random() < 0.8:
            v["desk"] = rnd.choice(["EQ", "FX", "RATES", "", None])
        right.append(v)
    left = []
    for i in range(800):
        if i % 7 == 0:
            q = rnd.choice(right)
            ts, a = int(q["ts_event"][:-2]), int(q["acct"])
        else:
            ts, a = T0 + rnd.randrange(0, 60 * 10**9), rnd.randrange(1, 10)
        left.append((ts, a, rnd.randrange(1, 10**6), rnd.randrange(1, 99)))

    def disorder(rows, t):
        rows.sort(key=t)
        return sorted(rows, key=lambda r: t(r) + rnd.randrange(0, 2 * 10**9))
    with open(f"{d}/left.csv", "w") as f:
        f.write("ts_event,seq,symbol,price,qty,account\n")
        for i, r in enumerate(disorder(left, lambda r: r[0])):
            f.write(f"{r[0]}ns,{i},S{r[1]},{r[2] / 100:.2f},{r[3]},{r[1]}\n")
    with open(f"{d}/right.jsonl", "w") as f:
        for i, v in enumerate(disorder(right,
                                       lambda v: int(v["ts_event"][:-2]))):
            v["seq"] = i
            f.write(json.dumps(v) + "\n")


def temporal_json(d, out, outer):
    import json
    left = pd.read_csv(f"{d}/left.csv")
    left["ts"] = left.ts_event.str[:-2].astype("int64")
    rows = [json.loads(x) for x in open(f"{d}/right.jsonl")]
    right = pd.DataFrame({
        "ts": [int(v["ts_event"][:-2]) for v in rows],
        "account": [int(v["acct"]) for v in rows],
        "tier": [v.get("tier") for v in rows],
        "desk": [v.get("desk") or "" for v in rows],
        "order": range(len(rows))})
    right["tier"] = right.tier.astype("float64")
    r = right.sort_values(["ts", "order"], kind="mergesort")
    m = pd.merge_asof(left.sort_values("ts", kind="mergesort"), r, on="ts",
                      by="account", direction="backward",
                      allow_exact_matches=True)
    if not outer:
        m = m[m.order.notna()]
    want = [(str(x.seq), fmt(x.tier),
             "" if x.desk != x.desk else x.desk) for x in m.itertuples()]
    return compare(want, got(out, ["tier", "desk"]))


def pairs(a):
    lf, rf, key, dd, out = a[:5]
    cols = a[5:]
    left = pd.read_csv(lf, dtype=str, keep_default_na=False)
    right = pd.read_csv(rf, dtype=str, keep_default_na=False)
    for t in (left, right):
        t["ts"] = pd.to_datetime(t.ts_event).astype("int64")
    m = left.merge(right, on=key, suffixes=("", "_r"))
    m = m[(m.ts - m.ts_r).abs() <= int(dd)]
    o = pd.read_csv(out, dtype=str, keep_default_na=False)
    have = sorted(tuple(r) for r in o[["seq"] + ["right_" + c if c in
                  left.columns else c for c in cols]].itertuples(
                  index=False))
    want = [tuple([x["seq"]] + [x[c + "_r" if c in left.columns else c]
            for c in cols]) for _, x in m.iterrows()]
    return compare(want, have)


def load(d):
    left = pd.read_csv(f"{d}/left.csv", dtype={"symbol": str})
    left["ts"] = left.ts_event.str[:-2].astype("int64")
    right = pd.read_csv(f"{d}/right.csv", dtype={"symbol": str})
    right["ts"] = right.ts_event.str[:-2].astype("int64")
    right["order"] = range(len(right))
    return left, right


def got(out, cols):
    o = pd.read_csv(out, dtype=str, keep_default_na=False)
    return sorted(tuple(r) for r in o[["seq"] + cols].itertuples(
        index=False))


def fmt(v):
    if isinstance(v, float):
        if v != v:
            return "0"
        return ("%.8f" % v).rstrip("0").rstrip(".")
    return str(v)


def compare(want, have):
    want = sorted(want)
    if want == have:
        print(f"{len(want)} rows equal")
        return 0
    print(f"want {len(want)} rows, have {len(have)}")
    ws, hs = set(want), set(have)
    print("missing:", sorted(ws - hs)[:5])
    print("extra:", sorted(hs - ws)[:5])
    return 1


def main():
    cmd, d = sys.argv[1], sys.argv[2]
    if cmd == "gen":
        gen(d, int(sys.argv[3]))
        return 0
    if cmd == "gen-json":
        gen_json(d, int(sys.argv[3]))
        return 0
    if cmd == "temporal-json":
        return temporal_json(d, sys.argv[3], sys.argv[-1] == "outer")
    if cmd == "pairs":
        return pairs(sys.argv[2:])
    left, right = load(d)
    outer = sys.argv[-1] == "outer"
    if cmd == "lookup":
        t = pd.read_csv(f"{d}/table.csv", dtype={"symbol": str})
        t = t.drop_duplicates("symbol", keep="last")
        m = left.merge(t, on="symbol", how="left" if outer else "inner")
        want = [(str(r.seq), fmt(r.tier), fmt(r.limit),
                 "" if r.note != r.note else r.note)
                for r in m.itertuples()]
        return compare(want, got(sys.argv[3], ["tier", "limit", "note"]))
    if cmd == "temporal":
        r = right.sort_values(["ts", "order"], kind="mergesort")
        m = pd.merge_asof(left.sort_values("ts", kind="mergesort"), r,
                          on="ts", by="symbol", direction="backward",
                          allow_exact_matches=True,
                          suffixes=("", "_r"))
        if not outer:
            m = m[m.bid.notna()]
        want = [(str(x.seq), fmt(x.bid), fmt(x.ask)) for x in m.itertuples()]
        return compare(want, got(sys.argv[3], ["bid", "ask"]))
    if cmd == "within":
        dd = int(sys.argv[4])
        m = left.merge(right, on="symbol", suffixes=("", "_r"))
        m = m[(m.ts - m.ts_r).abs() <= dd]
        want = [(str(x.seq), fmt(x.bid), fmt(x.ask)) for x in m.itertuples()]
        if outer:
            hit = set(m.seq)
            want += [(str(s), "0", "0") for s in left.seq if s not in hit]
        return compare(want, got(sys.argv[3], ["bid", "ask"]))
    return 2


sys.exit(main())
