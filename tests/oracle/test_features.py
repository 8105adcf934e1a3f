#!/usr/bin/env python3
"""Oracle checks for fs-window --features fraud-v1 against pandas/numpy.

The definitions (fs-window(1), FEATURE SET fraud-v1): for each TXN, in
arrival order, H = the same account's events that arrived earlier, and
H_W = those of H with t - W < ts <= t.  pandas recomputes every feature
from the decoded input records, account by account, and the FEATURES
records must match: counts, money sums (exact sums rounded once to
float32), distinct counts, flags, secs_since_prev exactly; the z-score
(float64 statistics rounded to float32 by the record format) within
1e-9 relative before that rounding, i.e. equal to pandas' value rounded
to float32 or one float32 step from it.
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_window as tw  # noqa: E402  (re-execs with Debian's python)
from tap import check, skip, done  # noqa: E402

np, pd = tw.np, tw.pd
NS = tw.NS
NAMES = ["amount", "mcc", "channel", "hour_of_day", "txn_count_1m",
         "txn_count_1h", "txn_count_24h", "amount_sum_1m", "amount_sum_1h",
         "amount_sum_24h", "amount_zscore", "distinct_merchants_1h",
         "distinct_merchants_24h", "distinct_countries_1h",
         "distinct_countries_24h", "secs_since_prev", "merchant_is_new",
         "country_is_new", "device_is_new", "label"]
WINDOWS = {"1m": 60 * NS, "1h": 3600 * NS, "24h": 86400 * NS}


def f32(x):
    return float(np.float32(x))


def expected(df):
    """Feature rows (dicts) in arrival order, computed per account."""
    out = [None] * len(df)
    for _acc, g in df.groupby("account", sort=False):
        ts = g.ts.to_numpy()
        amt = g.amount.to_numpy()
        d = amt / tw.FIX
        mer, cty, dev = (g.merchant.to_numpy(), g.country.to_numpy(),
                         g.device.to_numpy())
        prior = pd.Series(d)
        mean = prior.expanding().mean().shift(1).to_numpy()
        std = prior.expanding().std().shift(1).to_numpy()
        for i, (pos, row) in enumerate(zip(g.arrival, g.itertuples())):
            before = np.arange(len(g)) < i
            r = {"amount": f32(row.amount / tw.FIX), "mcc": row.mcc,
                 "channel": row.channel, "hour_of_day": (row.ts // (3600 * NS)) % 24,
                 "label": row.label}
            for wn, w in WINDOWS.items():
                m = before & (ts <= row.ts) & (ts > row.ts - w)
                r["txn_count_" + wn] = int(m.sum())
                r["amount_sum_" + wn] = f32(int(amt[m].astype(object).sum())
                                            / tw.FIX)
                if wn != "1m":
                    r["distinct_merchants_" + wn] = len(set(mer[m]))
                    r["distinct_countries_" + wn] = len(set(cty[m]))
            sd = std[i]
            r["amount_zscore"] = ((d[i] - mean[i]) / sd
                                  if i >= 2 and sd > 0 else math.nan)
            prev = ts[before & (ts <= row.ts)]
            r["secs_since_prev"] = (f32((row.ts - prev.max()) / NS)
                                    if len(prev) else math.nan)
            r["merchant_is_new"] = int(mer[i] not in set(mer[before]))
            r["country_is_new"] = int(cty[i] not in set(cty[before]))
            r["device_is_new"] = int(dev[i] not in set(dev[before]))
            out[pos] = r
    return out


def f32_near(got, want):
    """got (float32) equals want rounded to float32, or one step off."""
    if math.isnan(want):
        return math.isnan(got)
    w = np.float32(want)
    return got == w or got in (np.nextafter(w, np.float32(np.inf)),
                               np.nextafter(w, np.float32(-np.inf)))


def compare(name, data, maxdelay="2s", extra=()):
    df = tw.inputs_df(data, "txn")
    rc, out, err = tw.run(["fs-window", "--features", "fraud-v1",
                           "--max-delay", maxdelay] + list(extra), data)
    check(f"{name}: exit 0", rc == 0, err)
    rows, schemas = tw.decode_dyn(out)
    names = [n for n, _k in next(iter(schemas.values()))] if schemas else []
    check(f"{name}: SCHEMA names the fraud-v1 features", names == NAMES,
          str(names))
    check(f"{name}: one FEATURES record per TXN", len(rows) == len(df),
          f"{len(rows)} vs {len(df)}")
    hdr_ok = len(rows) == len(df) and all(r["key"] == k and r["seq"] == s and r["ts_event"] == t and
                 r["ts_ingest"] == ti for r, k, s, t, ti in
                 zip(rows, df.key, df.seq, df.ts, df.ts_ingest))
    check(f"{name}: FEATURES carry the TXN's key, seq, ts_event, ts_ingest",
          hdr_ok)
    exp = expected(df)
    bad = {}
    for i, (r, e) in enumerate(zip(rows, exp)):
        for col, ev in e.items():
            got = r[col]
            if col == "amount_zscore":
                ok = f32_near(got, ev)
            elif isinstance(ev, float) and math.isnan(ev):
                ok = math.isnan(got)
            else:
                ok = got == ev
            if not ok:
                bad.setdefault(col, []).append((i, got, ev))
    check(f"{name}: every feature matches pandas ({len(rows)} events)",
          rows and not bad, "\n".join(f"{c}: {len(v)} bad, e.g. {v[:3]}"
                             for c, v in bad.items()))
    return rows, exp


def handmade():
    """Ties, window edges, out-of-order arrivals within the delay."""
    m, h = 60 * NS, 3600 * NS
    t0 = 1767225600 * NS  # 2026-01-01T00:00:00Z
    evs = [
        (t0, 1, 1000, 7, b"US", 1), (t0, 1, 2000, 7, b"US", 1),   # tie
        (t0 + m - 1, 1, 300, 8, b"FR", 2),       # 1ns inside 1m
        (t0 + m, 1, 400, 8, b"FR", 2),           # exactly 1m: first leaves
        (t0 + m - 5 * NS, 1, 500, 9, b"US", 1),  # arrives late, earlier ts
        (t0 + h, 1, 600, 7, b"DE", 3),           # exactly 1h
        (t0 + h + 1, 2, 100, 1, b"US", 1),
        (t0 + 24 * h - 1, 1, 700, 7, b"US", 1),  # 1ns inside 24h
        (t0 + 24 * h, 1, 800, 10, b"US", 1),     # exactly 24h
        (t0 + 24 * h + 2 * m, 1, 900, 10, b"US", 1),
        (t0 + 24 * h + m, 1, 950, 11, b"IT", 4),  # out of order by 1m
        (t0 + 30 * h, 2, 100, 1, b"US", 1),
    ]
    data = b""
    for i, (t, acc, cents, mer, cty, dev) in enumerate(evs):
        data += tw.txn_frame(t, acc, cents * tw.FIX // 100, merchant=mer,
                             country=cty, device=dev, seq=i)
    return data


def test_ttl():
    """--state-ttl: an account quiet for the TTL starts afresh."""
    t0 = 1767225600 * NS
    data = (tw.txn_frame(t0, 5, 100 * tw.FIX, merchant=3) +
            tw.txn_frame(t0 + 10 * NS, 5, 100 * tw.FIX, merchant=3) +
            tw.txn_frame(t0 + 10 * NS + 3600 * NS, 5, 100 * tw.FIX,
                         merchant=3))
    rc, out, err = tw.run(["fs-window", "--features", "fraud-v1",
                           "--state-ttl", "1h"], data)
    rows, _ = tw.decode_dyn(out)
    check("state-ttl: the second event knows the first",
          len(rows) == 3 and rows[1]["merchant_is_new"] == 0 and
          rows[1]["txn_count_1h"] == 1, str(rows[:2]))
    check("state-ttl: after 1h quiet the account starts afresh",
          len(rows) == 3 and rows[2]["merchant_is_new"] == 1 and
          rows[2]["txn_count_24h"] == 0 and
          math.isnan(rows[2]["secs_since_prev"]), str(rows[2:]))
    # Without the TTL the history is kept.
    rc, out, err = tw.run(["fs-window", "--features", "fraud-v1"], data)
    rows, _ = tw.decode_dyn(out)
    check("no state-ttl: history kept",
          len(rows) == 3 and rows[2]["merchant_is_new"] == 0 and
          rows[2]["txn_count_24h"] == 2, str(rows[2:]))


def test_ttl_memory(tmp):
    """Many accounts, then one event far later: the sweep frees them."""
    t0 = 1767225600 * NS
    data = b"".join(tw.txn_frame(t0 + i * NS // 10, 1000 + i, 100)
                    for i in range(5000))
    data += tw.txn_frame(t0 + 7200 * NS, 1, 100)
    mfile = os.path.join(tmp, "m.prom")
    rc, out, err = tw.run(["fs-window", "--features", "fraud-v1",
                           "--state-ttl", "1h", "--metrics", mfile], data)
    text = open(mfile).read() if os.path.exists(mfile) else ""
    keys = [ln for ln in text.splitlines()
            if ln.startswith("fs_window_state_keys")]
    expired = [ln for ln in text.splitlines()
               if ln.startswith("fs_window_expired_keys_total")]
    check("state-ttl sweep: 5000 quiet accounts freed, 1 kept",
          keys and keys[0].split()[-1] == "1" and expired and
          expired[0].split()[-1] == "5000", "\n".join(keys + expired))


def main():
    if pd is None:
        skip("features oracle", "pandas is not installed")
        done()
    if not tw.have("fs-window"):
        skip("features oracle", "fs-window not built")
        done()
    compare("hand-made edges", handmade(), maxdelay="5m")
    if tw.have("fs-gen"):
        rc, dense, err = tw.run(["fs-gen", "--kind", "txn", "-n", "20000",
                                 "--keys", "200", "--event-rate", "20",
                                 "--disorder", "2s", "--seed", "11"])
        compare("fs-gen dense (20/s, 200 accounts)", dense)
        rc, sparse, err = tw.run(["fs-gen", "--kind", "txn", "-n", "12000",
                                  "--keys", "100", "--event-rate", "0.1",
                                  "--disorder", "30s", "--seed", "5"])
        compare("fs-gen sparse (33 h, 100 accounts)", sparse,
                maxdelay="30s")
        rc, dis, err = tw.run(["fs-gen", "--kind", "txn", "-n", "8000",
                               "--keys", "20", "--event-rate", "2",
                               "--disorder", "10m", "--seed", "9"])
        compare("fs-gen heavy disorder (10 min, 20 accounts)", dis,
                maxdelay="10m")
        if tw.have("fs-cat"):
            rc, small, _ = tw.run(["fs-gen", "-n", "100"])
            rc, out, _ = tw.run(["fs-window", "--features", "fraud-v1"],
                                small)
            rc, csv, err = tw.run(["fs-cat", "-f", "csv"], out)
            head = csv.decode().split("\n", 1)[0]
            check("fs-cat -f csv header lists the features",
                  head.endswith(",".join(NAMES)), head)
    else:
        skip("fs-gen data", "fs-gen not built")
    test_ttl()
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        test_ttl_memory(tmp)
    done()


if __name__ == "__main__":
    main()
