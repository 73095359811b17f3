"""HierarchicalLogit's fused log density (:class:`dearstats.models._fast.FusedLogit`).

Fast checks: on random points of nutpie's unconstrained vector the fused log density
differs from PyMC's ``model.compile_logp()`` by one constant and its gradient equals
``compile_dlogp()`` (non-centred, centred, binomial trials, non-default priors); the C
callback nutpie calls gives the same numbers; ``centered_groups="auto"`` is resolved from
the training rows and kept by predictions and save/load; a fit through
:meth:`HierarchicalLogit.fit` samples with the fused density and agrees with PyTensor's;
varying slopes and mismatched priors are refused (PyTensor fallback / ValueError).
"""

from __future__ import annotations

import ctypes
import math

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("numba")
pytest.importorskip("nutpie")

from dearstats.errors import InputError
from dearstats.models import _fast
from dearstats.models._fast import FusedLogit
from dearstats.models.hierarchical import LOGIT_PRIORS, HierarchicalLogit, _merge_priors
from tests.models._synthetic import fast_logit_frame as logit_frame

PRIORS = {"intercept": 2.0, "coef": 0.7, "group_sd": 0.5}


def build(df: pd.DataFrame, **kw):
    """(HierarchicalLogit, pymc model, fused log density or None)."""
    m = HierarchicalLogit(["a", "b", "c"], outcome="y", groups=("segment", "csm"), **kw)
    enc, arrays = m._prepare(df, None)
    model = m._build(enc, arrays, df)
    return m, model, m._fused_log_density(enc, model)


@pytest.mark.parametrize(
    ("trials", "centered"),
    [(False, ()), (False, ("segment",)), (True, ("segment", "csm"))],
    ids=["noncentred", "centred-segment", "binomial-centred-all"],
)
def test_logp_and_gradient_match_pymc(trials: bool, centered: tuple[str, ...]) -> None:
    _, model, fused = build(
        logit_frame(trials=trials),
        trials="n" if trials else None,
        centered_groups=centered,
        priors=PRIORS,
    )
    assert isinstance(fused, FusedLogit)
    assert fused.centered_groups == centered
    assert fused.n_dim == sum(np.size(v) for v in model.initial_point().values())
    # FAST_COMPILE: seconds instead of tens of seconds of C compilation, same graph
    logp = model.compile_logp(mode="FAST_COMPILE")
    dlogp = model.compile_dlogp(mode="FAST_COMPILE")
    rng = np.random.default_rng(1)
    ip = model.initial_point()
    consts = []
    for _ in range(5):
        pt = {k: v + rng.normal(0, 0.7, np.shape(v)) for k, v in ip.items()}
        x = fused.from_point(pt)
        for name, val in fused.to_point(x).items():
            np.testing.assert_array_equal(val, pt[name])
        val, grad = fused.logp_grad(x)
        ref = float(logp(pt))
        consts.append(val - ref)
        dl = dlogp(pt)
        np.testing.assert_allclose(grad, dl, rtol=1e-8, atol=1e-8)
    assert np.ptp(consts) < 1e-8 * max(1.0, abs(ref))


def test_c_callback_gives_the_python_numbers() -> None:
    _, _, fused = build(logit_frame(), centered_groups=("segment",))
    x = np.random.default_rng(2).normal(0, 0.5, fused.n_dim)
    val, grad = fused.logp_grad(x)
    g = np.empty_like(x)
    lp = np.empty(())
    dbl = ctypes.POINTER(ctypes.c_double)
    rc = fused.cfunc.ctypes(
        x.size,
        x.ctypes.data_as(dbl),
        g.ctypes.data_as(dbl),
        lp.ctypes.data_as(dbl),
        fused.meta.ctypes.data,
    )
    assert rc == 0
    assert math.isclose(float(lp), val, rel_tol=1e-13)
    np.testing.assert_allclose(g, grad, rtol=1e-13)


def test_unsupported_structures_fall_back_or_are_refused() -> None:
    df = logit_frame()
    _, _, fused = build(df, varying_slopes={"csm": ["a"]})
    assert fused is None  # PyTensor's log density
    _, model, _ = build(df, priors=PRIORS)
    wrong = _merge_priors(LOGIT_PRIORS, {**PRIORS, "group_sd": 2.0}, "test")
    with pytest.raises(ValueError, match="sigma_segment"):
        FusedLogit.from_model(model, groups=("segment", "csm"), priors=wrong)
    with pytest.raises(NotImplementedError):
        FusedLogit.from_model(model, groups=("csm", "segment"), priors=PRIORS)


def test_centered_groups_setting_and_auto_rule() -> None:
    assert HierarchicalLogit.AUTO_CENTER_ROWS == _fast.AUTO_CENTER_ROWS
    df = logit_frame(n=600)  # segments: 360/180/60 rows (median 180), CSMs: 40 each
    m = HierarchicalLogit(["a"], outcome="y", groups=("segment", "csm"), centered_groups="auto")
    assert m.get_config()["centered_groups"] == "auto"
    _, arrays = m._prepare(df, None)
    assert arrays["centered"] == ("segment",)
    assert "e_segment" in m.build_model(df).named_vars
    plain = HierarchicalLogit(["a"], outcome="y", groups=("segment", "csm"))
    assert plain.get_config()["centered_groups"] == []
    assert plain.config_hash != m.config_hash
    with pytest.raises(InputError, match="centered_groups"):
        HierarchicalLogit(["a"], outcome="y", groups=("segment",), centered_groups=("csm",))._terms(
            None
        )


# Short chains and a 3-level centred segment: a few divergences can trip the gate's
# warning; the check here is the agreement of the two log densities' posteriors.
@pytest.mark.filterwarnings("ignore::dearstats.errors.ConvergenceWarning")
def test_fit_samples_the_fused_density_and_agrees_with_pytensor(tmp_path) -> None:
    df = logit_frame(n=600, seed=3)
    cfg = {"draws": 300, "tune": 300, "chains": 2, "target_accept": 0.95, "log_likelihood": False}
    kw = {"outcome": "y", "groups": ("segment", "csm"), "random_seed": 5}
    fast = HierarchicalLogit(["a", "b"], centered_groups="auto", sampler_config=cfg, **kw)
    fast.fit(df)
    assert fast.idata_["posterior"].attrs["dearstats_log_density"] == "fused"
    assert fast.centered_groups_ == ("segment",)
    assert {"e_segment", "u_csm"} <= set(fast.idata_["posterior"].data_vars)
    slow = HierarchicalLogit(
        ["a", "b"], centered_groups="auto", sampler_config={**cfg, "fused": False}, **kw
    )
    slow.fit(df)
    assert slow.idata_["posterior"].attrs["dearstats_log_density"] == "pytensor"
    new = df.iloc[:40]
    a = fast.predict_draws(new, random_seed=1)
    b = slow.predict_draws(new, random_seed=1)
    sd = b.std(("chain", "draw")).values
    z = np.abs(a.mean(("chain", "draw")).values - b.mean(("chain", "draw")).values) / sd
    assert z.max() < 0.35, z.max()
    # the resolved centring survives save/load (read from the posterior)
    path = fast.save(tmp_path / "m.zip")
    back = HierarchicalLogit.load(path)
    assert back.centered_groups_ == ("segment",)
    assert back.get_config()["centered_groups"] == "auto"
    np.testing.assert_allclose(
        back.predict_proba(new, random_seed=1), fast.predict_proba(new, random_seed=1)
    )
