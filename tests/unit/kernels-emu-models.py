"""Models for test-kernels-emu: kernels-emu-models.py DIR.

Writes into DIR
  xgb_d<DD>_f<nfeat>.json     XGBoost models trained with python3-xgboost,
                              depths 2-10, some with nfeat past the
                              shared-memory limit (k_forest<false>)
  lgbm_f<nfeat>[_avg].txt     random LightGBM text models: zero-as-missing,
                              NaN-missing and no-missing splits, default
                              left and right, single-leaf trees, thresholds
                              at 0 and 1e-35; _avg has average_output
  lgbm_cat_f<nfeat>.txt       the same with categorical (bitset) splits
  lgbm_mc3_f<nfeat>.txt       a 3-class multiclass one, categorical too
  xgb_cat_*.json              XGBoost categorical models (partition and
                              one-hot splits)
  xgb_multi_*.json            an XGBoost multi:softprob model, 4 classes
  logit_f<nfeat>.json         logistic models
and, when xgboost or numpy cannot be imported, xgb.skip holding why (the
XGBoost cases are then skipped, not failed).  Seeded: the same files
every run.
"""
import json
import os
import random
import sys

# (depth, trees, objective, nfeat, base_score): every depth 2-10; nfeat
# 79 is the widest row that still fits shared memory (128 * 79 * 4
# bytes), 80 and 100 are not (global-memory kernel).
XGB = [(2, 30, "binary:logistic", 6, None),
       (3, 25, "reg:squarederror", 7, 1.5),
       (4, 40, "binary:logitraw", 40, 0.2),
       (5, 20, "binary:logistic", 79, None),
       (6, 30, "reg:logistic", 80, None),
       (7, 15, "binary:logistic", 13, 0.3),
       (8, 12, "reg:squarederror", 6, None),
       (9, 10, "binary:logistic", 100, None),
       (10, 10, "reg:squarederror", 6, None)]


def xgb_models(out):
    try:
        import numpy as np
        import xgboost as xgb
        sys.path.insert(0, os.path.join(os.path.dirname(
            os.path.abspath(__file__)), "..", "oracle"))
        from xgbdata import target
    except ImportError as e:
        with open(os.path.join(out, "xgb.skip"), "w") as f:
            f.write("%s has no xgboost (%s)" % (sys.executable, e))
        return
    for depth, ntrees, obj, nfeat, base in XGB:
        rng = np.random.default_rng(depth)
        n = 800
        X = rng.standard_normal((n, nfeat)).astype(np.float32)
        X[rng.random((n, nfeat)) < 0.1] = 0.0
        X[rng.random((n, nfeat)) < 0.15] = np.nan
        c = np.nan_to_num(X)
        z = c[:, 0] + c[:, 1] * c[:, 2] - c[:, nfeat - 1]
        z += 0.5 * rng.standard_normal(n)
        y = target(z, obj)
        params = {"max_depth": depth, "objective": obj, "eta": 0.3,
                  "nthread": 2, "seed": depth, "colsample_bynode": 0.7}
        if base is not None:
            params["base_score"] = base
        names = ["f%d" % i for i in range(nfeat)]
        b = xgb.train(params, xgb.DMatrix(X, y, feature_names=names),
                      ntrees)
        b.save_model(os.path.join(out, "xgb_d%02d_f%d.json" % (depth, nfeat)))
    xgb_cat_models(out, np, xgb)


def xgb_cat_models(out, np, xgb):
    """Categorical and multi-class XGBoost models."""
    rng = np.random.default_rng(11)
    n, nfeat = 900, 7
    X = rng.standard_normal((n, nfeat)).astype(np.float32)
    X[:, 0] = rng.integers(0, 70, n)
    X[:, 3] = rng.integers(0, 6, n)
    X[rng.random((n, nfeat)) < 0.08] = np.nan
    c = np.nan_to_num(X)
    z = (c[:, 0] % 3 == 1) + c[:, 1] - (c[:, 3] == 2) + 0.3 * c[:, 2]
    names = ["f%d" % i for i in range(nfeat)]
    ft = ["c", "q", "q", "c", "q", "q", "q"]
    for onehot in (4, 100):
        d = xgb.DMatrix(X, (z > 0.5).astype(int), feature_names=names,
                        feature_types=ft, enable_categorical=True)
        b = xgb.train({"tree_method": "hist", "max_depth": 5,
                       "objective": "binary:logistic", "nthread": 2,
                       "max_cat_to_onehot": onehot, "seed": 3}, d, 25)
        b.save_model(os.path.join(out, "xgb_cat_oh%d_f%d.json" %
                                  (onehot, nfeat)))
    d = xgb.DMatrix(X, np.digitize(z, [-0.5, 0.5, 1.5]), feature_names=names,
                    feature_types=ft, enable_categorical=True)
    b = xgb.train({"tree_method": "hist", "max_depth": 4, "nthread": 2,
                   "objective": "multi:softprob", "num_class": 4,
                   "seed": 4}, d, 10)
    b.save_model(os.path.join(out, "xgb_multi_cat_f%d.json" % nfeat))


def lgbm_tree(rng, nfeat, leaves, cat=False):
    """One random tree with `leaves` leaves, as LightGBM's arrays, and
    its categorical bitsets (cat_boundaries, cat_threshold) when cat."""
    feat, thr, dt, left, right = [], [], [], [], []
    bounds, words = [0], []
    # grow by splitting a random leaf; leaf j is child value ~j
    slots = [None]      # parent link of each leaf: (node, side)
    for _ in range(leaves - 1):
        j = rng.randrange(len(slots))
        node = len(feat)
        if slots[j] is not None:
            p, side = slots[j]
            (left if side == 0 else right)[p] = node
        feat.append(rng.randrange(nfeat))
        if cat and rng.random() < 0.4:
            # bit 0: categorical; threshold: the bitset's index
            thr.append(len(bounds) - 1)
            dt.append(rng.choice([1, 3, 5, 9]))
            words += [rng.getrandbits(32) for _ in range(rng.randrange(1, 4))]
            bounds.append(len(words))
        else:
            thr.append(rng.choice([0.0, 1.0000000180025095e-35, -1e-35,
                                   rng.gauss(0, 1), rng.gauss(0, 1),
                                   round(rng.gauss(0, 1), 1)]))
            dt.append(rng.choice([0, 2, 4, 6, 8, 10]))
        left.append(None)
        right.append(None)
        # the split's left child takes leaf j's number, the right a new one
        slots[j] = (node, 0)
        slots.append((node, 1))
    for j, s in enumerate(slots):
        if s is not None:
            p, side = s
            (left if side == 0 else right)[p] = -(j + 1)
    vals = [rng.gauss(0, 0.3) for _ in range(leaves)]
    return feat, thr, dt, left, right, vals, bounds, words


def lgbm_model(path, rng, nfeat, ntrees, average, cat=False, nclass=1):
    names = ["c%d" % i for i in range(nfeat)]
    trees = []
    for t in range(ntrees):
        feat, thr, dt, left, right, vals, bounds, words = lgbm_tree(
            rng, nfeat, 1 if t % 17 == 5 else rng.randrange(2, 40), cat)
        b = ["Tree=%d" % t, "num_leaves=%d" % len(vals),
             "num_cat=%d" % (len(bounds) - 1)]
        if feat:
            b += ["split_feature=" + " ".join(map(str, feat)),
                  "threshold=" + " ".join(repr(x) for x in thr),
                  "decision_type=" + " ".join(map(str, dt)),
                  "left_child=" + " ".join(map(str, left)),
                  "right_child=" + " ".join(map(str, right))]
        b += ["leaf_value=" + " ".join(repr(v) for v in vals)]
        if len(bounds) > 1:
            b += ["cat_boundaries=" + " ".join(map(str, bounds)),
                  "cat_threshold=" + " ".join(map(str, words))]
        b += ["is_linear=0", "shrinkage=1", "", ""]
        trees.append("\n".join(b))
    obj = ("binary sigmoid:1" if nclass == 1 else
           "multiclass num_class:%d" % nclass)
    head = ["tree", "version=v3", "num_class=%d" % nclass,
            "num_tree_per_iteration=%d" % nclass,
            "label_index=0", "max_feature_idx=%d" % (nfeat - 1),
            "objective=" + obj, "feature_names=" + " ".join(names),
            "feature_infos=" + " ".join(["[-3:3]"] * nfeat)]
    if average:
        head.append("average_output")
    with open(path, "w") as f:
        f.write("\n".join(head) + "\n\n" + "\n".join(trees) +
                "end of trees\n\nparameters:\nend of parameters\n")


def main():
    out = sys.argv[1]
    rng = random.Random(7)
    lgbm_model(os.path.join(out, "lgbm_f9.txt"), rng, 9, 120, False)
    lgbm_model(os.path.join(out, "lgbm_f90_avg.txt"), rng, 90, 60, True)
    lgbm_model(os.path.join(out, "lgbm_cat_f8.txt"), rng, 8, 80, False,
               cat=True)
    lgbm_model(os.path.join(out, "lgbm_cat_f85.txt"), rng, 85, 30, False,
               cat=True)
    lgbm_model(os.path.join(out, "lgbm_mc3_f6.txt"), rng, 6, 45, True,
               cat=True, nclass=3)
    for nfeat in (4, 81):
        w = [rng.gauss(0, 1) for _ in range(nfeat)]
        w[1] = 1e-300   # products underflow to subnormal doubles
        with open(os.path.join(out, "logit_f%d.json" % nfeat), "w") as f:
            json.dump({"model": "logistic",
                       "feature_names": ["l%d" % i for i in range(nfeat)],
                       "weights": w, "intercept": rng.gauss(0, 2)}, f)
    xgb_models(out)


if __name__ == "__main__":
    main()
