"""fs-score-gpu on every model kind: objectives, categorical splits and
multi-class models, against python3-xgboost and LightGBM's documented
rules.

XGBoost: one tiny model per objective, categorical models (partition
and one-hot splits, NaN in split_conditions) scored on category values
that are in and out of the sets, negative, fractional, past the largest
category and past 2^24, and multi:softprob / multi:softmax models: the
SCORE carries the top class and its probability, --all-classes the
class probabilities; all within 1e-6 of Booster.predict.

LightGBM is not packaged in Debian 12: its models are written by hand
here and checked against the rules of its source, cited where used.
GPU scores must equal CPU scores for every model (skipped without a
device).
"""
import math
import os
import struct
import subprocess
import sys

try:
    import numpy as np
    import xgboost as xgb
except ImportError:
    if os.path.exists("/usr/bin/python3") and sys.executable != "/usr/bin/python3":
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    np = xgb = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import check, skip, done  # noqa: E402
from test_score import (T_FEATURES, T_SCHEMA, T_SCORE, features_frames,  # noqa: E402
                        path, read_frames, run, schema)

GPU_RUNS = []   # (name, model file, input) checked on the GPU at the end


def score_cls(frames):
    """(score, class) of each SCORE frame."""
    out = []
    for f in frames:
        if f[0] == T_SCORE:
            sc = struct.unpack_from("<d", f[6], 0)[0]
            cls = struct.unpack_from("<H", f[6], 18)[0]
            out.append((sc, cls))
    return out


def score_model(fn, X, names, extra=(), name=None):
    data = schema(names) + features_frames(np.asarray(X, dtype=np.float32))
    p = run(["-m", fn, "--device", "cpu"] + list(extra), data)
    if name:
        GPU_RUNS.append((name, fn, data))
    return p


def close(a, b, tol=1e-6):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= tol))


def diff(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return "shapes %s and %s" % (a.shape, b.shape)
    i = int(np.argmax(np.abs(a - b)))
    return "worst row %d: fs-score-gpu %r, expected %r" % (i, a[i], b[i])


# ---- XGBoost objectives ----

def xgb_data(obj, n=300, nfeat=4, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, nfeat)).astype(np.float32)
    X[rng.random((n, nfeat)) < 0.1] = np.nan
    z = np.nan_to_num(X[:, 0]) - 0.7 * np.nan_to_num(X[:, 1])
    if obj.startswith(("binary:", "reg:logistic")):
        y = (z > 0).astype(float)
    elif obj in ("count:poisson", "reg:gamma", "reg:tweedie"):
        y = np.exp(0.5 * z) + (obj != "count:poisson") * 0.01
        if obj == "count:poisson":
            y = np.round(y)
    elif obj == "reg:squaredlogerror":
        y = np.exp(z)
    elif obj == "survival:cox":
        y = np.exp(-z) * np.where(rng.random(n) < 0.8, 1, -1)
    elif obj.startswith("multi:"):
        y = np.digitize(z, [-0.8, 0.0, 0.8]).astype(float)
    elif obj.startswith("rank:"):
        y = np.clip(np.round(z + 1), 0, 3)
    else:
        y = z
    return X, y


def train_xgb(obj, extra=None, ntrees=8):
    X, y = xgb_data(obj)
    names = ["x%d" % i for i in range(X.shape[1])]
    d = xgb.DMatrix(X, y, feature_names=names)
    params = {"objective": obj, "max_depth": 3, "eta": 0.4, "nthread": 2,
              "seed": 1}
    if obj == "survival:aft":
        d.set_float_info("label_lower_bound", np.exp(y / 4))
        d.set_float_info("label_upper_bound",
                         np.where(y > 1, np.inf, np.exp(y / 4)))
    if obj.startswith("rank:"):
        d.set_group([30] * 10)
    if obj.startswith("multi:"):
        params["num_class"] = 4
    params.update(extra or {})
    b = xgb.train(params, d, ntrees)
    fn = path("obj_%s.json" % obj.replace(":", "_"))
    b.save_model(fn)
    return b, fn, names, X


XGB_OBJECTIVES = [
    "reg:squarederror", "reg:squaredlogerror", "reg:logistic",
    "reg:pseudohubererror", "reg:absoluteerror", "binary:logistic",
    "binary:logitraw", "binary:hinge", "count:poisson", "survival:cox",
    "survival:aft", "reg:gamma", "reg:tweedie", "rank:pairwise",
    "rank:ndcg", "rank:map",
]


def test_xgb_objectives():
    for obj in XGB_OBJECTIVES:
        extra = {"base_score": 0.3} if obj == "binary:logitraw" else None
        try:
            b, fn, names, X = train_xgb(obj, extra)
        except xgb.core.XGBoostError as e:
            skip("xgboost %s" % obj, "this xgboost cannot train it: %s" %
                 str(e).splitlines()[0][:80])
            continue
        want = b.predict(xgb.DMatrix(X, feature_names=names))
        p = score_model(fn, X, names, name="xgboost " + obj)
        got = [s for s, _ in score_cls(read_frames(p.stdout))]
        check("xgboost %s: scores equal Booster.predict within 1e-6" % obj,
              p.returncode == 0 and close(got, want),
              p.stderr.decode() + diff(got, want))


# ---- XGBoost categorical ----

CAT_VALUES = [0, 1, 2, 3, 4, 5, 7, 11, 38, 39, 40, 41, 63, 64, 100, -0.0,
              -0.5, -1, -7, 2.5, 3.99, 1e7, 16777215, 16777216, 3e9,
              float("nan")]


def test_xgb_categorical():
    rng = np.random.default_rng(5)
    n = 800
    X = rng.standard_normal((n, 4)).astype(np.float32)
    X[:, 0] = rng.integers(0, 40, n)
    X[:, 2] = rng.integers(0, 5, n)
    X[rng.random(n) < 0.1, 0] = np.nan
    X[rng.random(n) < 0.1, 2] = np.nan
    y = ((X[:, 0] % 3 == 0) ^ (X[:, 1] > 0) ^ (X[:, 2] == 1)).astype(float)
    names = ["mcc", "amt", "channel", "z"]
    ft = ["c", "q", "c", "q"]
    for onehot, obj in ((4, "binary:logistic"), (64, "reg:squarederror")):
        d = xgb.DMatrix(X, y, feature_names=names, feature_types=ft,
                        enable_categorical=True)
        b = xgb.train({"tree_method": "hist", "max_depth": 4,
                       "objective": obj, "max_cat_to_onehot": onehot,
                       "nthread": 2, "seed": 2}, d, 12)
        fn = path("cat_%d.json" % onehot)
        b.save_model(fn)
        with open(fn) as f:
            text = f.read()
        check("categorical model %d: xgboost wrote NaN split conditions"
              % onehot, "NaN" in text and '"categories_nodes"' in text)
        T = np.array([[v, a, c, 0.1] for v in CAT_VALUES
                      for a in (-0.4, 0.6) for c in (0, 1, 3, 9, -2, 1.5)],
                     dtype=np.float32)
        T = np.vstack([T, X[:200]])
        want = b.predict(xgb.DMatrix(T, feature_names=names,
                                     feature_types=ft,
                                     enable_categorical=True))
        p = score_model(fn, T, names, name="xgboost categorical %d" % onehot)
        got = [s for s, _ in score_cls(read_frames(p.stdout))]
        check("xgboost categorical (max_cat_to_onehot %d, %s): scores "
              "equal Booster.predict within 1e-6, categories in and out "
              "of the sets, negative, fractional, past 2^24, NaN"
              % (onehot, obj), p.returncode == 0 and close(got, want),
              p.stderr.decode() + diff(got, want))


# ---- XGBoost multi-class ----

def class_rows(frames, k):
    """The --all-classes FEATURES rows (schema id 0xc1a55e5) and SCHEMA."""
    rows, names = [], None
    for f in frames:
        if f[0] == T_SCHEMA:
            ftype, nc, sid = struct.unpack_from("<HHI", f[6], 0)
            if sid == 0xc1a55e5:
                names = f[6][8 + nc:].split(b"\0")[:nc]
        if f[0] == T_FEATURES:
            nc, sid = struct.unpack_from("<II", f[6], 0)
            if sid == 0xc1a55e5:
                rows.append(struct.unpack_from("<%df" % nc, f[6], 8))
    return rows, names


def test_xgb_multiclass():
    for obj in ("multi:softprob", "multi:softmax"):
        b, fn, names, X = train_xgb(obj, ntrees=6)
        dm = xgb.DMatrix(X, feature_names=names)
        prob = b.predict(dm, output_margin=True)
        prob = np.exp(prob - prob.max(axis=1, keepdims=True))
        prob /= prob.sum(axis=1, keepdims=True)
        if obj == "multi:softprob":
            check("xgboost softprob: the softmax of the margins is predict",
                  close(prob, b.predict(dm)))
        else:
            check("xgboost softmax: predict is the top class",
                  close(np.argmax(prob, axis=1), b.predict(dm)))
        p = score_model(fn, X, names, ["--all-classes"],
                        name="xgboost " + obj)
        fr = read_frames(p.stdout)
        sc = score_cls(fr)
        got = [s for s, _ in sc]
        cls = [c for _, c in sc]
        check("xgboost %s: SCORE is the top class's probability" % obj,
              p.returncode == 0 and close(got, prob.max(axis=1)),
              p.stderr.decode() + diff(got, prob.max(axis=1)))
        check("xgboost %s: SCORE class is the top class" % obj,
              cls == list(np.argmax(prob, axis=1)))
        rows, cn = class_rows(fr, 4)
        check("xgboost %s: --all-classes rows equal the probabilities" % obj,
              close(rows, prob), diff(np.ravel(rows), np.ravel(prob)))
        check("xgboost %s: --all-classes SCHEMA names class_0..class_3" % obj,
              cn == [b"class_0", b"class_1", b"class_2", b"class_3"], cn)
        order = [f[0] for f in fr if f[0] in (T_SCORE, T_FEATURES)]
        check("xgboost %s: each SCORE is followed by its FEATURES row" % obj,
              order == [T_SCORE, T_FEATURES] * len(X))
    p = run(["-m", path("obj_reg_squarederror.json"), "--all-classes"], b"")
    check("--all-classes with a one-output model is a usage error",
          p.returncode == 2 and b"not a multi-class" in p.stderr, p.stderr)


# ---- LightGBM, written by hand ----

def lgbm_file(name, objective, trees, nfeat=2, num_class=1, extra=()):
    """trees: list of dicts of the Tree= block lines."""
    head = ["tree", "version=v4", "num_class=%d" % num_class,
            "num_tree_per_iteration=%d" % num_class, "label_index=0",
            "max_feature_idx=%d" % (nfeat - 1), "objective=" + objective,
            "feature_names=" + " ".join("f%d" % i for i in range(nfeat)),
            "feature_infos=" + " ".join(["none"] * nfeat)] + list(extra)
    body = []
    for i, t in enumerate(trees):
        body.append("Tree=%d" % i)
        body += ["%s=%s" % kv for kv in t.items()]
        body.append("")
    fn = path(name)
    with open(fn, "w") as f:
        f.write("\n".join(head) + "\n\n" + "\n".join(body) +
                "\nend of trees\n")
    return fn


def stump(feat, thr, lo, hi):
    """A numerical split: x <= thr left (value lo), else hi."""
    return {"num_leaves": 2, "num_cat": 0, "split_feature": feat,
            "threshold": repr(thr), "decision_type": 2,
            "left_child": -1, "right_child": -2,
            "leaf_value": "%r %r" % (lo, hi), "shrinkage": 1}


def sigmoid(x, k=1.0):
    return 1 / (1 + math.exp(-k * x))


# objective line -> ConvertOutput (LightGBM src/objective/):
LGBM_OBJECTIVES = [
    # regression_objective.hpp RegressionL2loss::ConvertOutput: the raw
    # score, or sign(x) x^2 with sqrt; L1, Huber, Fair, Quantile, MAPE
    # derive from it and keep its ConvertOutput
    ("regression", lambda x: x),
    ("regression sqrt", lambda x: math.copysign(x * x, x)),
    ("regression_l1", lambda x: x),
    ("regression_l1 sqrt", lambda x: math.copysign(x * x, x)),
    ("huber", lambda x: x),
    ("huber sqrt", lambda x: math.copysign(x * x, x)),
    ("fair", lambda x: x),
    ("fair sqrt", lambda x: math.copysign(x * x, x)),
    ("quantile", lambda x: x),
    ("quantile sqrt", lambda x: math.copysign(x * x, x)),
    ("mape", lambda x: x),
    ("mape sqrt", lambda x: math.copysign(x * x, x)),
    # RegressionPoissonLoss::ConvertOutput exp(x); Gamma, Tweedie derive
    ("poisson", math.exp),
    ("gamma", math.exp),
    ("tweedie", math.exp),
    # binary_objective.hpp: 1 / (1 + exp(-sigmoid x))
    ("binary sigmoid:1", sigmoid),
    ("binary sigmoid:0.5", lambda x: sigmoid(x, 0.5)),
    # xentropy_objective.hpp: CrossEntropy sigmoid, CrossEntropyLambda
    # log(1 + exp(x))
    ("cross_entropy", sigmoid),
    ("cross_entropy_lambda", lambda x: math.log1p(math.exp(x))),
    # rank_objective.hpp: no ConvertOutput, the raw score
    ("lambdarank", lambda x: x),
    ("rank_xendcg", lambda x: x),
]


def test_lgbm_objectives():
    X = np.array([[-1.0, 0.5], [1.0, -0.5], [0.25, 3.0], [3.0, 1.0]],
                 dtype=np.float32)
    trees = [stump(0, 0.0, -2.0, 3.0), stump(1, 0.75, 0.125, -0.375)]

    def raw(x):
        return ((-2.0 if x[0] <= 0 else 3.0) +
                (0.125 if x[1] <= 0.75 else -0.375))
    for obj, conv in LGBM_OBJECTIVES:
        fn = lgbm_file("lgb_%s.txt" % obj.replace(" ", "_").replace(":", ""),
                       obj, trees)
        want = [conv(raw(x)) for x in X]
        p = score_model(fn, X, ["f0", "f1"], name="lightgbm " + obj)
        got = [s for s, _ in score_cls(read_frames(p.stdout))]
        check("lightgbm '%s': scores follow ConvertOutput" % obj,
              p.returncode == 0 and close(got, want, 1e-9),
              p.stderr.decode() + diff(got, want))
    for obj in ("custom", "regression_l3", "multiclass num_class:3"):
        fn = lgbm_file("lgb_bad.txt", obj, trees)
        p = run(["-m", fn, "--device", "cpu"], b"")
        check("lightgbm '%s' is refused naming the objective (exit 3)" % obj,
              p.returncode == 3 and obj.split()[0].encode() in p.stderr,
              p.stderr)


def lgbm_cat_decision(v, bits):
    """LightGBM Tree::CategoricalDecision: True for left."""
    if math.isnan(v):
        return False
    if v <= -1 or v >= 2 ** 31:     # static_cast<int> negative (x86)
        return False
    c = int(v)                      # truncation toward zero
    return c // 32 < len(bits) and (bits[c // 32] >> (c % 32)) & 1 == 1


def xgb_cat_left(v, cats, default_left):
    """XGBoost common::Decision (1.7): True for left."""
    if math.isnan(v):
        return default_left
    if v < 0 or v >= 2 ** 24:
        return True
    return int(v) not in cats


def test_lgbm_categorical():
    # node 0: categorical on f0 with bitset 0 {1, 3, 33}; node 1:
    # numerical on f1; node 2: categorical on f1 with bitset 1 {0, 2}
    bits0 = [(1 << 1) | (1 << 3), 1 << 1]
    bits1 = [(1 << 0) | (1 << 2)]
    tree = {"num_leaves": 4, "num_cat": 2, "split_feature": "0 1 1",
            "threshold": "0 0.5 1", "decision_type": "1 2 1",
            "left_child": "1 -1 -3", "right_child": "2 -2 -4",
            "leaf_value": "1 2 4 8",
            "cat_boundaries": "0 2 3",
            "cat_threshold": " ".join(str(w) for w in bits0 + bits1),
            "shrinkage": 1}
    fn = lgbm_file("lgb_cat.txt", "regression", [tree])
    vals = [0, 1, 2, 3, 4, 33, 34, 63, 64, -0.0, -0.5, -0.999, -1, -3,
            1.5, 3.9, 1e10, float("nan")]
    X = np.array([[a, b] for a in vals for b in vals], dtype=np.float32)

    def want(x):
        a, b = float(x[0]), float(x[1])
        if lgbm_cat_decision(a, bits0):
            # numerical, missing type none: NaN is taken as 0
            return 1.0 if (0.0 if math.isnan(b) else b) <= 0.5 else 2.0
        return 4.0 if lgbm_cat_decision(b, bits1) else 8.0
    w = [want(x) for x in X]
    p = score_model(fn, X, ["f0", "f1"], name="lightgbm categorical")
    got = [s for s, _ in score_cls(read_frames(p.stdout))]
    check("lightgbm categorical: bitset categories go left; others, "
          "negatives, NaN right", p.returncode == 0 and close(got, w, 0),
          p.stderr.decode() + diff(got, w))
    bad = dict(tree, cat_boundaries="0 2 9")
    fn = lgbm_file("lgb_cat_bad.txt", "regression", [bad])
    p = run(["-m", fn, "--device", "cpu"], b"")
    check("lightgbm categorical: cat_boundaries past cat_threshold is "
          "refused", p.returncode == 3 and b"categorical" in p.stderr,
          p.stderr)


def test_lgbm_multiclass():
    # 3 classes, 2 iterations: tree i adds to class i % 3
    margins = [(0.5, -0.25), (-1.0, 0.75), (0.125, 0.0)]
    trees = []
    for it in range(2):
        for c in range(3):
            lo = margins[c][it]
            trees.append(stump(c % 2, 0.0, lo, -lo))
    X = np.array([[-1, -1], [1, 1], [-1, 1], [1, -1], [np.nan, 0]],
                 dtype=np.float32)

    def raw(x):
        out = []
        for c in range(3):
            s = 0.0
            for it in range(2):
                lo = margins[c][it]
                # decision_type 2: NaN missing-type none -> 0 <= 0 left
                v = 0.0 if math.isnan(x[c % 2]) else x[c % 2]
                s += lo if v <= 0 else -lo
            out.append(s)
        return out
    for obj, conv in (("multiclass num_class:3", "softmax"),
                      ("multiclassova num_class:3 sigmoid:1.5", "ova")):
        fn = lgbm_file("lgb_mc_%s.txt" % conv, obj, trees, num_class=3)
        want, wcls = [], []
        for x in X:
            r = raw(x)
            if conv == "softmax":       # Common::Softmax
                e = [math.exp(v - max(r)) for v in r]
                pr = [v / sum(e) for v in e]
            else:                       # MulticlassOVA: sigmoid each
                pr = [sigmoid(v, 1.5) for v in r]
            want.append(pr)
            wcls.append(int(np.argmax(r)))
        p = score_model(fn, X, ["f0", "f1"], ["--all-classes"],
                        name="lightgbm " + obj)
        fr = read_frames(p.stdout)
        sc = score_cls(fr)
        rows, _ = class_rows(fr, 3)
        check("lightgbm %s: SCORE class and probability, --all-classes "
              "rows" % conv, p.returncode == 0 and
              [c for _, c in sc] == wcls and
              close([s for s, _ in sc],
                    [w[c] for w, c in zip(want, wcls)]) and
              close(rows, want), p.stderr.decode() + repr((sc, rows, want)))


def test_gpu():
    v = run(["--version"], b"")
    if b"lacks CUDA" in v.stdout:
        skip("gpu scores equal cpu scores on every model kind",
             "this build lacks CUDA support")
        return
    probe = run(["-m", GPU_RUNS[0][1], "--device", "gpu"], b"")
    if probe.returncode == 4:
        skip("gpu scores equal cpu scores on every model kind",
             "no CUDA device present")
        return
    for name, fn, data in GPU_RUNS:
        args = ["-m", fn]
        if "multi" in name:
            args.append("--all-classes")
        c = run(args + ["--device", "cpu"], data)
        g = run(args + ["--device", "gpu"], data)
        cs, gs = score_cls(read_frames(c.stdout)), score_cls(read_frames(g.stdout))
        ok = (g.returncode == 0 and [x[1] for x in cs] == [x[1] for x in gs]
              and close([x[0] for x in cs], [x[0] for x in gs]))
        check("gpu %s: scores and classes equal cpu within 1e-6" % name, ok,
              g.stderr.decode())


def main():
    if np is None:
        skip("fs-score-gpu model kinds", "python3-numpy/python3-xgboost missing")
        done()
    for t in (test_xgb_objectives, test_xgb_categorical, test_xgb_multiclass,
              test_lgbm_objectives, test_lgbm_categorical,
              test_lgbm_multiclass, test_gpu):
        t()
    done()


if __name__ == "__main__":
    main()
