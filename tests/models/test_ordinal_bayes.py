"""HierarchicalOrderedLogit: recovery of known truth, predictions, the call ColorModel
makes, prior ordering of the cutpoints, input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dearstats.errors import InputError
from dearstats.models import HierarchicalOrderedLogit

LEVELS = ("red", "yellow", "green")
TRUTH = {"beta": np.array([0.9, -0.4]), "cut": np.array([-0.8, 0.9]), "sd_csm": 0.5}


def colour_frame(seed: int, n: int = 600, n_csm: int = 8) -> pd.DataFrame:
    """Next-period colours from a known hierarchical ordered logit."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)) * [1.0, 3.0] + [0.0, 5.0]  # raw scale: standardised inside
    csm = rng.integers(0, n_csm, n)
    b = rng.normal(0, TRUTH["sd_csm"], n_csm)
    b -= b.mean()
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    eta = z @ TRUTH["beta"] + b[csm]
    cdf = 1 / (1 + np.exp(-(TRUTH["cut"][None, :] - eta[:, None])))
    y = (rng.random((n, 1)) > cdf).sum(axis=1)
    return pd.DataFrame(
        {
            "ebr": x[:, 0],
            "touches": x[:, 1],
            "csm_id": [f"C{k}" for k in csm],
            "next_colour": pd.Categorical.from_codes(y, categories=list(LEVELS), ordered=True),
        },
        index=pd.Index([f"P{i:04d}" for i in range(n)], name="account_id"),
    )


@pytest.fixture(scope="module")
def fitted():
    frame = colour_frame(seed=41)
    # the call ColorModel(method="bayes") makes: settings incl. random_seed in __init__
    model = HierarchicalOrderedLogit(
        predictors=["ebr", "touches"],
        outcome="next_colour",
        group="csm_id",
        levels=list(LEVELS),
        random_seed=41,
        sampler_config={"chains": 4, "draws": 1000, "tune": 1000},
    )
    return frame, model.fit(frame)


@pytest.mark.slow
def test_ordered_logit_recovers_known_parameters(fitted):
    _, model = fitted
    assert model.diagnostics_.attrs["passed"]
    s = model.summary(ci_prob=0.95)
    # the data were generated on standardised predictors, so compare beta (not coef)
    for j, name in enumerate(("ebr", "touches")):
        lo, hi = s.loc[f"beta[{name}]", ["eti95_lb", "eti95_ub"]]
        assert lo <= TRUTH["beta"][j] <= hi, (name, lo, hi)
    for k, label in enumerate(("red|yellow", "yellow|green")):
        lo, hi = s.loc[f"cutpoints[{label}]", ["eti95_lb", "eti95_ub"]]
        assert lo <= TRUTH["cut"][k] <= hi, (label, lo, hi)
    cut = model.idata_["posterior"]["cutpoints"].values
    assert (np.diff(cut, axis=-1) > 0).all()


@pytest.mark.slow
def test_ordered_logit_predictions(fitted):
    frame, model = fitted
    proba = model.predict_proba(frame.head(10))
    assert list(proba.columns) == list(LEVELS)
    assert proba.index.equals(frame.head(10).index)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # more EBRs → greener (beta[ebr] > 0)
    lo = frame.head(1).assign(ebr=-2.0)
    hi = frame.head(1).assign(ebr=2.0)
    assert model.predict_proba(hi)["green"].iloc[0] > model.predict_proba(lo)["green"].iloc[0]
    draws = model.draws(frame.head(4), random_seed=1)
    assert draws.dims == ("chain", "draw", "account_id", "level")
    # an unseen CSM is predicted from the population of CSMs: wider than a seen one
    row = frame.head(1)
    both = pd.concat([row, row.assign(csm_id="C-new")])
    both.index = pd.Index(["seen", "new"], name="account_id")
    green = model.draws(both, random_seed=2).sel(level="green")
    sd = green.std(("chain", "draw")).to_series()
    assert sd["new"] > sd["seen"]
    y = model.sample_posterior_predictive(frame.head(5), random_seed=3)
    assert set(np.unique(y["posterior_predictive"]["y"].values)) <= {0, 1, 2}


def test_prior_cutpoints_are_ordered():
    frame = colour_frame(seed=2, n=80, n_csm=4)
    model = HierarchicalOrderedLogit(["ebr", "touches"], outcome="next_colour")
    prior = model.sample_prior_predictive(frame, draws=300, random_seed=1)["prior"]
    assert (np.diff(prior["cutpoints"].values, axis=-1) > 0).all()


def test_ordinal_inputs_are_checked():
    frame = colour_frame(seed=3, n=50, n_csm=3)
    model = HierarchicalOrderedLogit(["ebr"], outcome="next_colour")
    with pytest.raises(InputError, match="declared levels"):
        model.build_model(frame.assign(next_colour="blue"))
    with pytest.raises(InputError, match="levels"):
        HierarchicalOrderedLogit(["ebr"], outcome="next_colour", levels=["red"]).build_model(frame)
    assert HierarchicalOrderedLogit(["ebr"], outcome="next_colour", group=None).build_model(frame)
