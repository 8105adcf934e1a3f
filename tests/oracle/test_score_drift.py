"""fs-score-gpu's PSI and --explain order, as fs-score-gpu(1) states them.

An identity-link logistic model with one weight of 1 makes the score
the input value, so the scores are chosen here and the reference file
and the PSI are computed again with numpy:
- --save-reference edges: the sorted sample's values at n*i/10, i=1..9,
  then inf; a bin holds the scores above the edge before it, up to its
  own; equal edges merge into one bin;
- more than 65,536 scores: a uniform sample of 65,536 (reservoir,
  fixed seed: the same file every run);
- PSI = sum (a - e) ln(a / e), a and e floored at 1e-4, and no ALERT
  before the window holds --psi-window scores;
- --explain: by |contribution| descending, equal ones by schema column.
"""
import math
import os
import struct
import sys

try:
    import numpy as np
except ImportError:
    if os.path.exists("/usr/bin/python3") and sys.executable != "/usr/bin/python3":
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    np = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import check, skip, done  # noqa: E402
from test_score import (T_ALERT, T_SCORE, features_frames, path,  # noqa: E402
                        read_frames, run, schema)


def ident_model():
    fn = path("ident.json")
    with open(fn, "w") as f:
        f.write('{"model": "logistic", "link": "identity", '
                '"feature_names": ["x"], "weights": [1], "intercept": 0}')
    return fn


def data(v):
    return schema(["x"]) + features_frames(
        np.asarray(v, dtype=np.float32).reshape(-1, 1))


def read_ref(fn):
    with open(fn) as f:
        lines = f.read().split("\n")
    nb = int(lines[1].split()[1])
    edges, fr = [], []
    for ln in lines[2:2 + nb]:
        e, p = ln.split()
        edges.append(float(e))
        fr.append(float(p))
    return edges, fr


def want_ref(v):
    """Edges and fractions as fs-score-gpu(1) states them."""
    s = np.sort(np.asarray(v, dtype=np.float32).astype(np.float64))
    n = len(s)
    edges = []
    for i in range(1, 10):
        e = s[(n * i) // 10]
        if not edges or e > edges[-1]:
            edges.append(e)
    edges.append(math.inf)
    cnt = np.zeros(len(edges))
    for x in s:
        cnt[next(b for b, e in enumerate(edges) if x <= e)] += 1
    return edges, list(cnt / n)


def psi(window, edges, ref):
    cnt = np.zeros(len(edges))
    for x in window:
        cnt[next(b for b, e in enumerate(edges) if x <= e)] += 1
    a = np.maximum(cnt / len(window), 1e-4)
    e = np.maximum(np.asarray(ref), 1e-4)
    return float(np.sum((a - e) * np.log(a / e)))


def test_reference():
    m = ident_model()
    rng = np.random.default_rng(4)
    v = rng.random(5000)
    ref = path("r1.txt")
    p = run(["-m", m, "--device", "cpu", "--save-reference", ref], data(v))
    edges, fr = read_ref(ref)
    we, wf = want_ref(v)
    check("--save-reference: decile edges are the sorted scores at n*i/10",
          p.returncode == 0 and np.allclose(edges[:-1], we[:-1], rtol=0,
                                            atol=0) and
          np.allclose(fr, wf, atol=1e-12), (edges, we, fr, wf))
    # 70% of the scores equal: the edges that coincide merge
    v2 = np.concatenate([np.full(700, 0.5), rng.random(300)])
    ref2 = path("r2.txt")
    run(["-m", m, "--device", "cpu", "--save-reference", ref2], data(v2))
    edges, fr = read_ref(ref2)
    we, wf = want_ref(v2)
    check("--save-reference: equal edges merge their bins (%d bins)" %
          len(edges), len(edges) < 10 and edges[:-1] == we[:-1] and
          np.allclose(fr, wf), (edges, we))
    # past 65,536 scores: a fixed-seed sample; the same file every run
    v3 = rng.random(150000)
    ra, rb = path("r3a.txt"), path("r3b.txt")
    run(["-m", m, "--device", "cpu", "--save-reference", ra], data(v3))
    run(["-m", m, "--device", "cpu", "--save-reference", rb], data(v3))
    ea, fa = read_ref(ra)
    true = np.quantile(v3, np.arange(1, 10) / 10)
    check("--save-reference past 65,536 scores: a reproducible sample "
          "whose deciles are the data's within 0.01",
          open(ra).read() == open(rb).read() and len(ea) == 10 and
          np.all(np.abs(np.asarray(ea[:-1]) - true) < 0.01),
          (ea, list(true)))
    check("--save-reference past 65,536 scores: fractions from the "
          "sample (multiples of 1/65536)",
          all(abs(f * 65536 - round(f * 65536)) < 1e-6 for f in fa), fa)


def test_psi():
    m = ident_model()
    rng = np.random.default_rng(5)
    ref = path("rp.txt")
    run(["-m", m, "--device", "cpu", "--save-reference", ref],
        data(rng.random(4000)))
    edges, fr = read_ref(ref)
    # every score in the top bin: the other bins' a is floored at 1e-4
    drift = 0.99 + 0.001 * rng.random(300)
    p = run(["-m", m, "--device", "cpu", "--reference", ref,
             "--psi-window", "200", "--batch", "50"], data(drift))
    al = [f for f in read_frames(p.stdout) if f[0] == T_ALERT]
    first = [i for i, f in enumerate(read_frames(p.stdout))
             if f[0] == T_SCORE]
    want = psi(drift[:200], edges, fr)
    got = struct.unpack_from("<d", al[0][6], 0)[0] if al else None
    check("PSI: floored at 1e-4, equal to numpy's within 1e-9",
          len(al) == 1 and abs(got - want) < 1e-9, (got, want, p.stderr))
    # the ALERT comes after the 200th score: the window full
    fr_all = read_frames(p.stdout)
    pos = fr_all.index(al[0]) if al else -1
    nscores = sum(1 for f in fr_all[:pos] if f[0] == T_SCORE)
    check("PSI: no ALERT before the window holds --psi-window scores "
          "(first after %d)" % nscores, 200 <= nscores <= 250 and first)
    p = run(["-m", m, "--device", "cpu", "--reference", ref,
             "--psi-window", "1000", "--batch", "50"], data(drift))
    check("PSI: 300 drifted scores in a window of 1000 raise no ALERT",
          not any(f[0] == T_ALERT for f in read_frames(p.stdout)))


def test_explain_order():
    fn = path("tie.json")
    with open(fn, "w") as f:
        f.write('{"model": "logistic", "feature_names": ["a", "b", "c", '
                '"d"], "weights": [2, -2, 2, 0.5], "intercept": 0}')
    # schema columns c, d, a, b: a, b, c contribute +-2, d 0.5
    body = schema(["c", "d", "a", "b"]) + features_frames(
        np.array([[1, 1, 1, 1]], dtype=np.float32))
    p = run(["-m", fn, "--device", "cpu", "--explain", "4"], body)
    sc = [f for f in read_frames(p.stdout) if f[0] == T_SCORE][0][6]
    n = sc[17]
    ex = [struct.unpack_from("<If", sc, 24 + 8 * i) for i in range(n)]
    check("--explain: equal |contributions| by schema column ascending, "
          "then smaller ones", [e[0] for e in ex] == [0, 2, 3, 1] and
          [e[1] for e in ex] == [2.0, 2.0, -2.0, 0.5], ex)
    p = run(["-m", fn, "--device", "cpu", "--explain", "2"], body)
    sc = [f for f in read_frames(p.stdout) if f[0] == T_SCORE][0][6]
    ex = [struct.unpack_from("<If", sc, 24 + 8 * i) for i in range(sc[17])]
    check("--explain 2 keeps the first two of that order",
          [e[0] for e in ex] == [0, 2], ex)


def main():
    if np is None:
        skip("fs-score-gpu drift", "python3-numpy missing")
        done()
    test_reference()
    test_psi()
    test_explain_order()
    done()


if __name__ == "__main__":
    main()
