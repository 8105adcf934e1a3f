#!/usr/bin/python3
"""fs-var against numpy/scipy/pandas, from fs-var(1)'s definitions.

var-oracle.py gen DIR [--nsym N] [--nbars N] [--seed S] [--dup]
    Daily price paths with a known covariance (multivariate Student-t
    returns with 5 degrees of freedom, so the tails are not normal) as
    DIR/bars.csv and two portfolios as DIR/pos.csv, for fs-ingest.
    --dup makes symbol 1 a copy of symbol 0 (a singular covariance).
var-oracle.py check DIR METHOD WINDOW OUT.csv [--lambda L] [--horizon H]
                    [--tol T]
    Recompute every VAR record of fs-var's output (fs-cat -f csv) from
    the same CSV files and compare.  Exit 1 with the differences.
var-oracle.py backtest DIR VAR.csv BT.csv [--bt-window N]
    Recompute every backtest row (fs-var --backtest | fs-cat -f csv
    --types agg) from the VAR records of a run at every interval
    (VAR.csv) and the realised P&L of the next interval from the CSV
    files: exceptions, Kupiec's POF (1995) and Christoffersen's (1998)
    independence and conditional-coverage LRs, their p-values with
    scipy.stats.chi2, and the Basel zone with scipy.stats.binom.
var-oracle.py scenarios DIR SHOCKS.csv ROWS.csv
    Recompute every scenario row (fs-var --scenarios | fs-cat -f csv
    --types agg): sum of position value x the symbol's shock, else the
    '*' shock, else 0.
"""
import argparse
import math
import sys

import numpy as np
import pandas as pd
from scipy import integrate, stats

DAY = 86400 * 10**9
T0 = 1767225600 * 10**9  # 2026-01-01T00:00:00Z


def gen(a):
    rng = np.random.default_rng(a.seed)
    n = a.nsym
    vol = rng.uniform(0.005, 0.03, n)
    corr = np.full((n, n), 0.3) + 0.7 * np.eye(n)
    cov = np.outer(vol, vol) * corr
    dof = 5
    z = rng.multivariate_normal(np.zeros(n), cov, a.nbars)
    w = rng.chisquare(dof, (a.nbars, 1))
    r = z * np.sqrt((dof - 2) / w)
    if a.dup:
        r[:, 1] = r[:, 0]
    px = 100 * np.cumprod(1 + r, axis=0)
    syms = [f"S{i:03d}" for i in range(n)]
    with open(f"{a.dir}/bars.csv", "w") as f:
        f.write("ts_event,symbol,window_start,window_end,open,high,low,"
                "close\n")
        for t in range(a.nbars):
            ws, we = T0 + t * DAY, T0 + (t + 1) * DAY
            for i in range(n):
                p = f"{px[t, i]:.8f}"
                f.write(f"{we},{syms[i]},{ws},{we},{p},{p},{p},{p}\n")
    with open(f"{a.dir}/pos.csv", "w") as f:
        f.write("ts_event,symbol,portfolio,qty\n")
        for i in range(n):
            q = int(rng.integers(-500, 1000))
            f.write(f"{T0},{syms[i]},1,{q}\n")
        f.write(f"{T0},{syms[0]},2,100\n")
        f.write(f"{T0},{syms[n - 1]},2,-40\n")


def load(d):
    bars = pd.read_csv(f"{d}/bars.csv", dtype={"close": str})
    bars["close"] = bars["close"].map(float)
    closes = bars.pivot(index="window_end", columns="symbol",
                        values="close").sort_index()
    pos = pd.read_csv(f"{d}/pos.csv")
    return closes, pos


def expected(method, r, v, c, lam):
    """(VaR, ES) of one portfolio at confidence c, one-bar horizon."""
    p = r @ v
    if method == "hist":
        q = np.quantile(p, 1 - c)  # linear interpolation
        return -q, -p[p <= q].mean()
    z = stats.norm.ppf(c)
    if method in ("param", "mc"):
        s = math.sqrt(v @ np.cov(r.T, ddof=1) @ v)
        return z * s, s * stats.norm.pdf(z) / (1 - c)
    if method == "ewma":
        n = r.shape[1]
        prod = pd.DataFrame({(i, j): r[:, i] * r[:, j]
                             for i in range(n) for j in range(n)})
        last = prod.ewm(alpha=1 - lam, adjust=False).mean().iloc[-1]
        sig = np.array([[last[(i, j)] for j in range(n)]
                        for i in range(n)])
        s = math.sqrt(v @ sig @ v)
        return z * s, s * stats.norm.pdf(z) / (1 - c)
    if method == "cornish-fisher":
        mu, m2 = p.mean(), p.var()
        sk, ku = stats.skew(p), stats.kurtosis(p)
        zq = stats.norm.ppf(1 - c)

        def h(x):
            return (x + (x * x - 1) * sk / 6 + (x**3 - 3 * x) * ku / 24
                    - (2 * x**3 - 5 * x) * sk * sk / 36)
        tail, _ = integrate.quad(lambda u: h(stats.norm.ppf(u)), 0, 1 - c,
                                 epsabs=1e-13, epsrel=1e-12, limit=200)
        return -mu - h(zq) * math.sqrt(m2), \
            -mu - math.sqrt(m2) * tail / (1 - c)
    raise SystemExit(f"unknown method {method}")


def check(a):
    closes, pos = load(a.dir)
    out = pd.read_csv(a.out, dtype={"symbol": str})
    out["symbol"] = out["symbol"].fillna("")
    ret = closes.pct_change()
    ends = list(closes.index)
    bad = []
    tot = out[out["symbol"] == ""]
    if len(tot) == 0:
        bad.append("no VAR records")
    for _, row in tot.iterrows():
        we = pd.Timestamp(row["ts_event"]).value
        k = ends.index(we)
        pf = pos[pos["portfolio"] == row["portfolio"]]
        syms = list(pf["symbol"])
        v = pf["qty"].to_numpy() * closes.loc[we, syms].to_numpy()
        r = ret.iloc[k - a.window + 1:k + 1][syms].to_numpy()
        ev, ee = expected(a.method, r, v, row["confidence"], a.lam)
        sq = math.sqrt(a.horizon)
        ev, ee = ev * sq, ee * sq
        for name, got, want in (("var", row["var"], ev),
                                ("es", row["es"], ee)):
            if abs(got - want) > a.tol * abs(want) + 2e-8:
                bad.append(f"{row['ts_event']} portfolio "
                           f"{row['portfolio']} c={row['confidence']} "
                           f"{name}: fs-var {got!r}, oracle {want!r}")
        if row["observations"] != a.window:
            bad.append(f"observations {row['observations']}")
        if abs(row["value"] - v.sum()) > 1e-6 * abs(v.sum()) + 1e-7:
            bad.append(f"value {row['value']} != {v.sum()}")
    # components (when asked for) add up to the total (Euler)
    comp = out[out["symbol"] != ""]
    if len(comp):
        g = comp.groupby(["ts_event", "portfolio", "confidence"])
        for key, grp in g:
            t = tot[(tot["ts_event"] == key[0]) &
                    (tot["portfolio"] == key[1]) &
                    (tot["confidence"] == key[2])].iloc[0]
            for f in ("var", "es"):
                s = grp[f].sum()
                if abs(s - t[f]) > 1e-6 * abs(t[f]) + 1e-6:
                    bad.append(f"{key} components of {f} add to {s}, "
                               f"total {t[f]}")
    print(f"{len(tot)} VAR records checked, {len(comp)} components",
          file=sys.stderr)
    if bad:
        print("\n".join(bad[:20]), file=sys.stderr)
        sys.exit(1)


def xlogy(x, y):
    return 0.0 if x == 0 else x * math.log(y)


def bt_stats(ex, p):
    """Kupiec and Christoffersen from their formulas, with 0 log 0 = 0."""
    n, x = len(ex), sum(ex)
    pof = -2 * (xlogy(n - x, 1 - p) + xlogy(x, p)
                - xlogy(n - x, 1 - x / n) - xlogy(x, x / n))
    t = {(a, b): 0 for a in (0, 1) for b in (0, 1)}
    for a, b in zip(ex, ex[1:]):
        t[(a, b)] += 1
    n0, n1 = t[0, 0] + t[0, 1], t[1, 0] + t[1, 1]
    p01 = t[0, 1] / n0 if n0 else 0
    p11 = t[1, 1] / n1 if n1 else 0
    pi = (t[0, 1] + t[1, 1]) / (n0 + n1) if n0 + n1 else 0
    ind = -2 * (xlogy(t[0, 0] + t[1, 0], 1 - pi) + xlogy(t[0, 1] + t[1, 1], pi)
                - xlogy(t[0, 0], 1 - p01) - xlogy(t[0, 1], p01)
                - xlogy(t[1, 0], 1 - p11) - xlogy(t[1, 1], p11))
    pof, ind = max(pof, 0), max(ind, 0)
    cc = pof + ind
    cdf = stats.binom.cdf(x, n, p)
    zone = 0 if x == 0 or cdf < 0.95 else 1 if cdf < 0.9999 else 2
    return dict(intervals=n, exceptions=x, pof_lr=pof,
                pof_p=stats.chi2.sf(pof, 1), ind_lr=ind,
                ind_p=stats.chi2.sf(ind, 1), cc_lr=cc,
                cc_p=stats.chi2.sf(cc, 2), zone=zone)


def backtest(a):
    closes, pos = load(a.dir)
    ret = closes.pct_change()
    ends = list(closes.index)
    var = pd.read_csv(a.var, dtype={"symbol": str})
    var = var[var["symbol"].isna()]
    bt = pd.read_csv(a.bt)
    bad = []
    if len(bt) == 0:
        bad.append("no backtest rows")
    # the exception series per (portfolio, confidence), by interval
    series = {}
    for _, row in var.iterrows():
        we = pd.Timestamp(row["ts_event"]).value
        k = ends.index(we)
        if k + 1 >= len(ends):
            continue
        pf = pos[pos["portfolio"] == row["portfolio"]]
        syms = list(pf["symbol"])
        v = pf["qty"].to_numpy() * closes.loc[we, syms].to_numpy()
        pnl = float(v @ ret.iloc[k + 1][syms].to_numpy())
        key = (row["portfolio"], row["confidence"])
        series.setdefault(key, {})[ends[k + 1]] = (
            int(pnl < -row["var"]), row["var"], pnl)
    for _, row in bt.iterrows():
        we = pd.Timestamp(row["ts_event"]).value
        s = series.get((row["portfolio"], row["confidence"]), {})
        done = [t for t in sorted(s) if t <= we][-a.bt_window:]
        if not done:
            bad.append(f"a row at {row['ts_event']} with no forecast")
            continue
        want = bt_stats([s[t][0] for t in done], 1 - row["confidence"])
        want["var"], want["pnl"] = s[done[-1]][1], s[done[-1]][2]
        for f, w in want.items():
            g = row[f]
            if abs(g - w) > 1e-9 * abs(w) + (2e-8 if f in ("var", "pnl")
                                             else 1e-12):
                bad.append(f"{row['ts_event']} portfolio "
                           f"{row['portfolio']} c={row['confidence']} "
                           f"{f}: fs-var {g!r}, oracle {w!r}")
    print(f"{len(bt)} backtest rows checked", file=sys.stderr)
    if bad:
        print("\n".join(bad[:20]), file=sys.stderr)
        sys.exit(1)


def scenarios(a):
    closes, pos = load(a.dir)
    sh = pd.read_csv(a.shocks, comment="#", skipinitialspace=True,
                     dtype={"scenario": str, "symbol": str})
    sh["scenario"] = sh["scenario"].str.strip()
    sh["symbol"] = sh["symbol"].str.strip()
    names = list(dict.fromkeys(sh["scenario"]))
    rows = pd.read_csv(a.rows)
    bad = []
    if list(rows.columns[4:]) != ["portfolio", "value", "left_out"] + names:
        bad.append(f"columns {list(rows.columns)}")
    if len(rows) == 0:
        bad.append("no scenario rows")
    for _, row in rows.iterrows():
        we = pd.Timestamp(row["ts_event"]).value
        pf = pos[pos["portfolio"] == row["portfolio"]]
        v = pf["qty"].to_numpy() * closes.loc[we, list(pf["symbol"])]
        want = {"value": v.sum()}
        for n in names:
            s = sh[sh["scenario"] == n]
            star = s[s["symbol"] == "*"]["shock"]
            own = dict(zip(s["symbol"], s["shock"]))
            dflt = float(star.iloc[0]) if len(star) else 0.0
            want[n] = sum(vi * own.get(sym, dflt)
                          for sym, vi in zip(pf["symbol"], v))
        for f, w in want.items():
            if abs(row[f] - w) > 1e-12 * abs(w) + 2e-8:
                bad.append(f"{row['ts_event']} portfolio "
                           f"{row['portfolio']} {f}: fs-var {row[f]!r}, "
                           f"oracle {w!r}")
    print(f"{len(rows)} scenario rows checked", file=sys.stderr)
    if bad:
        print("\n".join(bad[:20]), file=sys.stderr)
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("dir")
    g.add_argument("--nsym", type=int, default=4)
    g.add_argument("--nbars", type=int, default=80)
    g.add_argument("--seed", type=int, default=7)
    g.add_argument("--dup", action="store_true")
    c = sub.add_parser("check")
    c.add_argument("dir")
    c.add_argument("method")
    c.add_argument("window", type=int)
    c.add_argument("out")
    c.add_argument("--lambda", dest="lam", type=float, default=0.94)
    c.add_argument("--horizon", type=float, default=1)
    c.add_argument("--tol", type=float, default=1e-9)
    b = sub.add_parser("backtest")
    b.add_argument("dir")
    b.add_argument("var")
    b.add_argument("bt")
    b.add_argument("--bt-window", type=int, default=250)
    s = sub.add_parser("scenarios")
    s.add_argument("dir")
    s.add_argument("shocks")
    s.add_argument("rows")
    a = ap.parse_args()
    {"gen": gen, "check": check, "backtest": backtest,
     "scenarios": scenarios}[a.cmd](a)


if __name__ == "__main__":
    main()
