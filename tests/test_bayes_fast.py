"""The fast NUTS path (:mod:`dearstats.models._fast`) has the posterior of LinearTerms.

Fast checks (seconds): the fused log density equals PyMC's ``model.compile_logp()`` up to
a constant and its gradient equals PyMC's and finite differences, on random points; the
zero-sum map is PyMC's and orthonormal; the centred parametrisation is the same density
after the change of variables; collapsing identical rows leaves the gradient unchanged;
the C callback nutpie calls agrees with the Python entry; a short run returns draws named
like LinearTerms'. Slow: posterior means agree with nutpie on the PyMC model.
"""

from __future__ import annotations

import ctypes
import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("numba")
pytest.importorskip("nutpie")

from dearstats.models._fast import (
    FastLogit,
    collapse_rows,
    zerosum_extend,
    zerosum_extend_adjoint,
)
from dearstats.models.hierarchical import HierarchicalLogit
from tests.models._synthetic import fast_logit_frame


def _frame(n: int = 400, seed: int = 0, trials: bool = False) -> pd.DataFrame:
    return fast_logit_frame(n, seed, trials)


def _model(df: pd.DataFrame, **kw):
    m = HierarchicalLogit(["a", "b", "c"], outcome="y", groups=("segment", "csm"), **kw)
    return m.build_model(df)


def _random_points(model, k: int, seed: int):
    rng = np.random.default_rng(seed)
    ip = model.initial_point()
    return [{n: v + rng.normal(0, 0.7, np.shape(v)) for n, v in ip.items()} for _ in range(k)]


def _fd_grad(fast: FastLogit, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    out = np.empty_like(theta)
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = h
        out[j] = (fast.logp_grad(theta + e)[0] - fast.logp_grad(theta - e)[0]) / (2 * h)
    return out


@pytest.mark.parametrize("trials", [False, True])
def test_logp_and_gradient_match_pymc(trials: bool) -> None:
    df = _frame(trials=trials)
    priors = {"intercept": 2.0, "coef": 0.7, "group_sd": 0.5}
    model = _model(df, priors=priors, trials="n" if trials else None)
    fast = FastLogit.from_pymc_model(model, priors=priors)
    logp, dlogp = model.compile_logp(), model.compile_dlogp()
    consts = []
    for pt in _random_points(model, 6, seed=1):
        theta = fast.from_pymc_point(pt)
        val, grad = fast.logp_grad(theta)
        consts.append(val - float(logp(pt)))
        np.testing.assert_allclose(grad, dlogp(pt), rtol=1e-9, atol=1e-8)
        np.testing.assert_allclose(grad, _fd_grad(fast, theta), rtol=1e-5, atol=1e-5)
    assert np.ptp(consts) < 1e-8  # equal up to one constant


def test_zerosum_map_is_pymcs_and_orthonormal() -> None:
    import pytensor.tensor as pt
    from pymc.distributions.transforms import ZeroSumTransform

    rng = np.random.default_rng(3)
    z = rng.normal(size=6)
    ours = zerosum_extend(z)
    theirs = ZeroSumTransform([-1]).backward(pt.as_tensor(z)).eval()
    np.testing.assert_allclose(ours, theirs, atol=1e-14)
    assert abs(ours.sum()) < 1e-12
    B = np.stack([zerosum_extend(e) for e in np.eye(6)], axis=1)
    np.testing.assert_allclose(B.T @ B, np.eye(6), atol=1e-14)
    g = rng.normal(size=7)
    np.testing.assert_allclose(zerosum_extend_adjoint(g), B.T @ g, atol=1e-14)


def test_centred_is_the_same_density() -> None:
    df = _frame()
    model = _model(df)
    nc = FastLogit.from_pymc_model(model)
    c = FastLogit.from_pymc_model(model, centered=("csm",))
    for pt in _random_points(model, 4, seed=2):
        theta = nc.from_pymc_point(pt)
        vals = nc.expand(theta)
        theta_c = c.unconstrained_point(vals)
        for k, v in c.expand(theta_c).items():
            np.testing.assert_allclose(v, vals[k], atol=1e-12)
        # densities differ by the Jacobian of e = σ u on the K − 1 free values
        k_csm = len(model.coords["csm"])
        jac = (k_csm - 1) * np.log(vals["sigma_csm"])
        np.testing.assert_allclose(
            c.logp_grad(theta_c)[0] - nc.logp_grad(theta)[0], -jac, atol=1e-8
        )
        np.testing.assert_allclose(c.logp_grad(theta_c)[1], _fd_grad(c, theta_c), atol=1e-5)


def test_collapsing_rows_keeps_the_gradient() -> None:
    rng = np.random.default_rng(4)
    n = 600
    X = rng.integers(0, 2, size=(n, 2)).astype(float)
    codes = {"g": rng.integers(0, 3, n), "h": rng.integers(0, 4, n)}
    y = rng.integers(0, 2, n)
    full = FastLogit(X, y, codes)
    coll = FastLogit(X, y, codes, collapse=True)
    assert coll.n_rows <= 2 * 2 * 3 * 4 < n
    theta = full.initial_point(5)
    np.testing.assert_allclose(coll.logp_grad(theta)[1], full.logp_grad(theta)[1], atol=1e-9)
    Xc, yc, nc, cc = collapse_rows(X, y.astype(float), np.ones(n), np.stack(list(codes.values())))
    assert nc.sum() == n
    assert yc.sum() == y.sum()
    assert Xc.shape[0] == cc.shape[1]


def test_c_callback_matches_python_entry() -> None:
    df = _frame(n=700)  # several blocks, the last one padded
    fast = FastLogit.from_pymc_model(_model(df))
    compiled = fast.compile("cfunc")
    theta = fast.initial_point(7)
    g = np.empty_like(theta)
    lp = np.empty(())
    dbl = ctypes.POINTER(ctypes.c_double)
    rc = compiled.logp_c.ctypes(
        theta.size,
        theta.ctypes.data_as(dbl),
        g.ctypes.data_as(dbl),
        lp.ctypes.data_as(dbl),
        fast.meta.ctypes.data,
    )
    assert rc == 0
    val, grad = fast.logp_grad(theta)
    assert float(lp) == pytest.approx(val, rel=1e-12)
    np.testing.assert_allclose(g, grad, rtol=1e-12)


@pytest.mark.parametrize("entry", ["cfunc", "pyfunc"])
def test_short_run_returns_linear_terms_names(entry: str) -> None:
    df = _frame(n=300)
    model = _model(df)
    fast = FastLogit.from_pymc_model(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        idata = fast.sample(draws=50, tune=50, chains=2, seed=1, entry=entry)
    post = idata["posterior"]
    names = {"alpha", "beta", "sigma_segment", "u_segment", "sigma_csm", "u_csm"}
    assert names | {"intercept", "coef"} <= set(post.data_vars)
    assert post["u_csm"].dims == ("chain", "draw", "csm")
    assert list(post["u_csm"].coords["csm"].values) == list(model.coords["csm"])
    np.testing.assert_allclose(post["u_csm"].sum("csm"), 0.0, atol=1e-10)
    assert post.sizes["chain"] == 2
    assert post.sizes["draw"] == 50
    # coef and intercept on the original predictor scale, as LinearTerms reports them
    scale = np.asarray(model["x_scale"].get_value())
    np.testing.assert_allclose(post["coef"].values, post["beta"].values / scale)


@pytest.mark.slow
def test_posterior_agrees_with_nutpie_on_the_pymc_model() -> None:
    import nutpie

    df = _frame(n=500, seed=9)
    model = _model(df)
    ref = nutpie.sample(
        nutpie.compile_pymc_model(model),
        draws=3000,
        tune=1000,
        chains=4,
        seed=3,
        progress_bar=False,
        target_accept=0.9,
    )["posterior"]
    got = FastLogit.from_pymc_model(model).sample(draws=1000, tune=1000, seed=4)["posterior"]
    for v in ("alpha", "beta", "sigma_segment", "sigma_csm", "u_segment", "u_csm"):
        m_ref, sd_ref = ref[v].mean(("chain", "draw")), ref[v].std(("chain", "draw"))
        z = np.abs(got[v].mean(("chain", "draw")) - m_ref) / sd_ref
        assert float(z.max()) < 0.15, (v, float(z.max()))


def test_auto_centring_by_rows_per_level() -> None:
    rng = np.random.default_rng(6)
    n = 2000
    X = rng.normal(size=(n, 2))
    codes = {"big": rng.integers(0, 4, n), "small": rng.integers(0, 200, n)}
    fast = FastLogit(X, rng.integers(0, 2, n), codes, centered="auto")
    assert fast.centered_groups == ("big",)  # ~500 rows per level vs ~10
    with pytest.raises(ValueError, match="auto"):
        FastLogit(X, rng.integers(0, 2, n), codes, centered="yes")
