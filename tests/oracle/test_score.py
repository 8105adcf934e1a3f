"""fs-score-gpu against python3-xgboost, hand-computed LightGBM and
logistic models, and bad inputs.

Scores must equal Booster.predict within 1e-6 and --explain must equal
pred_contribs within 1e-5, for depths 2-10, 1-1000 trees, with missing
values.  GPU scores must equal CPU scores (skipped without a device).
"""
import os
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import xgboost as xgb
except ImportError:
    # Debian's python3 has numpy and xgboost; a pyenv python may not.
    if os.path.exists("/usr/bin/python3") and sys.executable != "/usr/bin/python3":
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    np = xgb = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import check, skip, done  # noqa: E402
from xgbdata import target  # noqa: E402

TOOL = "fs-score-gpu"
HDR = struct.Struct("<IHBBqqQQ")
T_FEATURES, T_SCORE, T_ALERT, T_WATERMARK, T_SCHEMA = 8, 9, 10, 0x100, 0x102
TMP = tempfile.mkdtemp(prefix="score-oracle-")


def frame(typ, body, flags=0, ts=0, tsi=0, key=0, seq=0):
    body = body + b"\0" * ((-len(body)) % 8)
    return HDR.pack(36 + len(body), typ, 1, flags, ts, tsi, key, seq) + body


def schema(names, sid=1):
    body = struct.pack("<HHI", T_FEATURES, len(names), sid)
    body += bytes([7]) * len(names)  # FS_K_F32
    body += b"".join(n.encode() + b"\0" for n in names)
    return frame(T_SCHEMA, body, flags=1)


def features_frames(X, sid=1):
    """FEATURES frames for the rows of X (float32), seq = row number."""
    n, k = X.shape
    body = 8 + 4 * k
    pad = (-body) % 8
    dt = np.dtype([("len", "<u4"), ("type", "<u2"), ("ver", "u1"),
                   ("flags", "u1"), ("te", "<i8"), ("ti", "<i8"),
                   ("key", "<u8"), ("seq", "<u8"), ("ncols", "<u4"),
                   ("sid", "<u4"), ("v", "<f4", (k,)), ("pad", "u1", (pad,))])
    rec = np.zeros(n, dtype=dt)
    rec["len"] = 36 + body + pad
    rec["type"] = T_FEATURES
    rec["ver"] = 1
    rec["seq"] = np.arange(n)
    rec["te"] = 1000 + np.arange(n)
    rec["ti"] = 2000 + np.arange(n)
    rec["key"] = 7
    rec["ncols"] = k
    rec["sid"] = sid
    rec["v"] = X
    return rec.tobytes()


def read_frames(buf):
    out, off = [], 0
    while off + 40 <= len(buf):
        ln, typ, _, fl, te, ti, key, seq = HDR.unpack_from(buf, off)
        out.append((typ, fl, te, ti, key, seq, buf[off + 40:off + 4 + ln]))
        off += 4 + ln
    return out


def scores(frames):
    """(score, model_id, decision, [(feature, contrib)]) of SCORE frames."""
    res = []
    for f in frames:
        if f[0] != T_SCORE:
            continue
        b = f[6]
        sc, mid, dec, nex = struct.unpack_from("<dQBB", b, 0)
        ex = [struct.unpack_from("<If", b, 24 + 8 * i) for i in range(nex)]
        res.append((sc, mid, dec, ex))
    return res


def run(args, data, env=None):
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([TOOL] + args, input=data, capture_output=True,
                          env=e, timeout=300)


def path(name):
    return os.path.join(TMP, name)


def train(depth, ntrees, obj, nfeat=6, n=600, seed=0, base=None):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, nfeat)).astype(np.float32)
    X[rng.random((n, nfeat)) < 0.15] = np.nan
    z = np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2])
    z += 0.5 * rng.standard_normal(n)
    y = target(z, obj)
    names = ["feat_%d" % i for i in range(nfeat)]
    params = {"max_depth": depth, "objective": obj, "eta": 0.3,
              "nthread": 2, "seed": seed}
    if base is not None:
        params["base_score"] = base
    d = xgb.DMatrix(X, y, feature_names=names)
    b = xgb.train(params, d, ntrees)
    fn = path("m_%d_%d_%s.json" % (depth, ntrees, obj.replace(":", "_")))
    b.save_model(fn)
    return b, fn, names


def test_xgb_models():
    cases = [(2, 1, "binary:logistic", None), (3, 10, "reg:squarederror", 1.5),
             (6, 100, "binary:logistic", 0.3), (4, 1000, "binary:logistic", None),
             (10, 40, "reg:logistic", None), (8, 30, "reg:squarederror", None),
             (5, 50, "binary:logitraw", 0.2)]
    rng = np.random.default_rng(42)
    for depth, ntrees, obj, base in cases:
        b, fn, names = train(depth, ntrees, obj, seed=depth * 7 + ntrees,
                             base=base)
        Xt = rng.standard_normal((700, len(names))).astype(np.float32)
        Xt[rng.random(Xt.shape) < 0.2] = np.nan
        # the schema has the columns in another order, plus an extra one
        order = list(reversed(range(len(names))))
        cols = [names[i] for i in order] + ["unused"]
        Xs = np.concatenate([Xt[:, order], np.ones((len(Xt), 1), np.float32)],
                            axis=1)
        data = schema(cols) + features_frames(Xs)
        want = b.predict(xgb.DMatrix(Xt, feature_names=names))
        con = b.predict(xgb.DMatrix(Xt, feature_names=names),
                        pred_contribs=True)
        name = "xgb depth %d, %d trees, %s" % (depth, ntrees, obj)
        for env, what in ((None, "simd"), ({"FS_SCORE_NO_SIMD": "1"}, "scalar")):
            p = run(["-m", fn, "--device", "cpu", "-j", "2", "--explain", "8",
                     "--batch", "333"], data, env)
            got = scores(read_frames(p.stdout))
            ok = p.returncode == 0 and len(got) == len(Xt)
            check(name + ": exit 0, one SCORE per row (%s)" % what, ok,
                  p.stderr.decode())
            if not ok:
                continue
            s = np.array([g[0] for g in got])
            err = np.abs(s - want).max()
            check(name + ": scores equal predict within 1e-6 (%s)" % what,
                  err <= 1e-6, "max abs diff %g" % err)
            if what == "scalar":
                continue
            cerr, order_ok = 0.0, True
            for i, g in enumerate(got):
                row = con[i, :-1]
                for col, c in g[3]:
                    j = order[col]
                    cerr = max(cerr, abs(row[j] - c))
                # top K by |contrib|: nothing left out beats the last kept
                kept = {order[col] for col, _ in g[3]}
                if g[3]:
                    floor = min(abs(c) for _, c in g[3])
                    rest = [abs(row[j]) for j in range(len(row))
                            if j not in kept]
                    if rest and max(rest) > floor + 1e-5:
                        order_ok = False
            check(name + ": --explain equals pred_contribs within 1e-5",
                  cerr <= 1e-5, "max abs diff %g" % cerr)
            check(name + ": --explain keeps the top K by |contrib|", order_ok)


def test_allow_missing():
    b, fn, names = train(4, 20, "binary:logistic", seed=3)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((200, len(names))).astype(np.float32)
    keep = names[1:]
    data = schema(keep) + features_frames(X[:, 1:])
    p = run(["-m", fn, "--device", "cpu"], data)
    check("missing model feature: exit 3", p.returncode == 3, p.stderr)
    check("missing model feature: the message names it",
          b"'feat_0'" in p.stderr, p.stderr)
    p = run(["-m", fn, "--device", "cpu", "--allow-missing"], data)
    X2 = X.copy()
    X2[:, 0] = np.nan
    want = b.predict(xgb.DMatrix(X2, feature_names=names))
    got = np.array([g[0] for g in scores(read_frames(p.stdout))])
    check("--allow-missing scores the absent feature as NaN",
          p.returncode == 0 and len(got) == len(want)
          and np.abs(got - want).max() <= 1e-6, p.stderr)


def lgbm_eval(x, tree):
    """LightGBM's numerical decision, written out for the check."""
    node = 0
    while node >= 0:
        f, t, dt = tree["split_feature"][node], tree["threshold"][node], \
            tree["decision_type"][node]
        v = x[f]
        mtype = (dt >> 2) & 3
        if np.isnan(v) and mtype != 2:
            v = 0.0
        if (mtype == 1 and abs(v) <= 1e-35) or (mtype == 2 and np.isnan(v)):
            node = tree["left_child"][node] if dt & 2 else tree["right_child"][node]
        elif v <= t:
            node = tree["left_child"][node]
        else:
            node = tree["right_child"][node]
    return tree["leaf_value"][~node]


LGBM_TREES = [
    {"split_feature": [0, 1], "threshold": [0.5, 0.30000000000000004],
     "decision_type": [2, 10], "left_child": [1, -1], "right_child": [-2, -3],
     "leaf_value": [0.1, -0.2, 0.3], "leaf_count": [30, 20, 10],
     "internal_count": [60, 30]},
    {"split_feature": [2], "threshold": [1.0000000180025095e-35],
     "decision_type": [6], "left_child": [-1], "right_child": [-2],
     "leaf_value": [-0.05, 0.25], "leaf_count": [40, 20],
     "internal_count": [60]},
    {"split_feature": [1], "threshold": [-1.5], "decision_type": [0],
     "left_child": [-1], "right_child": [-2], "leaf_value": [0.7, -0.1],
     "leaf_count": [5, 55], "internal_count": [60]},
]


def lgbm_text(objective="binary sigmoid:1"):
    lines = ["tree", "version=v3", "num_class=1", "num_tree_per_iteration=1",
             "label_index=0", "max_feature_idx=2",
             "objective=" + objective, "feature_names=a b c",
             "feature_infos=[-3:3] [-3:3] [-3:3]", "tree_sizes=1 1 1", ""]
    for i, t in enumerate(LGBM_TREES):
        lines.append("Tree=%d" % i)
        lines.append("num_leaves=%d" % len(t["leaf_value"]))
        lines.append("num_cat=0")
        for k in ("split_feature", "threshold", "decision_type", "left_child",
                  "right_child", "leaf_value", "leaf_count", "internal_count"):
            lines.append("%s=%s" % (k, " ".join(repr(v) for v in t[k])))
        lines += ["is_linear=0", "shrinkage=1", "", ""]
    lines += ["end of trees", "", "feature_importances:", "a=1", "",
              "parameters:", "[boosting: gbdt]", "end of parameters", "",
              "pandas_categorical:null", ""]
    return "\n".join(lines)


def test_lgbm():
    fn = path("lgbm.txt")
    with open(fn, "w") as f:
        f.write(lgbm_text())
    X = np.array([[0.4, 0.2, 0.0], [0.5, 0.5, 1.0], [0.6, np.nan, np.nan],
                  [np.nan, -2.0, -1.0], [0.5000001, 0.3, 1e-36],
                  [0.0, np.nan, 2.0], [0.1, 0.3, 5.0]], dtype=np.float32)
    # by hand: tree 1: a <= 0.5 (NaN a counts as 0)
    #                    ? (b <= 0.30000000000000004 or NaN b ? 0.1 : 0.3)
    #                    : -0.2      (float32 0.3 is above the threshold)
    #          tree 2: c zero or NaN -> left -0.05; c <= 1e-35 ? -0.05 : 0.25
    #          tree 3: NaN b counts as 0; b <= -1.5 ? 0.7 : -0.1
    hand = [0.1 - 0.05 - 0.1, 0.3 + 0.25 - 0.1, -0.2 - 0.05 - 0.1,
            0.1 - 0.05 + 0.7, -0.2 - 0.05 - 0.1, 0.1 + 0.25 - 0.1,
            0.3 + 0.25 - 0.1]
    ev = [sum(lgbm_eval(x.astype(np.float64), t) for t in LGBM_TREES) for x in X]
    check("lightgbm: the reference evaluator agrees with the hand values",
          np.allclose(ev, hand, atol=1e-12), "%s vs %s" % (ev, hand))
    data = schema(["c", "b", "a"]) + features_frames(X[:, [2, 1, 0]])
    p = run(["-m", fn, "--device", "cpu", "--explain", "3"], data)
    got = scores(read_frames(p.stdout))
    want = 1 / (1 + np.exp(-np.array(hand)))
    s = np.array([g[0] for g in got])
    check("lightgbm: binary scores equal the hand-computed values",
          p.returncode == 0 and len(s) == len(want)
          and np.abs(s - want).max() <= 1e-6, "%s %s" % (s, p.stderr))
    ok = p.returncode == 0
    for i, g in enumerate(got):
        total = sum(c for _, c in g[3])
        # SHAP values plus the bias add up to the margin
        bias = sum(np.dot(t["leaf_value"], t["leaf_count"]) /
                   sum(t["leaf_count"]) for t in LGBM_TREES)
        if abs(total + bias - hand[i]) > 1e-5:
            ok = False
    check("lightgbm: explanations add up to the margin", ok)
    with open(fn, "w") as f:
        f.write(lgbm_text("regression"))
    p = run(["-m", fn, "--device", "cpu"], data)
    s = np.array([g[0] for g in scores(read_frames(p.stdout))])
    check("lightgbm: regression outputs the raw sum",
          len(s) == len(hand) and np.abs(s - hand).max() <= 1e-9, s)
    with open(fn, "w") as f:
        f.write(lgbm_text().split("Tree=2")[0])
    p = run(["-m", fn, "--device", "cpu"], data)
    check("lightgbm: truncated model: exit 3 with a message",
          p.returncode == 3 and b"end of trees" in p.stderr, p.stderr)


def test_logistic():
    fn = path("logit.json")
    with open(fn, "w") as f:
        f.write('{"model": "logistic", "feature_names": ["x", "y"], '
                '"weights": [0.5, -1.25], "intercept": 0.1, '
                '"means": [1.0, 0.0]}')
    X = np.array([[1, 2], [0, 0], [np.nan, 1], [3, -1]], dtype=np.float32)
    data = schema(["y", "x"]) + features_frames(X[:, [1, 0]])
    p = run(["-m", fn, "--device", "cpu", "--explain", "2"], data)
    got = scores(read_frames(p.stdout))
    X64 = X.astype(np.float64)
    m = 0.1 + 0.5 * np.nan_to_num(X64[:, 0]) - 1.25 * X64[:, 1]
    want = 1 / (1 + np.exp(-m))
    s = np.array([g[0] for g in got])
    check("logistic: scores equal the formula",
          len(s) == 4 and np.abs(s - want).max() <= 1e-12, s)
    ex = dict(got[0][3])
    check("logistic: explanation w * (x - mean)",
          abs(ex.get(1, 0) - 0.0) < 1e-6 and abs(ex.get(0) + 2.5) < 1e-6
          if 0 in ex else False, got[0][3])


def test_order_and_alerts():
    b, fn, names = train(3, 10, "binary:logistic", seed=11)
    rng = np.random.default_rng(9)
    X = rng.standard_normal((50, len(names))).astype(np.float32)
    feats = features_frames(X)
    size = len(feats) // 50
    data = schema(names)
    for i in range(50):
        data += feats[i * size:(i + 1) * size]
        if i % 7 == 3:
            data += frame(T_WATERMARK, struct.pack("<q", i), flags=1, seq=i)
    alerts = path("alerts.fsr")
    p = run(["-m", fn, "--device", "cpu", "--batch", "16", "--threshold",
             "0.5", "--alerts", alerts], data)
    fr = read_frames(p.stdout)
    seq = [(f[0], f[5]) for f in fr if f[0] in (T_SCORE, T_WATERMARK)]
    want = []
    for i in range(50):
        want.append((T_SCORE, i))
        if i % 7 == 3:
            want.append((T_WATERMARK, i))
    check("records pass through in input order, after earlier SCOREs",
          seq == want, seq[:12])
    check("the SCHEMA record is forwarded", fr and fr[0][0] == T_SCHEMA)
    got = scores(fr)
    sc = [g[0] for g in got]
    with open(alerts, "rb") as f:
        al = read_frames(f.read())
    check("one ALERT per score >= threshold",
          len(al) == sum(s >= 0.5 for s in sc) and all(a[0] == T_ALERT for a in al),
          "%d alerts, %d scores over" % (len(al), sum(s >= 0.5 for s in sc)))
    check("decision set from --threshold",
          all(g[2] == (g[0] >= 0.5) for g in got))
    keep = all(f[2] == 1000 + f[5] and f[3] == 2000 + f[5] and f[4] == 7
               for f in fr if f[0] == T_SCORE)
    check("SCORE keeps key, seq, ts_event and ts_ingest", keep)
    if al:
        reason = al[0][6][16:40].rstrip(b"\0")
        check("ALERT reason names the threshold", reason == b"score>=0.5", reason)


def test_drift():
    b, fn, names = train(3, 20, "binary:logistic", seed=13)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3000, len(names))).astype(np.float32)
    ref = path("ref.txt")
    p = run(["-m", fn, "--device", "cpu", "--save-reference", ref],
            schema(names) + features_frames(X))
    check("--save-reference writes a reference",
          p.returncode == 0 and os.path.exists(ref), p.stderr)
    same = run(["-m", fn, "--device", "cpu", "--reference", ref,
                "--psi-window", "1000"], schema(names) + features_frames(X))
    n_same = sum(f[0] == T_ALERT for f in read_frames(same.stdout))
    X2 = X + 1.5
    p = run(["-m", fn, "--device", "cpu", "--reference", ref,
             "--psi-window", "1000"], schema(names) + features_frames(X2))
    al = [f for f in read_frames(p.stdout) if f[0] == T_ALERT]
    check("no drift ALERT on the reference data itself", n_same == 0)
    check("shifted data raises one PSI ALERT",
          len(al) == 1 and al[0][6][16:19] == b"psi", p.stderr)


def test_bad_models():
    data = schema(["a"]) + features_frames(np.zeros((3, 1), np.float32))
    p = run(["-m", path("nope.json")], data)
    check("missing model file: exit 1, 'cannot open'",
          p.returncode == 1 and b"cannot open" in p.stderr, p.stderr)
    b, fn, names = train(3, 5, "binary:logistic", seed=2)
    text = open(fn).read()
    cases = {
        "truncated JSON": text[:len(text) // 2],
        "garbage": "\x00\x01garbage",
        "empty": "",
        "dart": text.replace('"name":"gbtree"', '"name":"dart"'),
        "categorical": text.replace('"split_type":[0', '"split_type":[1', 1),
        "child out of range": text.replace('"left_children":[1', '"left_children":[99', 1),
        "multi-class": text.replace('"binary:logistic"', '"multi:softprob"'),
    }
    for what, body in cases.items():
        bad = path("bad.json")
        with open(bad, "w") as f:
            f.write(body)
        p = run(["-m", bad, "--device", "cpu"], data)
        check("bad model (%s): exit 3 with a message" % what,
              p.returncode == 3 and b"bad model" in p.stderr, p.stderr)
    if "dart" in cases and '"name":"gbtree"' not in text:
        skip("dart case", "model text layout differs")


def test_bad_input():
    b, fn, names = train(3, 5, "binary:logistic", seed=4)
    X = np.zeros((10, len(names)), np.float32)
    good = schema(names) + features_frames(X)
    p = run(["-m", fn, "--device", "cpu"], features_frames(X))
    check("FEATURES before SCHEMA: exit 3", p.returncode == 3
          and b"SCHEMA" in p.stderr, p.stderr)
    p = run(["-m", fn, "--device", "cpu"], good + b"\x07" * 13)
    got = scores(read_frames(p.stdout))
    check("garbage after good frames: exit 3, the good rows are scored",
          p.returncode == 3 and len(got) == 10, p.stderr)
    p = run(["-m", fn, "--device", "cpu"], good[:-5])
    check("truncated last frame: exit 3, the rows before it are scored",
          p.returncode == 3 and len(scores(read_frames(p.stdout))) == 9,
          p.stderr)
    short = schema(names) + frame(T_FEATURES, struct.pack("<II", 99, 1))
    p = run(["-m", fn, "--device", "cpu"], short)
    check("FEATURES with the wrong column count: exit 3",
          p.returncode == 3 and b"columns" in p.stderr, p.stderr)


def test_gpu():
    v = subprocess.run([TOOL, "--version"], capture_output=True).stdout
    if b"features: cuda" not in v:
        skip("gpu scores equal cpu scores", "this build lacks CUDA support")
        return
    if b"cuda device: no" in v or b"cuda device: none" in v:
        skip("gpu scores equal cpu scores", "no CUDA device present")
        return
    for depth, ntrees, obj in ((6, 100, "binary:logistic"),
                               (10, 30, "reg:squarederror")):
        b, fn, names = train(depth, ntrees, obj, seed=depth)
        rng = np.random.default_rng(3)
        X = rng.standard_normal((20000, len(names))).astype(np.float32)
        X[rng.random(X.shape) < 0.1] = np.nan
        data = schema(names) + features_frames(X)
        c = scores(read_frames(run(["-m", fn, "--device", "cpu"], data).stdout))
        p = run(["-m", fn, "--device", "gpu", "--batch", "8192"], data)
        g = scores(read_frames(p.stdout))
        ok = p.returncode == 0 and len(g) == len(c)
        err = max(abs(a[0] - b_[0]) for a, b_ in zip(c, g)) if ok else -1
        check("gpu scores equal cpu scores within 1e-6 (depth %d)" % depth,
              ok and err <= 1e-6, "%s %s" % (err, p.stderr))
    fn = path("lgbm.txt")
    with open(fn, "w") as f:
        f.write(lgbm_text())
    X = np.random.default_rng(0).standard_normal((5000, 3)).astype(np.float32)
    data = schema(["a", "b", "c"]) + features_frames(X)
    c = scores(read_frames(run(["-m", fn, "--device", "cpu"], data).stdout))
    g = scores(read_frames(run(["-m", fn, "--device", "gpu"], data).stdout))
    check("gpu lightgbm scores equal cpu scores",
          len(c) == len(g) == 5000
          and max(abs(a[0] - b_[0]) for a, b_ in zip(c, g)) <= 1e-6)


def main():
    if xgb is None:
        skip("fs-score-gpu oracle", "python3-numpy/python3-xgboost missing")
        done()
    for t in (test_xgb_models, test_allow_missing, test_lgbm, test_logistic,
              test_order_and_alerts, test_drift, test_bad_models,
              test_bad_input, test_gpu):
        t()
    done()


if __name__ == "__main__":
    main()
