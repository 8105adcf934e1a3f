"""Training targets for the XGBoost models the tests make.

target(z, obj): the label for objective obj from a latent score z: z
itself for reg:squarederror, its sigmoid for reg:logistic, z > 0.3 as
0/1 for binary:logistic.  Used by test_score.py and
tests/unit/kernels-emu-models.py, so their models are trained alike.
"""
import numpy as np


def target(z, obj):
    if obj == "reg:squarederror":
        return z
    if obj == "reg:logistic":
        return 1 / (1 + np.exp(-z))
    return (z > 0.3).astype(int)
