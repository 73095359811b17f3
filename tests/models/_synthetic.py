"""Seeded synthetic data with known truth, shared by the PyMC model tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

SEGMENTS = ("SMB", "Mid", "Ent", "Strategic")


def logit_frame(seed: int, n: int = 500, n_csm: int = 15) -> tuple[pd.DataFrame, dict]:
    """Renewals from a known hierarchical logit: 2 predictors, segment and CSM effects."""
    rng = np.random.default_rng(seed)
    truth = {"alpha": 0.6, "beta": np.array([0.8, -0.5]), "sd_segment": 0.4, "sd_csm": 0.6}
    b_seg = rng.normal(0, truth["sd_segment"], len(SEGMENTS))
    b_csm = rng.normal(0, truth["sd_csm"], n_csm)
    seg = rng.integers(0, len(SEGMENTS), n)
    csm = rng.integers(0, n_csm, n)
    x = rng.normal(size=(n, 2)) * [1.0, 2.0] + [0.0, 1.0]
    eta = truth["alpha"] + x @ truth["beta"] + b_seg[seg] + b_csm[csm]
    frame = pd.DataFrame(
        {
            "x1": x[:, 0],
            "x2": x[:, 1],
            "segment": np.array(SEGMENTS)[seg],
            "csm_id": np.array([f"CSM{k:02d}" for k in range(n_csm)])[csm],
            "renewed": rng.binomial(1, 1 / (1 + np.exp(-eta))),
        },
        index=pd.Index([f"A{seed}-{i:04d}" for i in range(n)], name="account_id"),
    )
    truth.update(b_seg=b_seg, b_csm=b_csm)
    return frame, truth


def fast_logit_frame(n: int = 400, seed: int = 0, trials: bool = False, n_csm: int = 15):
    """Rows with predictors a, b, c, 3 segments (unbalanced) and ``n_csm`` CSMs."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 3)) * [1.0, 2.0, 0.5] + [0.0, 3.0, -1.0])
    df.columns = ["a", "b", "c"]
    df["segment"] = rng.choice(["s1", "s2", "s3"], size=n, p=[0.6, 0.3, 0.1])
    csm = rng.integers(0, n_csm, n)
    df["csm"] = [f"c{k}" for k in csm]
    eta = 0.5 + 0.8 * (df["a"] - df["a"].mean()) + rng.normal(0, 0.4, n_csm)[csm]
    p = 1 / (1 + np.exp(-eta))
    if trials:
        df["n"] = rng.integers(1, 6, n)
        df["y"] = rng.binomial(df["n"], p)
    else:
        df["y"] = (rng.random(n) < p).astype(int)
    return df
