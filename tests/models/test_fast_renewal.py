"""The fused renewal log density (:mod:`dearstats.models._fast_renewal`) is PyMC's.

Fast checks: on random unconstrained points the fused log density differs from PyMC's
``model.compile_logp()`` by one constant and its gradient equals ``compile_dlogp()``
(fixed segment effects as in the forecast; pooled groups everywhere with non-default
priors; a book without contractions), and equals finite differences far in the tails; the
C callback nutpie calls gives the same numbers; nutpie samples the same posterior through
it with nutpie's own expansion (same DataTree variables); unsupported structures are
refused. Slow: the gradient cost in ns per row against PyTensor's at 20k rows (printed).
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("numba")
pytest.importorskip("nutpie")

import nutpie

from dearstats.models import HierarchicalRenewal
from dearstats.models._bayes import likelihood_free
from dearstats.models._fast_renewal import FusedRenewal, fused_compiled, time_cfunc
from dearstats.models.hierarchical import RENEWAL_PRIORS, _merge_priors

FORECAST = {"size_groups": ("segment",), "fixed_groups": ("segment",)}
POOLED = {
    "size_groups": ("segment", "csm_id"),
    "priors": {"cut_gap": 1.2, "size_sigma": 0.6, "group_sd": 0.7, "size_group_sd": 0.4},
}


def renewal_frame(
    n: int = 400, seed: int = 0, p: int = 3, n_csm: int = 15, classes=(0, 1, 2, 3)
) -> pd.DataFrame:
    """Renewals with ``p`` predictors, 3 segments, ``n_csm`` CSMs and the given classes
    (0 churn, 1 contraction, 2 flat, 3 expansion) loosely tied to the predictors."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p)) * np.linspace(1.0, 2.0, p) + np.arange(p)
    seg = rng.choice(["SMB", "Mid", "Ent"], n, p=[0.5, 0.3, 0.2])
    csm = np.array([f"C{k:02d}" for k in rng.integers(0, n_csm, n)])
    eta = 0.8 * (x[:, 0] - x[:, 0].mean()) + rng.normal(0, 0.5, n_csm)[rng.integers(0, n_csm, n)]
    probs = np.array([0.2, 0.2, 0.35, 0.25])[list(classes)]
    cls = np.asarray(classes)[
        np.minimum(
            (rng.random(n)[:, None] > np.cumsum(probs / probs.sum())).sum(axis=1),
            len(classes) - 1,
        )
    ]
    cls = np.where((cls == 0) & (eta < -1.0), classes[-1], cls)
    before = np.round(rng.lognormal(10, 0.8, n), 2)
    shrink = np.exp(-rng.lognormal(-1.5, 0.5, n))
    grow = 1.0 + rng.lognormal(-1.5 + 0.2 * x[:, 0].clip(-2, 2), 0.5, n)
    after = np.select([cls == 0, cls == 1, cls == 2], [0.0, before * shrink, before], before * grow)
    frame = pd.DataFrame(x, columns=[f"x{j}" for j in range(p)])
    return frame.assign(segment=seg, csm_id=csm, arr_before=before, arr_after=after)


def build(frame: pd.DataFrame, **kw):
    """(pymc model, fused log density, terms) of HierarchicalRenewal on ``frame``."""
    predictors = [c for c in frame.columns if c.startswith("x")]
    m = HierarchicalRenewal(predictors, groups=("segment", "csm_id"), **kw)
    enc, arrays = m._prepare(frame, None)
    model = m._build(enc, arrays, frame)
    pr = _merge_priors(RENEWAL_PRIORS, m.priors, "test")
    return model, FusedRenewal.from_model(model, m._all_terms(enc), pr), m._all_terms(enc)


def random_points(model, k: int, seed: int, scale: float = 0.7) -> list[dict]:
    rng = np.random.default_rng(seed)
    ip = model.initial_point()
    return [{n: v + rng.normal(0, scale, np.shape(v)) for n, v in ip.items()} for _ in range(k)]


def assert_matches_pymc(model, fused: FusedRenewal, k: int = 6) -> None:
    # FAST_COMPILE: seconds instead of tens of seconds of C compilation, same graph; the
    # terms summed here (Python mode refuses an add of more than 32 terms)
    terms = model.compile_logp(jacobian=True, sum=False, mode="FAST_COMPILE")
    dlogp = model.compile_dlogp(jacobian=True, mode="FAST_COMPILE")

    def logp(pt: dict) -> float:
        return math.fsum(float(np.sum(t)) for t in terms(pt))

    consts = []
    for pt in random_points(model, k, seed=1):
        x = fused.from_point(pt)
        back = fused.to_point(x)
        for name in fused.names:
            np.testing.assert_array_equal(back[name], pt[name])
        val, grad = fused.logp_grad(x)
        ref = float(logp(pt))
        consts.append(val - ref)
        dl = dlogp(pt)
        np.testing.assert_allclose(grad, dl, rtol=1e-8, atol=1e-10 * np.abs(dl).max())
    # the same additive constant everywhere, to 1e-8 of the log density's size
    assert np.ptp(consts) < 1e-8 * abs(ref)


@pytest.fixture(scope="module")
def forecast_model():
    return build(renewal_frame(), **FORECAST)


@pytest.fixture(scope="module")
def no_contraction_model():
    return build(renewal_frame(n=200, seed=4, p=1, classes=(0, 2, 3)), **FORECAST)


@pytest.fixture(scope="module")
def compiled(forecast_model):
    """nutpie's compiled forecast model (about 20 s: compiled once for the module)."""
    return nutpie.compile_pymc_model(forecast_model[0])


def test_value_vector_is_nutpies(forecast_model) -> None:
    model, fused, _ = forecast_model
    names = [model.rvs_to_values[rv].name for rv in model.free_RVs]
    assert fused.names == names
    ip = model.initial_point()
    assert fused.n_dim == sum(np.size(ip[n]) for n in names)
    assert fused.n_rows["churn"] == 400
    assert fused.n_rows["tier"] == fused.n_rows["churn"] - int(
        (model["churned"].get_value() == 1).sum()
    )


def test_logp_and_gradient_match_pymc_with_fixed_segments(forecast_model) -> None:
    model, fused, _ = forecast_model
    assert "churn_sigma_segment_log__" not in fused.names
    assert_matches_pymc(model, fused)


def test_logp_and_gradient_match_pymc_with_pooled_groups_and_priors() -> None:
    model, fused, _ = build(renewal_frame(n=300, seed=3, p=2, n_csm=9), **POOLED)
    assert "contraction_sigma_csm_id_log__" in fused.names
    assert "churn_sigma_segment_log__" in fused.names
    assert_matches_pymc(model, fused, k=5)


def test_logp_and_gradient_match_pymc_with_centred_csm_effects() -> None:
    model, fused, terms = build(
        renewal_frame(n=300, seed=5, p=2, n_csm=9), **FORECAST, centered_groups=("csm_id",)
    )
    assert terms["churn"].centered_groups == ("csm_id",)
    assert "churn_e_csm_id_zerosum__" in fused.names
    assert "tier_e_csm_id_zerosum__" in fused.names
    assert "churn_u_csm_id_zerosum__" not in fused.names
    assert_matches_pymc(model, fused, k=5)


def with_tech_touch(frame: pd.DataFrame, share: float = 0.3, seed: int = 6) -> pd.DataFrame:
    """``frame`` with a share of its accounts moved to one "(tech-touch)" label."""
    rng = np.random.default_rng(seed)
    tt = rng.random(len(frame)) < share
    return frame.assign(csm_id=np.where(tt, "(tech-touch)", frame["csm_id"]))


@pytest.mark.parametrize("centred", [False, True])
def test_logp_and_gradient_match_pymc_with_rows_outside_the_csm_pool(centred: bool) -> None:
    frame = with_tech_touch(renewal_frame(n=300, seed=5, p=2, n_csm=9))
    extra = {"centered_groups": ("csm_id",)} if centred else {}
    model, fused, terms = build(
        frame, **FORECAST, outside_levels={"csm_id": "(tech-touch)"}, **extra
    )
    assert terms["churn"].outside_groups == ("csm_id",)
    assert terms["contraction"].outside_groups == ()  # sizes pool by segment only
    # the pool is the 9 human CSMs; tech-touch rows have code 9 and the indicator
    assert "(tech-touch)" not in model.coords["csm_id"]
    assert len(model.coords["csm_id"]) == 9
    assert "csm_id=(tech-touch)" in model.coords["predictor"]
    codes = model["idx_csm_id"].get_value()
    assert (codes == 9).sum() == (frame["csm_id"] == "(tech-touch)").sum() > 0
    assert_matches_pymc(model, fused, k=5)


def test_the_likelihood_free_model_nutpie_compiles_has_the_same_parameters(forecast_model):
    """With a fused log density nutpie compiles ``likelihood_free(model)`` (only its
    expansion runs): same free variables in the same order, same deterministics and
    coords, and its log density is the full model's prior part."""
    model = forecast_model[0]
    free = likelihood_free(model)
    assert [rv.name for rv in free.free_RVs] == [rv.name for rv in model.free_RVs]
    assert [v.name for v in free.value_vars] == [v.name for v in model.value_vars]
    assert free.observed_RVs == []
    assert sorted(d.name for d in free.deterministics) == sorted(
        d.name for d in model.deterministics
    )
    assert {k: list(v) for k, v in free.coords.items() if k != "obs"} == {
        k: list(v) for k, v in model.coords.items() if k != "obs" and k in free.coords
    }
    prior = model.compile_logp(vars=model.free_RVs, jacobian=True, mode="FAST_COMPILE")
    got = free.compile_logp(jacobian=True, mode="FAST_COMPILE")
    for pt in random_points(model, 3, seed=2):
        np.testing.assert_allclose(got(pt), prior(pt), rtol=1e-12)


def test_a_part_without_rows_contributes_its_prior_only(no_contraction_model) -> None:
    model, fused, _ = no_contraction_model
    assert fused.n_rows["contraction"] == 0
    assert_matches_pymc(model, fused, k=5)


@pytest.mark.parametrize("where", ["large coefficients", "cutpoints far above η"])
def test_gradient_is_the_derivative_far_in_the_tails(forecast_model, where: str) -> None:
    model, fused, _ = forecast_model
    pt = random_points(model, 1, seed=7, scale=4.0 if where == "large coefficients" else 0.3)[0]
    if where == "cutpoints far above η":
        # σ(c2 − η) − σ(c1 − η) of the middle class cancels to 0 in floating point (PyMC's
        # formula gives −inf there); the fused log difference stays finite and exact
        pt["tier_cut_center"] = np.asarray(45.0)
        pt["tier_cut_gap_log__"] = np.asarray([-1.0])
    x = fused.from_point(pt)
    val, grad = fused.logp_grad(x)
    assert np.isfinite(val)
    assert np.isfinite(grad).all()
    h = 1e-6
    fd = np.array(
        [
            (fused.logp_grad(x + h * e)[0] - fused.logp_grad(x - h * e)[0]) / (2 * h)
            for e in np.eye(x.size)
        ]
    )
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6 * np.abs(grad).max())


def test_c_callback_gives_the_python_numbers(forecast_model) -> None:
    model, fused, _ = forecast_model
    for pt in random_points(model, 3, seed=2):
        x = fused.from_point(pt)
        val, grad = fused.logp_grad(x)
        rc, val_c, grad_c = fused.logp_grad_c(x)
        assert rc == 0
        assert val_c == val
        np.testing.assert_array_equal(grad_c, grad)
    # a non-finite density (the tier gap overflows) is reported, as nutpie expects
    bad = x.copy()
    bad[fused.slices["tier_cut_gap_log__"]] = 800.0
    assert fused.logp_grad_c(bad)[0] in (3, 4)


def test_unsupported_structures_are_refused(forecast_model) -> None:
    model, _, terms = forecast_model
    pr = _merge_priors(RENEWAL_PRIORS, None, "test")
    slopes = dict(terms)
    slopes["tier"] = dataclasses.replace(
        terms["tier"], slope_group="segment", slope_predictors=(0,)
    )
    with pytest.raises(NotImplementedError, match="varying slopes"):
        FusedRenewal.from_model(model, slopes, pr)
    # priors that are not the model's are caught, not sampled
    with pytest.raises(ValueError, match="prior scale of"):
        FusedRenewal.from_model(model, terms, {**pr, "cut_gap": 3.0})


def test_nutpie_samples_the_same_posterior_through_the_fused_density(
    forecast_model, compiled
) -> None:
    model, fused, _ = forecast_model
    fc = fused_compiled(compiled, fused)
    assert type(fc.with_transform_adapt()) is type(fc)
    assert fc.with_transform_adapt().fused is fused
    with pytest.raises(NotImplementedError, match="with_data"):
        fc.with_data(churned=model["churned"].get_value())
    kw = {"chains": 2, "draws": 300, "tune": 300, "seed": 1, "progress_bar": False}
    t0 = time.perf_counter()
    plain = nutpie.sample(compiled, **kw)
    t1 = time.perf_counter()
    fast = nutpie.sample(fc, **kw)
    t2 = time.perf_counter()
    print(f"nutpie 2 x 600 iterations: PyTensor {t1 - t0:.2f} s, fused {t2 - t1:.2f} s")
    a = plain["posterior"].to_dataset()
    b = fast["posterior"].to_dataset()
    assert set(a.data_vars) == set(b.data_vars)
    assert {"churn_intercept", "churn_coef", "tier_cut"} <= set(b.data_vars)
    assert set(fast.children) == set(plain.children)
    assert int(fast["sample_stats"]["diverging"].sum()) <= 3
    for var in ("churn_beta", "tier_beta", "tier_cut"):
        da, db = a[var], b[var]
        assert da.dims == db.dims
        sd = da.std(("chain", "draw")).values
        gap = np.abs(da.mean(("chain", "draw")).values - db.mean(("chain", "draw")).values)
        assert (gap < 0.3 * sd).all(), (var, gap / sd)


def test_fused_compiled_refuses_another_model(compiled, no_contraction_model) -> None:
    _, other, _ = no_contraction_model
    with pytest.raises(ValueError, match="not the same model"):
        fused_compiled(compiled, other)


@pytest.mark.slow
def test_gradient_cost_per_row_against_pytensor() -> None:
    """Prints ns per training row of one log density + gradient (no assertion)."""
    model, fused, _ = build(renewal_frame(n=20_000, seed=5, p=8, n_csm=60), **FORECAST)
    compiled = nutpie.compile_pymc_model(model)
    x = fused.from_point(random_points(model, 1, seed=3, scale=0.3)[0])
    n = fused.n_rows["churn"]
    best_f = min(time_cfunc(fused.cfunc, fused.meta, x, evals=300) for _ in range(3))
    best_p = min(
        time_cfunc(compiled.compiled_logp_func, compiled.user_data, x, evals=60) for _ in range(3)
    )
    part_rows = sum(fused.n_rows.values())
    print(
        f"\n{n} rows ({fused.n_rows}): fused {best_f * 1e6:.0f} us = {best_f * 1e9 / n:.1f} "
        f"ns/row ({best_f * 1e9 / part_rows:.1f} ns per part-row); PyTensor "
        f"{best_p * 1e6:.0f} us = {best_p * 1e9 / n:.1f} ns/row "
        f"({best_p * 1e9 / part_rows:.1f} ns per part-row); ratio {best_p / best_f:.1f}"
    )
