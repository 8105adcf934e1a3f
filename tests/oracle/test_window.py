#!/usr/bin/env python3
"""Oracle checks for fs-window's windows and aggregates against pandas.

Input comes from fs-gen (txn and trade streams with --disorder); the
frames are decoded here with struct, so the check does not depend on
fs-cat.  pandas computes the same definitions (fs-window(1)) from the
same records: tumbling, hopping, cumulating and session windows; counts,
exact money sums, min, max, first, last and distinct must match
exactly, floating statistics within 1e-9 relative, quantiles within the
sketch's stated 1%.  With --max-delay at least the disorder, no event is
late, so each (key, window) must come out exactly once, final.

The decoding helpers are imported by test_features.py.
"""
import math
import os
import struct
import subprocess
import sys

try:
    import numpy as np
    import pandas as pd
except ImportError:  # pyenv's python3 may lack Debian's pandas
    if os.path.exists("/usr/bin/python3") and sys.executable != "/usr/bin/python3":
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    np = pd = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import check, skip, done  # noqa: E402

HDR = struct.Struct("<IHBBqqQQ")
T_TRADE, T_TXN, T_BAR, T_FEATURES, T_AGG = 1, 5, 7, 8, 11
T_WATERMARK, T_SCHEMA = 0x100, 0x102
F_LATE, F_PARTIAL, F_UPDATE = 0x02, 0x08, 0x10
K_I64, K_F64, K_F32, K_FIX, K_TS = 1, 6, 7, 8, 9
FIX = 100000000
NS = 1000000000
TXN = struct.Struct("<QQQqHBB4s4s4x")
TRADE = struct.Struct("<12sc3xqqQ8s")  # the leading fields
BAR = struct.Struct("<12s4xqqqqqqqqQ")


def frames(data):
    """Yield (type, flags, ts_event, ts_ingest, key, seq, body) per frame."""
    off = 0
    while off < len(data):
        ln, typ, _ver, flags, tse, tsi, key, seq = HDR.unpack_from(data, off)
        yield typ, flags, tse, tsi, key, seq, data[off + 40: off + 4 + ln]
        off += 4 + ln


def schema_of(body):
    """(for_type, schema_id, [(name, kind)]) of a SCHEMA body."""
    for_type, ncols, sid = struct.unpack_from("<HHI", body)
    kinds = body[8: 8 + ncols]
    names = body[8 + ncols:].split(b"\0")[:ncols]
    return for_type, sid, [(n.decode(), k) for n, k in zip(names, kinds)]


def decode_dyn(data):
    """Rows of the AGG/FEATURES records in data, as a list of dicts.

    Each row has the header fields, flags, and one entry per column
    (FIX columns as exact ints in 1e-8 units, F32 as float32)."""
    schemas, rows = {}, []
    for typ, flags, tse, tsi, key, seq, body in frames(data):
        if typ == T_SCHEMA:
            ft, sid, cols = schema_of(body)
            schemas[sid] = cols
            continue
        if typ not in (T_AGG, T_FEATURES):
            continue
        ncols, sid = struct.unpack_from("<II", body)
        cols = schemas[sid]
        row = {"type": typ, "flags": flags, "ts_event": tse,
               "ts_ingest": tsi, "key": key, "seq": seq}
        if typ == T_FEATURES:
            vals = struct.unpack_from("<%df" % ncols, body, 8)
        else:
            vals = []
            for i, (_n, k) in enumerate(cols):
                fmt = "<d" if k == K_F64 else "<q"
                vals.append(struct.unpack_from(fmt, body, 8 + 8 * i)[0])
        for (n, _k), v in zip(cols, vals):
            row[n] = v
        rows.append(row)
    return rows, schemas


def txn_frame(ts, account, amount, merchant=1, country=b"US", device=1,
              mcc=5411, channel=0, label=0, seq=0, key=None, flags=0,
              ts_ingest=None):
    """One TXN frame (for hand-made inputs)."""
    body = TXN.pack(account, merchant, device, amount, mcc, channel, label,
                    country, b"USD")
    return HDR.pack(40 + len(body) - 4, T_TXN, 1, flags, ts,
                    ts if ts_ingest is None else ts_ingest,
                    account if key is None else key, seq) + body


def watermark_frame(ts):
    return HDR.pack(36, T_WATERMARK, 1, 1, ts, ts, 0, 0)


def run(args, data=b"", timeout=120):
    p = subprocess.run(args, input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def have(tool):
    return any(os.access(os.path.join(d, tool), os.X_OK)
               for d in os.environ["PATH"].split(os.pathsep))


def inputs_df(data, kind):
    """The data records of data as a DataFrame, in arrival order."""
    recs = []
    for typ, flags, tse, tsi, key, seq, body in frames(data):
        if typ == T_TXN and kind == "txn":
            acc, mer, dev, amt, mcc, ch, lab, cty, _cur = TXN.unpack_from(body)
            recs.append((tse, tsi, key, seq, acc, mer, dev, amt, mcc, ch,
                         lab, cty.rstrip(b"\0").decode()))
        elif typ == T_TRADE and kind == "trade":
            sym, side, px, qty, tid, _v = TRADE.unpack_from(body)
            recs.append((tse, tsi, key, seq, sym.rstrip(b"\0").decode(),
                         px, qty))
    cols = (["ts", "ts_ingest", "key", "seq", "account", "merchant",
             "device", "amount", "mcc", "channel", "label", "country"]
            if kind == "txn" else
            ["ts", "ts_ingest", "key", "seq", "symbol", "price", "qty"])
    df = pd.DataFrame.from_records(recs, columns=cols)
    df["arrival"] = np.arange(len(df))
    return df


def floor_to(t, size, off=0):
    return (t - off) // size * size + off


def close(a, b, rel):
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(b, float) and math.isnan(b):
        return False
    return abs(a - b) <= rel * max(abs(a), abs(b)) or a == b


def expected_aggs(g):
    """pandas' aggregates for one (key, window) group, as fs-window's
    columns."""
    s = g.sort_values(["ts", "arrival"], kind="stable")
    amt = g["amount"]
    d = amt / FIX
    return {
        "count": len(g),
        "sum_amount": int(amt.astype(object).sum()),
        "avg_amount": int(amt.astype(object).sum()) / FIX / len(g),
        "min_amount": int(amt.min()),
        "max_amount": int(amt.max()),
        "stddev_amount": float(d.std()) if len(g) > 1 else math.nan,
        "var_amount": float(d.var()) if len(g) > 1 else math.nan,
        "first_amount": int(s["amount"].iloc[0]),
        "last_amount": int(s["amount"].iloc[-1]),
        "distinct_merchant": float(g["merchant"].nunique()),
        "quantile_amount_0.9": float(d.quantile(0.9,
                                               interpolation="lower")),
    }


AGGS = ("count,sum(amount),avg(amount),min(amount),max(amount),"
        "stddev(amount),var(amount),first(amount),last(amount),"
        "distinct(merchant),quantile(amount,0.9)")
EXACT = {"count", "sum_amount", "min_amount", "max_amount", "first_amount",
         "last_amount", "distinct_merchant"}
REL = {"avg_amount": 1e-9, "stddev_amount": 1e-9, "var_amount": 1e-9,
       "quantile_amount_0.9": 0.0101}


def compare(name, rows, expect):
    """rows: fs-window output dicts; expect: {(key, ws, we): aggs}."""
    got = {}
    dup = 0
    for r in rows:
        k = (r["key"], r["window_start"], r["window_end"])
        dup += k in got
        got[k] = r
    check(f"{name}: one result per key and window", dup == 0,
          f"{dup} duplicates")
    check(f"{name}: results only final", all(r["flags"] == 0 for r in rows),
          str({r["flags"] for r in rows}))
    missing = set(expect) - set(got)
    extra = set(got) - set(expect)
    check(f"{name}: same (key, window) set as pandas ({len(expect)})",
          not missing and not extra,
          f"missing {sorted(missing)[:5]} extra {sorted(extra)[:5]}")
    bad = []
    for k in set(expect) & set(got):
        e, r = expect[k], got[k]
        for col, ev in e.items():
            if col not in r:
                continue
            rv = r[col]
            ok = rv == ev if col in EXACT else close(rv, ev, REL[col])
            if not ok:
                bad.append((k, col, rv, ev))
    check(f"{name}: aggregates match pandas", not bad,
          "\n".join(map(str, bad[:10])))
    tsok = all(r["ts_event"] == r["window_end"] - 1 for r in rows)
    check(f"{name}: ts_event = window_end - 1", tsok)


def test_tumble(data, df):
    size = 60 * NS
    rc, out, err = run(["fs-window", "--tumble", "1m", "--max-delay", "2s",
                        "--agg", AGGS], data)
    check("tumble: exit 0, no late records", rc == 0 and "late" not in err,
          err)
    rows, _ = decode_dyn(out)
    df = df.assign(ws=floor_to(df.ts, size))
    exp = {(k, ws, ws + size): expected_aggs(g)
           for (k, ws), g in df.groupby(["key", "ws"])}
    compare("tumble 1m", rows, exp)
    wms = [f[2] for f in frames(out) if f[0] == T_WATERMARK]
    check("tumble: WATERMARK records forwarded, non-decreasing",
          len(wms) > 0 and wms == sorted(wms), str(wms[:5]))
    # The window end order: no result is emitted before an earlier end.
    ends = [r["window_end"] for r in rows]
    check("tumble: results in window-end order", ends == sorted(ends))
    return out


def test_offset(data, df):
    size, off = 60 * NS, 15 * NS
    rc, out, err = run(["fs-window", "--tumble", "1m", "--offset", "15s",
                        "--max-delay", "2s", "--agg", "count,sum(amount)"],
                       data)
    rows, _ = decode_dyn(out)
    df = df.assign(ws=floor_to(df.ts, size, off))
    exp = {(k, ws, ws + size): {"count": len(g),
                                "sum_amount": int(g.amount.sum())}
           for (k, ws), g in df.groupby(["key", "ws"])}
    compare("tumble 1m offset 15s", rows, exp)


def test_hop(data, df):
    size, slide = 5 * 60 * NS, 60 * NS
    rc, out, err = run(["fs-window", "--hop", "5m/1m", "--max-delay", "2s",
                        "--agg", AGGS], data)
    check("hop: exit 0", rc == 0, err)
    rows, _ = decode_dyn(out)
    parts = []
    last = floor_to(df.ts, slide)
    for k in range(size // slide):
        ws = last - k * slide
        parts.append(df.assign(ws=ws)[ws > df.ts - size])
    x = pd.concat(parts)
    exp = {(k, ws, ws + size): expected_aggs(g)
           for (k, ws), g in x.groupby(["key", "ws"])}
    compare("hop 5m/1m", rows, exp)


def test_cumulate(data, df):
    size, step = 4 * 60 * NS, 60 * NS
    rc, out, err = run(["fs-window", "--cumulate", "4m/1m", "--max-delay",
                        "2s", "--agg", AGGS], data)
    check("cumulate: exit 0", rc == 0, err)
    rows, _ = decode_dyn(out)
    base = floor_to(df.ts, size)
    parts = []
    for k in range(1, size // step + 1):
        we = base + k * step
        parts.append(df.assign(ws=base, we=we)[we > df.ts])
    x = pd.concat(parts)
    exp = {(k, ws, we): expected_aggs(g)
           for (k, ws, we), g in x.groupby(["key", "ws", "we"])}
    compare("cumulate 4m/1m", rows, exp)


def test_session(data, df):
    gap = 20 * NS
    rc, out, err = run(["fs-window", "--session", "20s", "--max-delay", "2s",
                        "--agg", AGGS], data)
    check("session: exit 0", rc == 0, err)
    rows, _ = decode_dyn(out)
    s = df.sort_values(["key", "ts", "arrival"], kind="stable")
    newsess = (s.key != s.key.shift()) | (s.ts - s.ts.shift() >= gap)
    s = s.assign(sid=newsess.cumsum())
    exp = {}
    for _sid, g in s.groupby("sid"):
        exp[(g.key.iloc[0], g.ts.min(), g.ts.max() + gap)] = \
            expected_aggs(g)
    compare("session 20s", rows, exp)


def test_key_field(data, df):
    size = 60 * NS
    rc, out, err = run(["fs-window", "--tumble", "1m", "--max-delay", "2s",
                        "--key", "merchant", "--agg",
                        "count,sum(amount),distinct(account)"], data)
    rows, _ = decode_dyn(out)
    df = df.assign(ws=floor_to(df.ts, size))
    exp = {(k, ws, ws + size): {"count": len(g),
                                "sum_amount": int(g.amount.sum()),
                                "distinct_account":
                                    float(g.account.nunique())}
           for (k, ws), g in df.groupby(["merchant", "ws"])}
    EXACT.add("distinct_account")
    compare("--key merchant", rows, exp)


def test_hll(data, df):
    """Past --distinct-exact the count is a HyperLogLog estimate."""
    rc, out, err = run(["fs-window", "--tumble", "1h", "--key", "channel",
                        "--max-delay", "2s", "--distinct-exact", "64",
                        "--agg", "distinct(account)"], data)
    rows, _ = decode_dyn(out)
    df = df.assign(ws=floor_to(df.ts, 3600 * NS))
    exp = {(k, ws): g.account.nunique()
           for (k, ws), g in df.groupby(["channel", "ws"])}
    errs = [abs(r["distinct_account"] - exp[(r["key"], r["window_start"])])
            / exp[(r["key"], r["window_start"])] for r in rows
            if exp.get((r["key"], r["window_start"]), 0) > 64]
    check(f"distinct past the exact bound ({len(errs)} windows): "
          "within 5% (3 sigma of 1.6%)",
          len(errs) >= 3 and max(errs) < 0.05, f"errors {errs}")


def test_trade(tdata):
    df = inputs_df(tdata, "trade")
    size = 60 * NS
    rc, out, err = run(["fs-window", "--tumble", "1m", "--max-delay", "1s",
                        "--agg", "ohlc,vwap,count,sum(qty)"], tdata)
    check("trade ohlc: exit 0", rc == 0, err)
    rows, _ = decode_dyn(out)
    bars = {}
    for typ, flags, tse, tsi, key, seq, body in frames(out):
        if typ == T_BAR:
            b = BAR.unpack_from(body)
            bars[(key, b[1], b[2])] = b
    df = df.assign(ws=floor_to(df.ts, size),
                   pq=df.price.astype(object) * df.qty.astype(object))
    bad, n = [], 0
    for (k, ws), g in df.groupby(["key", "ws"]):
        n += 1
        s = g.sort_values(["ts", "arrival"], kind="stable")
        b = bars.get((k, ws, ws + size))
        pq, q = int(g.pq.sum()), int(g.qty.sum())
        # vwap fixed-point: pq / q rounded half away from zero
        vw = (abs(pq) * 2 + q) // (2 * q) * (1 if pq >= 0 else -1)
        want = (s.symbol.iloc[0], s.price.iloc[0], g.price.max(),
                g.price.min(), s.price.iloc[-1], q, vw, len(g))
        have_ = None if b is None else (b[0].rstrip(b"\0").decode(), b[3],
                                        b[4], b[5], b[6], b[7], b[8], b[9])
        if have_ != tuple(int(x) if not isinstance(x, str) else x
                          for x in want):
            bad.append((k, ws, have_, want))
    check(f"ohlc BAR records match pandas ({n} bars)",
          not bad and len(bars) == n, "\n".join(map(str, bad[:5])))
    check("with ohlc, count and vwap ride in the BAR, AGG has the rest",
          rows and "sum_qty" in rows[0] and "count" not in rows[0] and
          "vwap" not in rows[0], str(rows[:1]))
    rc, out, err = run(["fs-window", "--tumble", "1m", "--max-delay", "1s",
                        "--agg", "vwap,count,sum(qty)"], tdata)
    rows, _ = decode_dyn(out)
    exp = {}
    for (k, ws), g in df.groupby(["key", "ws"]):
        pq, q = int(g.pq.sum()), int(g.qty.sum())
        exp[(k, ws, ws + size)] = {"sum_qty": q, "vwap": pq / q / FIX,
                                   "count": len(g)}
    EXACT.add("sum_qty")
    REL["vwap"] = 1e-9
    compare("trade vwap, count, sum(qty)", rows, exp)


def test_csv_header(out):
    if not have("fs-cat"):
        skip("fs-cat -f csv header", "fs-cat not built")
        return
    rc, csv, err = run(["fs-cat", "-f", "csv"], out)
    first = csv.decode().split("\n", 1)[0]
    check("fs-cat -f csv prints the AGG column names",
          "window_start,window_end,count,sum_amount,avg_amount" in first,
          first)


def main():
    if pd is None:
        skip("window oracle", "pandas is not installed")
        done()
    if not have("fs-window") or not have("fs-gen"):
        skip("window oracle", "fs-window or fs-gen not built")
        done()
    rc, data, err = run(["fs-gen", "--kind", "txn", "-n", "20000", "--keys",
                         "150", "--merchants", "200", "--event-rate", "25",
                         "--disorder", "2s", "--seed", "7",
                         "--fixed-ingest"])
    check("fs-gen txn input", rc == 0 and data, err)
    df = inputs_df(data, "txn")
    out = test_tumble(data, df)
    test_csv_header(out)
    test_offset(data, df)
    test_hop(data, df)
    test_cumulate(data, df)
    test_session(data, df)
    test_key_field(data, df)
    test_hll(data, df)
    rc, tdata, err = run(["fs-gen", "--kind", "trade", "-n", "30000",
                          "--symbols", "20", "--event-rate", "100",
                          "--disorder", "1s", "--seed", "3",
                          "--fixed-ingest"])
    check("fs-gen trade input", rc == 0 and tdata, err)
    test_trade(tdata)
    done()


if __name__ == "__main__":
    main()
