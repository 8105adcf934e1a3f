#!/usr/bin/python3
# limit-oracle.py - an oracle for fs-limit written from fs-limit(1), not
# from its code, and the frames it is fed (layouts of fs-record(5)).
#
#   limit-oracle.py frames TABLE [SEQ0] > in.fsr
#       TABLE lines: "order TS ACCT SYM SIDE TYPE PRICE QTY" or
#       "trade TS ACCT SYM SIDE PRICE QTY" or "short TS" (an ORDER with
#       a body shorter than an order's) or "wm TS"; TS in ns, prices
#       with up to 8 decimals; '-' for an empty symbol or type; each
#       record's seq is its line number (from SEQ0, default 0).
#   limit-oracle.py random SEED N > TABLE     a random table
#   limit-oracle.py expect LIMITS TABLE [LIMITS TABLE]...
#       what fs-limit must decide for each order, the state carried
#       from one pair to the next (a SIGHUP reload between them):
#       "SEQ accept" or "SEQ reject REASON VALUE LIMIT" (fixed 8 ints)
#   limit-oracle.py decode OUT REJECTS
#       the same lines from fs-limit's outputs, sorted by seq
import random, struct, sys
from decimal import Decimal

S = 10**8
I64 = (1 << 63) - 1


def fix(s):
    d = Decimal(s) * S
    assert d == int(d), s
    return int(d)


def frame(typ, body, ts, seq, flags=0, key=0):
    body += b"\0" * (-len(body) % 8)
    return struct.pack("<IHBBqqQQ", 36 + len(body), typ, 1, flags, ts, ts,
                       key, seq) + body


def code(s):
    return b"" if s == "-" else s.encode()


def frames(table, seq0=0):
    out = sys.stdout.buffer
    for seq, ln in enumerate(open(table), seq0):
        f = ln.split()
        ts = int(f[1])
        if f[0] == "order":
            acct, sym, side, ot, px, q = f[2:8]
            body = struct.pack("<12sccxxQQqq", code(sym), side.encode(),
                               code(ot)[:1] or b"\0", seq, int(acct),
                               fix(px), int(q))
            out.write(frame(4, body, ts, seq))
        elif f[0] == "trade":
            acct, sym, side, px, q = f[2:7]
            body = struct.pack("<12sc3xqqQ8sQ8x", code(sym), side.encode(),
                               fix(px), int(q), seq, b"XNAS", int(acct))
            out.write(frame(1, body, ts, seq))
        elif f[0] == "short":
            out.write(frame(4, b"AAPL" + b"\0" * 28, ts, seq))
        elif f[0] == "wm":
            out.write(frame(0x100, b"", ts, seq, flags=1))


def random_table(seed, n):
    r = random.Random(seed)
    ts = 1767312000 * 10**9
    for sym in ("S1", "S2"):      # market orders before any trade
        print("order", ts, 1, sym, "B", "M", 0, 10)
    for _ in range(n):
        ts += r.choice([0, 10**6, 50 * 10**6, 300 * 10**6, 10**9])
        acct = r.randint(1, 5)
        sym = r.choice(["S1", "S2", "S3", "S4"])
        side = r.choice("BS")
        px = "%.2f" % (100 * r.choice([1] * 8 + [1.01, 0.97, 1.2, 0.5]) +
                       r.randint(-150, 150) / 100)
        q = r.choice([1, 10, 50, 100, 100, 200, 500, 900, 2000])
        k = r.random()
        if k < 0.3:
            print("trade", ts, r.choice([0, acct, acct]), sym, side, px, q)
        elif k < 0.33:
            bad = r.choice(["side", "type", "qty", "price", "sym", "short"])
            if bad == "short":
                print("short", ts)
            else:
                print("order", ts, acct, "-" if bad == "sym" else sym,
                      "X" if bad == "side" else side,
                      "Z" if bad == "type" else "L",
                      "0" if bad == "price" else px,
                      -5 if bad == "qty" else q)
        else:
            ot = r.choice("LLLLLLLM-")
            print("order", ts, acct, sym, side, ot,
                  "0" if ot == "M" else px, q)


COLS = ["max_qty", "max_notional", "price_band", "max_gross", "max_net",
        "max_exposure", "max_rate"]
FIXCOLS = {"max_notional", "price_band", "max_exposure"}


def load_limits(path):
    rows = {}
    lines = [l.strip() for l in open(path)]
    lines = [l for l in lines if l and not l.startswith("#")]
    head = [c.strip() for c in lines[0].split(",")]
    for l in lines[1:]:
        d = dict(zip(head, [c.strip() for c in l.split(",")]))
        key = (d["account"], d["symbol"])
        rows[key] = {c: (fix(v) if c in FIXCOLS else int(v))
                     for c, v in d.items() if c in COLS and v != ""}
    return rows


def resolve(rows, acct, sym):
    a = str(acct)
    lim = {}
    for c in COLS:
        order = [(a, sym), (a, "*"), ("*", sym), ("*", "*")]
        if c in ("max_exposure", "max_rate"):
            order = [(a, "*"), ("*", "*")]
        for k in order:
            if k in rows and c in rows[k]:
                lim[c] = rows[k][c]
                break
    return lim


class State:
    def __init__(self):
        self.last = {}                  # symbol -> price
        self.pos = {}                   # (acct, sym) -> [bought, sold, net]
        self.expo = {}                  # acct -> exposure
        self.rate = {}                  # acct -> [sec, n]

    def fill(self, acct, sym, side, px, q):
        if q <= 0 or px <= 0 or side not in "BS" or not sym:
            return
        self.last[sym] = px
        if acct == 0:
            return
        p = self.pos.setdefault((acct, sym), [0, 0, 0])
        old = p[2]
        if side == "B":
            p[0] += q
            p[2] += q * px
        else:
            p[1] += q
            p[2] -= q * px
        self.expo[acct] = self.expo.get(acct, 0) + abs(p[2]) - abs(old)

    def order(self, rows, ts, acct, sym, side, ot, px, q):
        if not sym:
            return ("bad_symbol", 0, 0)
        if side not in "BS":
            return ("bad_side", 0, 0)
        if ot not in ("L", "M", ""):
            return ("bad_type", 0, 0)
        if q <= 0:
            return ("bad_qty", q * S, 0)
        if ot != "M" and px <= 0:
            return ("bad_price", px, 0)
        lim = resolve(rows, acct, sym)
        big = float("inf")
        g = lambda c: lim.get(c, big)
        last = self.last.get(sym)
        if q > g("max_qty"):
            return ("max_qty", q * S, g("max_qty") * S)
        ref = last if ot == "M" else px
        if ref is None:
            return ("no_price", 0, 0)
        notional = q * ref
        if notional > g("max_notional"):
            return ("max_notional", notional, g("max_notional"))
        if ot != "M" and last is not None and "price_band" in lim:
            w = last * lim["price_band"] // S
            if px > last + w:
                return ("price_band", px, last + w)
            if px < last - w:
                return ("price_band", px, last - w)
        sec = ts // 10**9
        rt = self.rate.setdefault(acct, [None, 0])
        if rt[0] is None or sec > rt[0]:
            rt[0], rt[1] = sec, 0
        if rt[1] >= g("max_rate"):
            return ("max_rate", (rt[1] + 1) * S, g("max_rate") * S)
        b, s, net = self.pos.get((acct, sym), [0, 0, 0])
        if b + s + q > g("max_gross"):
            return ("max_gross", (b + s + q) * S, g("max_gross") * S)
        n2 = b - s + (q if side == "B" else -q)
        if abs(n2) > g("max_net"):
            return ("max_net", n2 * S, g("max_net") * S)
        net2 = net + (notional if side == "B" else -notional)
        e = self.expo.get(acct, 0) - abs(net) + abs(net2)
        if e > g("max_exposure"):
            return ("max_exposure", e, g("max_exposure"))
        rt[1] += 1
        return None


def sat(v):
    return max(-I64 - 1, min(I64, v))


def expect(pairs):
    st = State()
    seq = 0
    for lims, table in pairs:
        rows = load_limits(lims)
        for ln in open(table):
            f = ln.split()
            if f[0] == "order":
                acct, sym, side, ot, px, q = f[2:8]
                sym = "" if sym == "-" else sym
                ot = "" if ot == "-" else ot
                r = st.order(rows, int(f[1]), int(acct), sym, side, ot,
                             fix(px), int(q))
                if r is None:
                    print(seq, "accept")
                else:
                    print(seq, "reject", r[0], sat(r[1]), sat(r[2]))
            elif f[0] == "short":
                print(seq, "reject short_order 0 0")
            elif f[0] == "trade":
                acct, sym, side, px, q = f[2:7]
                st.fill(int(acct), sym, side, fix(px), int(q))
            seq += 1


def decode(path, rejects):
    res = []
    d = open(path, "rb").read()
    o = 0
    while o < len(d):
        ln, ty, ver, fl, ts, ing, key, seq = struct.unpack_from(
            "<IHBBqqQQ", d, o)
        body = d[o + 40:o + 4 + ln]
        if ty == 4 and rejects:
            assert fl & 0x40 and len(body) == 80, "not a reject"
            reason, val, lim = struct.unpack_from("<16sqq", body, 48)
            res.append((seq, "reject %s %d %d" % (
                reason.rstrip(b"\0").decode(), val, lim)))
        elif ty == 4:
            assert not fl & 0x40 and len(body) in (48, 32)
            res.append((seq, "accept"))
        o += 4 + ln
    return res


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "frames":
        frames(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    elif cmd == "random":
        random_table(int(sys.argv[2]), int(sys.argv[3]))
    elif cmd == "expect":
        a = sys.argv[2:]
        expect(list(zip(a[::2], a[1::2])))
    elif cmd == "decode":
        for seq, t in sorted(decode(sys.argv[2], 0) +
                             decode(sys.argv[3], 1)):
            print(seq, t)
