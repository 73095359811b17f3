"""The shared PyMC machinery: sampling, the diagnostics gate, LOO comparison, the base
contract (fit / predict / save / load) and its refusals.

Sampling tests use one small model structure (2 predictors, 4 segments, 15 CSMs) so the
compiled nutpie sampler is reused across fits (the compile, not the sampling, dominates).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from arviz_base import from_dict

from dearstats.errors import ConvergenceWarning, InputError, ModelFileMismatchError
from dearstats.models import (
    HierarchicalLogit,
    HierarchicalOrderedLogit,
    HierarchicalRenewal,
    _bayes,
    check_convergence,
    compare,
)
from tests.models._synthetic import logit_frame


def new_logit() -> HierarchicalLogit:
    return HierarchicalLogit(["x1", "x2"], outcome="renewed", groups=("segment", "csm_id"))


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return logit_frame(seed=101)[0]


@pytest.fixture(scope="module")
def healthy(data):
    """A healthy NUTS fit (4 chains × 1000 draws); warnings recorded, not raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = new_logit().fit(data, random_seed=11, chains=4, draws=1000, tune=1000)
    model.caught_ = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    return model


# ---- the gate on hand-made draws (no sampling) ------------------------------------------


def _tree(posterior: dict, stats: dict | None = None) -> xr.DataTree:
    groups = {"posterior": posterior}
    if stats is not None:
        groups["sample_stats"] = stats
    return from_dict(groups)


def test_gate_passes_independent_chains():
    rng = np.random.default_rng(0)
    tree = _tree(
        {"a": rng.normal(size=(4, 1000)), "b": rng.normal(size=(4, 1000, 3))},
        {"diverging": np.zeros((4, 1000), bool)},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = check_convergence(tree)
    assert list(table.columns) == ["r_hat", "ess_bulk", "ess_tail", "ok"]
    assert len(table) == 4
    assert table["ok"].all()
    assert table.attrs["passed"]
    assert table.attrs["divergences"] == 0


def test_gate_names_the_worst_parameters_and_the_remedy():
    rng = np.random.default_rng(1)
    stuck = rng.normal(size=(4, 200)) * 0.1 + np.arange(4)[:, None]  # chains disagree
    diverging = np.zeros((4, 200), bool)
    diverging[0, :7] = True
    tree = _tree({"good": rng.normal(size=(4, 200)), "stuck": stuck}, {"diverging": diverging})
    with pytest.warns(ConvergenceWarning) as rec:
        table = check_convergence(tree, label="ToyModel")
    msg = str(rec[0].message)
    assert "ToyModel" in msg
    assert "stuck" in msg
    assert "R-hat" in msg
    assert "7 divergent" in msg
    assert "target_accept" in msg
    assert "longer" in msg
    assert not table.loc["stuck", "ok"]
    assert table.loc["good", "ok"]
    assert table.attrs["divergences"] == 7
    assert not table.attrs["passed"]


def test_gate_flags_tree_depth_saturation():
    rng = np.random.default_rng(2)
    hits = np.zeros((4, 500), bool)
    hits[:, :50] = True
    tree = _tree({"a": rng.normal(size=(4, 500))}, {"reached_max_treedepth": hits})
    with pytest.warns(ConvergenceWarning, match="maximum tree depth"):
        table = check_convergence(tree)
    assert table.attrs["treedepth_hits"] == 200


def test_gate_rejects_unknown_var_names():
    tree = _tree({"a": np.zeros((2, 10))})
    with pytest.raises(InputError, match="not in the posterior"):
        check_convergence(tree, ["nope"])


# ---- fits -------------------------------------------------------------------------------


def test_healthy_fit_passes_the_gate_quietly(healthy):
    assert healthy.caught_ == []
    assert healthy.diagnostics_.attrs["passed"]
    s = healthy.summary()
    assert {"mean", "sd", "eti90_lb", "eti90_ub", "r_hat", "ess_bulk", "ess_tail"} <= set(s)
    assert {"intercept", "coef[x1]", "coef[x2]", "sigma_segment", "sigma_csm_id"} <= set(s.index)
    assert s.attrs["divergences"] == 0
    assert s.attrs["model"] == "HierarchicalLogit"
    assert s["r_hat"].max() <= 1.01
    # learned state ends in _; the log-likelihood is stored for LOO
    assert "y" in healthy.idata_["log_likelihood"]
    assert healthy.idata_["posterior"].attrs["dearstats_sampler"] in ("nutpie", "pymc")


def test_short_chains_trip_the_gate_and_name_parameters(data):
    with pytest.warns(ConvergenceWarning) as rec:
        model = new_logit().fit(data, random_seed=3, chains=2, draws=20, tune=20)
    msg = str(rec[0].message)
    assert "HierarchicalLogit failed the convergence gate" in msg
    assert any(p in msg for p in ("sigma_", "alpha", "beta", "u_segment", "u_csm_id"))
    assert "Remedies" in msg
    assert not model.diagnostics_.attrs["passed"]


def test_sampling_is_reproducible_by_seed(data):
    kw = {"chains": 2, "draws": 100, "tune": 200, "ess_min": 0, "rhat_max": 10}
    a = new_logit().fit(data, random_seed=5, log_likelihood=False, **kw)
    b = new_logit().fit(data, random_seed=5, log_likelihood=False, **kw)
    c = new_logit().fit(data, random_seed=6, log_likelihood=False, **kw)
    pa, pb, pc = (m.idata_["posterior"]["coef"].values for m in (a, b, c))
    np.testing.assert_array_equal(pa, pb)
    assert not np.array_equal(pa, pc)


@pytest.mark.slow
def test_pymc_sampler_path_is_seeded_and_gated():
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"x": rng.normal(size=80), "g": rng.choice(["a", "b", "c"], 80)}).assign(
        y=lambda d: rng.binomial(1, 1 / (1 + np.exp(-d.x)))
    )
    kw = {"chains": 2, "draws": 300, "tune": 300, "sampler": "pymc"}
    kw |= {"ess_min": 100, "rhat_max": 1.05}  # a path test, not a convergence study
    m1 = HierarchicalLogit(["x"], outcome="y", groups=("g",)).fit(frame, random_seed=1, **kw)
    m2 = HierarchicalLogit(["x"], outcome="y", groups=("g",)).fit(frame, random_seed=1, **kw)
    np.testing.assert_array_equal(
        m1.idata_["posterior"]["coef"].values, m2.idata_["posterior"]["coef"].values
    )
    assert m1.idata_["posterior"].attrs["dearstats_sampler"] == "pymc"
    assert m1.diagnostics_.attrs["chains"] == 2


def test_resolve_sampler():
    assert _bayes.resolve_sampler("pymc") == "pymc"
    assert _bayes.resolve_sampler("auto") == ("nutpie" if _bayes.nutpie_available() else "pymc")
    with pytest.raises(InputError, match="sampler="):
        _bayes.resolve_sampler("stan")


def test_sampler_config_is_a_setting_not_part_of_the_hash():
    a = new_logit()
    b = HierarchicalLogit(
        ["x1", "x2"], outcome="renewed", sampler_config={"draws": 10}, random_seed=3
    )
    assert a.config_hash == b.config_hash
    c = HierarchicalLogit(["x1", "x2"], outcome="renewed", priors={"coef": 2.0})
    assert c.config_hash != a.config_hash
    with pytest.raises(InputError, match="unknown sampler_config"):
        HierarchicalLogit(["x1"], outcome="renewed", sampler_config={"drawz": 1})._sampler_settings(
            {}
        )


# ---- save / load ------------------------------------------------------------------------


def test_save_load_round_trip(healthy, data, tmp_path):
    path = healthy.save(tmp_path / "model.dsm")
    header = HierarchicalLogit.read_header(path)
    assert header["class"] == "HierarchicalLogit"
    assert header["config_hash"] == healthy.config_hash
    back = HierarchicalLogit.load(path)
    pd.testing.assert_frame_equal(back.summary(), healthy.summary())
    new = data.head(5)
    pd.testing.assert_series_equal(
        back.predict_proba(new, random_seed=1), healthy.predict_proba(new, random_seed=1)
    )
    assert back.encoding_ == healthy.encoding_
    # the expected configuration may differ in seed/sampler settings, not in the model
    HierarchicalLogit.load(
        path, expect=HierarchicalLogit(["x1", "x2"], outcome="renewed", random_seed=99)
    )


def test_load_refuses_another_class_or_config(healthy, tmp_path):
    path = healthy.save(tmp_path / "model.dsm")
    with pytest.raises(ModelFileMismatchError, match="holds a HierarchicalLogit"):
        HierarchicalRenewal.load(path)
    with pytest.raises(ModelFileMismatchError, match="holds a HierarchicalLogit"):
        HierarchicalOrderedLogit.load(path)
    other = HierarchicalLogit(["x1", "x2"], outcome="renewed", priors={"coef": 2.5})
    with pytest.raises(ModelFileMismatchError, match="expected"):
        HierarchicalLogit.load(path, expect=other)


def test_load_refuses_another_version_or_a_foreign_file(healthy, tmp_path, monkeypatch):
    path = healthy.save(tmp_path / "model.dsm")
    monkeypatch.setattr(_bayes, "_dearstats_version", lambda: "99.0")
    with pytest.raises(ModelFileMismatchError, match=r"dearstats 99\.0"):
        HierarchicalLogit.load(path)
    monkeypatch.undo()
    monkeypatch.setattr(HierarchicalLogit, "_model_version", 2)
    with pytest.raises(ModelFileMismatchError, match="model version"):
        HierarchicalLogit.load(path)
    junk = tmp_path / "junk.dsm"
    junk.write_text("not a model")
    with pytest.raises(ModelFileMismatchError, match="not a dearstats model file"):
        HierarchicalLogit.load(junk)


# ---- LOO comparison, approximations -----------------------------------------------------


def test_compare_ranks_the_model_with_the_real_predictor_first(healthy, data):
    noisy = data.assign(x1=np.random.default_rng(8).normal(size=len(data)))
    rival = new_logit().fit(noisy, random_seed=12, chains=4, draws=1000, tune=1000)
    table = compare({"true": healthy, "noise": rival})
    assert table.index[0] == "true"
    assert {"elpd", "elpd_diff", "weight"} <= set(table.columns)
    with pytest.raises(InputError, match="at least two"):
        compare({"true": healthy})


def test_advi_fast_path_is_approximate_and_says_so(healthy, data):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        approx = new_logit().fit(data, method="advi", random_seed=4, draws=500)
    assert approx.diagnostics_.attrs["inference"] == "advi"
    assert approx.summary().attrs["method"] == "advi"
    nuts = healthy.summary()["mean"]
    fast = approx.summary()["mean"]
    for p in ("coef[x1]", "coef[x2]", "intercept"):
        assert abs(fast[p] - nuts[p]) < 0.3, (p, fast[p], nuts[p])
    with pytest.warns(ConvergenceWarning, match="approximate fit"):
        check_convergence(approx.idata_)


def test_pathfinder_needs_pymc_extras(data):
    try:
        import pymc_extras  # noqa: F401
    except ImportError:
        with pytest.raises(InputError, match="pymc-extras"):
            new_logit().fit(data, method="pathfinder", random_seed=1)
    else:  # pragma: no cover - depends on the environment
        pytest.skip("pymc-extras is installed")


# ---- input errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d.drop(columns="x2"), "x2"),
        (lambda d: d.assign(x1=d.x1.astype(str)), "numeric"),
        (lambda d: d.assign(x1=d.x1.where(d.index != d.index[3])), "missing"),
        (lambda d: d.assign(renewed=d.renewed * 2), "0/1"),
        (lambda d: d.assign(segment="SMB"), "single level"),
    ],
)
def test_bad_frames_are_refused_before_sampling(data, change, match):
    with pytest.raises(InputError, match=match):
        new_logit().build_model(change(data))


def test_bad_settings_are_refused(data):
    with pytest.raises(InputError, match="unknown prior"):
        HierarchicalLogit(["x1"], outcome="renewed", priors={"slopes": 1}).build_model(data)
    with pytest.raises(InputError, match="one grouping column"):
        HierarchicalLogit(
            ["x1"], outcome="renewed", varying_slopes={"segment": ["x1"], "csm_id": ["x1"]}
        ).build_model(data)
    with pytest.raises(InputError, match="clash"):
        HierarchicalLogit(["x1"], outcome="renewed", groups=("obs",)).build_model(
            data.assign(obs=data.segment)
        )
    with pytest.raises(InputError, match="not fitted"):
        new_logit().predict_proba(data)
