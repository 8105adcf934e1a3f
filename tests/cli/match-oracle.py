#!/usr/bin/python3
# match-oracle.py --file FSR [N]: the reference alone on the first N
# records of FSR (fs-gen txn records in order) with fs-match's built-in
# card-testing pattern; prints the number of matches (bench/match.sh's
# peer).
# match-oracle.py FS_MATCH SEED: an independent reference for fs-match,
# written from fs-match(1) SEMANTICS, not from its code.  Makes a random
# case (pattern, conditions, --within, contiguity, after-match skip) and
# a random txn stream of a few keys (ties, disorder, exact watermarks),
# finds the matches by backtracking in preference order, runs FS_MATCH
# on the same stream and compares every match: its key, its events and
# the variable of each.  Exit 0 when equal, 1 with the difference.
import json, random, struct, subprocess, sys, tempfile, os

bench = sys.argv[1] == "--file"
fsm, seed = sys.argv[1], int(sys.argv[2]) if not bench else 0
rnd = random.Random(seed)
E8 = 100000000

PATTERNS = ["A B", "A+ B", "A{2,3} B?", "A* B C", "A B* C{1,2}",
            "A? B+", "A{2} B{1,} C?", "A+", "A B{0,2} C+"]
# (fs-match condition, the same in Python over ev, prev and agg)
CONDS = {
    "A": [("amount < 3", lambda e, p, g: e["amount"] < 3 * E8),
          ("amount <= 3 and channel = 0",
           lambda e, p, g: e["amount"] <= 3 * E8 and e["channel"] == 0),
          ("country = 'US' or amount > 4",
           lambda e, p, g: e["country"] == "US" or e["amount"] > 4 * E8),
          (None, None)],
    "B": [("amount >= 2", lambda e, p, g: e["amount"] >= 2 * E8),
          ("amount > avg(A.amount)",
           lambda e, p, g: e["amount"] / E8 > g("A", "avg", "amount")),
          ("country != prev.country",
           lambda e, p, g: e["country"] != p["country"]),
          ("sum(B.amount) <= 7",
           lambda e, p, g: g("B", "sum", "amount") <= 7 * E8),
          (None, None)],
    "C": [("amount > first(A.amount) + 1",
           lambda e, p, g: e["amount"] > g("A", "first", "amount") + E8),
          ("count(B) >= 1 and amount < max(B.amount)",
           lambda e, p, g: g("B", "count", None) >= 1 and
           e["amount"] < g("B", "max", "amount")),
          ("merchant != prev.merchant",
           lambda e, p, g: e["merchant"] != p["merchant"]),
          (None, None)],
}


def parse(pat):
    out = []
    for t in pat.split():
        v, q = t[0], t[1:]
        lo, hi = {"": (1, 1), "?": (0, 1), "+": (1, None),
                  "*": (0, None)}.get(q, (None, None))
        if lo is None:
            a, _, b = q[1:-1].partition(",")
            lo = int(a)
            hi = lo if "," not in q else (int(b) if b else None)
        out.append((v, lo, hi))
    return out


pat = rnd.choice(PATTERNS)
vars_ = parse(pat)
cond = {}
for v, _, _ in vars_:
    cond[v] = rnd.choice(CONDS[v])
within = rnd.choice([None, None, 5, 12])      # seconds
skip = rnd.random() < 0.5
to_next = rnd.random() < 0.5
if bench:
    # card-testing: T{4,}, within 2m, strict, past-last
    pat, vars_, within, skip, to_next = "T{4,}", [("T", 4, None)], \
        120 * 10**9, False, False
    cond = {"T": ("card-testing", lambda e, p, g: e["channel"] == 1 and
                  e["device"] == g("T", "first", "device") and
                  (g("T", "count", None) == 1 or
                   e["merchant"] != p["merchant"]))}

# the stream
events = []
for key in (() if bench else (11, 22, 33)):
    t = 0
    for i in range(rnd.randint(15, 40)):
        t += rnd.choice([0, 1, 1, 2, 3])
        events.append({"key": key, "ts": 1000 + t, "amount":
                       rnd.randint(2, 10) * E8 // 2,
                       "channel": rnd.randint(0, 1),
                       "country": rnd.choice(["US", "US", "FR"]),
                       "merchant": rnd.randint(1, 3)})
events.sort(key=lambda e: e["ts"])
for i, e in enumerate(events):
    e["seq"] = i + 1
    e["arr"] = e["ts"] + rnd.random() * 4      # disorder up to 4 s
arrival = sorted(events, key=lambda e: e["arr"])
for i, e in enumerate(arrival):
    e["ai"] = i
if bench:
    d = open(sys.argv[2], "rb").read()
    o, lim = 0, int(sys.argv[3]) if len(sys.argv) > 3 else 1 << 62
    while o < len(d) and len(events) < lim:
        ln, ty, ver, fl, ts, ing, key, seq = struct.unpack_from(
            "<IHBBqqQQ", d, o)
        if ty == 5 and not fl & 1:
            a, m, dev, amt, mcc, ch = struct.unpack_from("<QQQqHB", d,
                                                         o + 40)
            events.append({"key": key, "ts": ts, "seq": seq, "ai":
                           len(events), "amount": amt, "channel": ch,
                           "merchant": m, "device": dev})
        o += 4 + ln
    arrival = []

NS = 10**9


def frame(ty, fl, ts, key, seq, body):
    body += b"\0" * (-len(body) % 8)
    return struct.pack("<IHBBqqQQ", 36 + len(body), ty, 1, fl, ts, ts,
                       key, seq) + body


out = bytearray()
last_wm = None
for i, e in enumerate(arrival):
    body = struct.pack("<QQQqHBB4s4s4x", e["key"], e["merchant"], 7,
                       e["amount"], 5999, e["channel"], 0,
                       e["country"].encode(), b"USD")
    out += frame(5, 0, e["ts"] * NS, e["key"], e["seq"], body)
    rest = [r["ts"] for r in arrival[i + 1:]]
    wm = min(rest) if rest else None
    if wm is not None and rnd.random() < 0.3 and \
            (last_wm is None or wm > last_wm):
        out += frame(0x100, 1, wm * NS, 0, 0, b"")
        last_wm = wm

# the reference: per key, events in (ts, arrival) order
nvar = len(vars_)
fns = [cond[v][1] for v, _, _ in vars_]


def agg(assigned, evs, cur, curvar):
    def g(var, fn, field):
        vals = [evs[q] for q, w in assigned if vars_[w][0] == var]
        if curvar is not None and vars_[curvar][0] == var:
            vals.append(cur)
        if fn == "count":
            return len(vals)
        if not vals:
            return 0
        x = [v[field] for v in vals]
        if fn == "sum":
            return sum(x)
        if fn == "avg":
            s = 0.0
            for v in x:
                s += v / E8
            return s / len(x)
        return {"max": max, "first": lambda a: a[0]}[fn](x)
    return g


def options(evs, q, v, c, assigned):
    e = evs[q]
    p = evs[assigned[-1][0]] if assigned else e
    res = []

    def ok(w):
        return fns[w] is None or fns[w](e, p, agg(assigned, evs, e, w))
    cands = []
    if v >= 0 and (vars_[v][2] is None or c < vars_[v][2]):
        cands.append(v)
    if v < 0 or c >= vars_[v][1]:
        for w in range(v + 1, nvar):
            cands.append(w)
            if vars_[w][1] > 0:
                break
    for w in cands:
        if ok(w):
            res.append(w)
    return res


def completable(v, c):
    return v >= 0 and c >= vars_[v][1] and \
        all(vars_[w][1] == 0 for w in range(v + 1, nvar))


def dfs(evs, start, q, v, c, assigned):
    n = len(evs)
    while q < n:
        if within is not None and evs[q]["ts"] - evs[start]["ts"] > within:
            q = n
            break
        opts = options(evs, q, v, c, assigned)
        if opts:
            for w in opts:
                r = dfs(evs, start, q + 1, w, c + 1 if w == v else 1,
                        assigned + [(q, w)])
                if r:
                    return r
            break
        if not skip:
            break
        q += 1
    return assigned if completable(v, c) else None


want = []
bykey = {}
for e in events:
    bykey.setdefault(e["key"], []).append(e)
for key in sorted(bykey):
    evs = sorted(bykey[key], key=lambda e: (e["ts"], e["ai"]))
    i = 0
    while i < len(evs):
        m = None
        for w in options(evs, i, -1, 0, []):
            m = dfs(evs, i, i + 1, w, 1, [(i, w)])
            if m:
                break
        if not m:
            i += 1
            continue
        want.append((key, tuple((evs[q]["seq"], vars_[w][0])
                                for q, w in m)))
        i = i + 1 if to_next else m[-1][0] + 1

if bench:
    print(len(want))
    sys.exit(0)
args = [fsm, "-q", "--pattern", pat]
for v, _, _ in vars_:
    if cond[v][0]:
        args += ["--define", "%s: %s" % (v, cond[v][0])]
if within is not None:
    args += ["--within", "%ds" % within]
if skip:
    args.append("--skip-till-next")
args += ["--after-match", "to-next" if to_next else "past-last"]
with tempfile.TemporaryDirectory() as d:
    mp = os.path.join(d, "m.fsr")
    r = subprocess.run(args + ["--matches", mp, "-o", "/dev/null"],
                       input=bytes(out), timeout=60)
    if r.returncode:
        sys.exit("fs-match exit %d: %s" % (r.returncode, args))
    data = open(mp, "rb").read()
got, o, cur, tag = [], 0, [], None
while o < len(data):
    ln, ty = struct.unpack_from("<IH", data, o)
    f = data[o:o + 4 + ln]
    o += 4 + ln
    if ty == 13:
        n, = struct.unpack_from("<I", f, 40)
        tag = json.loads(f[44:44 + n])
    else:
        key, seq = struct.unpack_from("<QQ", f, 24)
        cur.append((key, seq, tag["var"]))
        if tag["i"] + 1 == tag["n"]:
            got.append((cur[0][0], tuple((s, v) for _, s, v in cur)))
            cur = []
if sorted(got) != sorted(want):
    print("seed %d: %s" % (seed, " ".join(repr(a) for a in args)))
    print("only fs-match:", sorted(set(got) - set(want)))
    print("only oracle:  ", sorted(set(want) - set(got)))
    if len(got) != len(set(got)) or len(want) != len(set(want)):
        print("duplicates: fs-match %d/%d oracle %d/%d" %
              (len(got), len(set(got)), len(want), len(set(want))))
    sys.exit(1)
print("seed %d: %d matches agree (%s)" % (seed, len(want), " ".join(
    a for a in args[3:] if not a.startswith("/"))))
