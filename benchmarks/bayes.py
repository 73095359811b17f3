"""Hierarchical logistic renewal model: NUTS implementations compared in one run (issue 7).

The problem: ``y ~ x1 + ... + x10 + (1|segment) + (1|csm)`` with a logit link, 10
standardised predictors, 8 segments and 200 CSMs (each CSM in one segment, group sizes
unbalanced like a real book), simulated with known parameters and a fixed seed
(:func:`simulate`). Every implementation runs 4 chains × (1000 tune + 1000 draws) in a
fresh process (:func:`benchmarks._common.run_child`), in the same run, interleaved:

``bambi``
    ``bmb.Model("y ~ z1 + ... + z10 + (1|segment) + (1|csm)", family="bernoulli").fit()``:
    bambi's default priors and sampler (PyMC NUTS).
``pymc_nuts``
    PyMC's own NUTS on the standard parametrisation (iid non-centred offsets z ~ N(0, 1),
    effects σ z; no sum-to-zero), dearstats' priors.
``numpyro``
    The same standard parametrisation in NumPyro (NUTS, 4 chains on 4 XLA host devices,
    NumPyro's defaults: float32, target_accept 0.8). The baseline of the ratios.
``nutpie_pymc``
    dearstats' model as it is: :class:`HierarchicalLogit` (``LinearTerms``: sum-to-zero
    non-centred group effects) compiled by ``nutpie.compile_pymc_model`` (numba backend)
    and sampled like :func:`dearstats.models._bayes.sample` (target_accept 0.9).
``dearstats_fast``
    The public API: ``HierarchicalLogit(..., centered_groups="auto").fit(frame)`` with
    nutpie, whose log density + gradient is then FastLogit's fused numba pass
    (:class:`dearstats.models._fast.FusedLogit`, a C pointer swapped into nutpie's compiled
    PyMC model; nutpie's expansion kept): the same posterior as ``nutpie_pymc``. Sampling
    time is the time inside ``nutpie.sample``; the rest of the fit counts as compile.
``fast_*`` (levers)
    ``dearstats_fast`` (``centered="auto"``: a group is centred when its median rows per
    level is ≥ 100, so segments always, CSMs at 50k rows) with one setting changed: all
    groups non-centred (LinearTerms' parametrisation), all centred, nutpie's low-rank
    modified mass matrix, 500 tuning steps, target_accept 0.8, nutpie's public
    ``from_pyfunc`` entry. The low-rank and ``from_pyfunc`` levers run
    :class:`~dearstats.models._fast.FastLogit` directly (settings the public fit does not
    expose), the others the public fit.
``reference``
    ``nutpie_pymc`` with 4 × ``ref_draws`` (5000) draws: the posterior means every
    implementation of dearstats' model is checked against (max |Δmean| / posterior sd).

Measured per run: wall time (model build + compile + sampling, imports excluded),
compile time, sampling time, min bulk and tail ESS over every scalar parameter of the
implementation's own posterior (``arviz_stats.ess``), min ESS per second of sampling and
of wall time, max rank-normalised split R-hat, divergences, gradient evaluations per
kept draw (NUTS leapfrog steps), and the ratio of min ESS/s to numpyro's. The
parametrisations differ (standard vs sum-to-zero), so the report also gives the min ESS
over the parameters every implementation shares: the 10 slopes and the two group sds.

The gradient-cost section times one log density + gradient evaluation in ns per row:
PyTensor's (nutpie's compiled PyMC model, timed by nutpie's ``benchmark_logp``), the fast
kernel (same harness, and a numba loop), and a floor measured in the same process (a
numba loop computing Xβ, the stable softplus/sigmoid and Xᵀr only). It also shows row
collapsing (identical rows → binomial rows) on the benchmark's continuous predictors and
on a discretised copy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._common import DEFAULT_OUT, machine_info, markdown_table, run_child, write_report

__all__ = ["FAST_VARIANTS", "IMPLEMENTATIONS", "TRUTH", "run", "simulate"]

MODULE = "benchmarks.bayes"
N_PRED = 10
N_SEG = 8
N_CSM = 200
SEG_WEIGHTS = np.array([0.30, 0.22, 0.15, 0.12, 0.09, 0.06, 0.04, 0.02])
TRUTH: dict[str, Any] = {
    "alpha": 1.0,
    "beta": [0.5, -0.3, 0.2, 0.0, 0.1, -0.4, 0.0, 0.25, 0.3, -0.2],
    "sigma_segment": 0.4,
    "sigma_csm": 0.3,
}
BASELINE = "numpyro"
FAST = "dearstats_fast"
#: the fast path's default settings and the levers (one change each)
FAST_DEFAULT: dict[str, Any] = {
    "adaptation": "diag",
    "centered": "auto",
    "entry": "cfunc",
    "target_accept": 0.9,
}
FAST_VARIANTS: dict[str, dict[str, Any]] = {
    FAST: {},
    "fast_noncentred": {"centered": ()},
    "fast_centred_all": {"centered": ("segment", "csm")},
    "fast_low_rank": {"adaptation": "low_rank"},
    "fast_tune500": {"tune": 500},
    "fast_target08": {"target_accept": 0.8},
    "fast_tune500_target08": {"tune": 500, "target_accept": 0.8},
    "fast_pyfunc": {"entry": "pyfunc"},
}
IMPLEMENTATIONS = ("bambi", "pymc_nuts", "numpyro", "nutpie_pymc", *FAST_VARIANTS, "reference")
#: parameters compared with the reference (dearstats' parametrisation)
COMPARED = ("alpha", "beta", "sigma_segment", "sigma_csm", "u_segment", "u_csm")


# ---------------------------------------------------------------------------------------
# data


def simulate(rows: int, seed: int = 0) -> pd.DataFrame:
    """A renewal book: ``x1..x10`` (raw), ``z1..z10`` (standardised), ``segment``,
    ``csm`` (nested in segments) and the outcome ``y`` from :data:`TRUTH`.

    Segments have weights :data:`SEG_WEIGHTS` (30 % … 2 %); each segment has CSMs in
    proportion to its weight, CSM books are log-normal in size within the segment, and
    every CSM has at least three rows. x9 and x10 are binary, the rest continuous and
    correlated (ρ = 0.3 between neighbours).
    """
    rng = np.random.default_rng(seed)
    # CSMs per segment ∝ weight (≥ 2 each), total N_CSM
    per = np.maximum(2, np.round(SEG_WEIGHTS * N_CSM).astype(int))
    per[0] += N_CSM - per.sum()
    csm_seg = np.repeat(np.arange(N_SEG), per)
    csm_w = rng.lognormal(0.0, 1.0, N_CSM)
    for s in range(N_SEG):
        m = csm_seg == s
        csm_w[m] *= SEG_WEIGHTS[s] / csm_w[m].sum()
    base = np.repeat(np.arange(N_CSM), 3)
    rest = rng.choice(N_CSM, size=rows - base.size, p=csm_w / csm_w.sum())
    csm = rng.permutation(np.concatenate([base, rest]))
    seg = csm_seg[csm]
    cov = np.eye(N_PRED - 2) + 0.3 * (np.eye(N_PRED - 2, k=1) + np.eye(N_PRED - 2, k=-1))
    xc = rng.multivariate_normal(np.zeros(N_PRED - 2), cov, size=rows)
    xb = (rng.random((rows, 2)) < np.array([0.3, 0.6])).astype(float)
    x = np.concatenate([xc * np.arange(1, N_PRED - 1) + np.arange(N_PRED - 2), xb], axis=1)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    e_seg = rng.normal(0.0, TRUTH["sigma_segment"], N_SEG)
    e_csm = rng.normal(0.0, TRUTH["sigma_csm"], N_CSM)
    eta = TRUTH["alpha"] + z @ np.asarray(TRUTH["beta"]) + e_seg[seg] + e_csm[csm]
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-eta))).astype(np.int64)
    frame = pd.DataFrame(x, columns=[f"x{j + 1}" for j in range(N_PRED)])
    for j in range(N_PRED):
        frame[f"z{j + 1}"] = z[:, j]
    frame["segment"] = [f"seg{s}" for s in seg]
    frame["csm"] = [f"csm{c:03d}" for c in csm]
    frame["y"] = y
    return frame


def _arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Standardised X, integer codes of segment and csm (sorted labels), y."""
    z = frame[[f"z{j + 1}" for j in range(N_PRED)]].to_numpy()
    seg = pd.Categorical(frame["segment"]).codes.astype(np.int64)
    csm = pd.Categorical(frame["csm"]).codes.astype(np.int64)
    return np.ascontiguousarray(z), seg, csm, frame["y"].to_numpy().astype(np.int64)


def _dearstats_model(frame: pd.DataFrame) -> Any:
    from dearstats.models.hierarchical import HierarchicalLogit

    m = HierarchicalLogit(
        [f"x{j + 1}" for j in range(N_PRED)], outcome="y", groups=("segment", "csm")
    )
    return m.build_model(frame)


# ---------------------------------------------------------------------------------------
# diagnostics


def _flatten(ds: Any) -> dict[str, float]:
    from dearstats.models._bayes import _flatten as flat

    return flat(ds)


def _diagnostics(post: Any, steps: np.ndarray | None, diverging: np.ndarray | None) -> dict:
    """Min bulk/tail ESS, max R-hat (all scalar parameters), divergences, steps per draw."""
    import arviz_stats as azs
    import xarray as xr

    dt = xr.DataTree(children={"posterior": xr.DataTree(post)})
    bulk = _flatten(azs.ess(dt, method="bulk").to_dataset())
    tail = _flatten(azs.ess(dt, method="tail").to_dataset())
    rhat = _flatten(azs.rhat(dt).to_dataset())
    worst_bulk = min(bulk, key=lambda k: bulk[k])
    worst_tail = min(tail, key=lambda k: tail[k])
    worst_rhat = max(rhat, key=lambda k: rhat[k])
    return {
        "n_params": len(bulk),
        "min_ess_bulk": bulk[worst_bulk],
        "min_ess_bulk_param": worst_bulk,
        "min_ess_tail": tail[worst_tail],
        "min_ess_tail_param": worst_tail,
        "max_rhat": rhat[worst_rhat],
        "max_rhat_param": worst_rhat,
        "divergences": int(np.sum(diverging)) if diverging is not None else None,
        "grad_per_draw": float(np.mean(steps)) if steps is not None else None,
        "_bulk": bulk,
        "_tail": tail,
    }


def _common_ess(bulk: dict[str, float], tail: dict[str, float], names: dict[str, str]) -> float:
    """Min bulk/tail ESS over the shared parameters: 10 slopes and the two group sds.

    ``names`` maps ``beta``, ``sigma_segment`` and ``sigma_csm`` to the implementation's
    names (``beta`` may be a vector variable or a prefix of scalar ones)."""
    keys = [
        k
        for k in bulk
        if k.startswith(names["beta"]) or k in (names["sigma_segment"], names["sigma_csm"])
    ]
    return float(min(min(bulk[k], tail[k]) for k in keys))


def _summary(post: Any) -> dict[str, list[float]]:
    """Posterior mean and sd of each scalar of :data:`COMPARED` (dearstats' names)."""
    ds = post[[v for v in COMPARED if v in post.data_vars]]
    mean = _flatten(ds.mean(("chain", "draw")))
    sd = _flatten(ds.std(("chain", "draw")))
    return {k: [mean[k], sd[k]] for k in mean}


# ---------------------------------------------------------------------------------------
# implementations (each in its own process)


def _run_bambi(frame: pd.DataFrame, a: argparse.Namespace) -> dict[str, Any]:
    import warnings

    import bambi as bmb

    t0 = time.perf_counter()
    formula = "y ~ " + " + ".join(f"z{j + 1}" for j in range(N_PRED)) + " + (1|segment) + (1|csm)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = bmb.Model(formula, frame[["y", "segment", "csm", *_zcols()]], family="bernoulli")
        idata = model.fit(
            draws=a.draws,
            tune=a.tune,
            chains=a.chains,
            cores=min(a.chains, os.cpu_count() or 1),
            random_seed=a.seed,
            progressbar=False,
            compute_convergence_checks=False,
        )
    wall = time.perf_counter() - t0
    post = idata["posterior"].to_dataset()
    stats = idata["sample_stats"].to_dataset()
    sampling = float(post.attrs.get("sampling_time", np.nan))
    out = _diagnostics(post, stats["n_steps"].values, stats["diverging"].values)
    out.update(wall_s=wall, sampling_s=sampling, compile_s=wall - sampling, target_accept=0.8)
    out["common_min_ess"] = _common_ess(
        out["_bulk"],
        out["_tail"],
        {"beta": "z", "sigma_segment": "1|segment_sigma", "sigma_csm": "1|csm_sigma"},
    )
    return out


def _zcols() -> list[str]:
    return [f"z{j + 1}" for j in range(N_PRED)]


def _run_pymc(frame: pd.DataFrame, a: argparse.Namespace) -> dict[str, Any]:
    import warnings

    import pymc as pm

    t0 = time.perf_counter()
    X, seg, csm, y = _arrays(frame)
    coords = {
        "predictor": _zcols(),
        "segment": sorted(frame["segment"].unique()),
        "csm": sorted(frame["csm"].unique()),
    }
    with pm.Model(coords=coords) as model:
        alpha = pm.Normal("alpha", 0.0, 1.5)
        beta = pm.Normal("beta", 0.0, 1.0, dims="predictor")
        s_seg = pm.HalfNormal("sigma_segment", 1.0)
        z_seg = pm.Normal("z_segment", 0.0, 1.0, dims="segment")
        s_csm = pm.HalfNormal("sigma_csm", 1.0)
        z_csm = pm.Normal("z_csm", 0.0, 1.0, dims="csm")
        eta = alpha + pm.math.dot(X, beta) + s_seg * z_seg[seg] + s_csm * z_csm[csm]
        pm.Bernoulli("y", logit_p=eta, observed=y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = pm.sample(
            draws=a.draws,
            tune=a.tune,
            chains=a.chains,
            cores=min(a.chains, os.cpu_count() or 1),
            random_seed=a.seed,
            nuts_sampler="pymc",
            progressbar=False,
            compute_convergence_checks=False,
            model=model,
        )
    wall = time.perf_counter() - t0
    post = idata["posterior"].to_dataset()
    stats = idata["sample_stats"].to_dataset()
    sampling = float(post.attrs.get("sampling_time", np.nan))
    out = _diagnostics(post, stats["n_steps"].values, stats["diverging"].values)
    out.update(wall_s=wall, sampling_s=sampling, compile_s=wall - sampling, target_accept=0.8)
    out["common_min_ess"] = _common_ess(out["_bulk"], out["_tail"], _same_names())
    return out


def _same_names() -> dict[str, str]:
    return {"beta": "beta[", "sigma_segment": "sigma_segment", "sigma_csm": "sigma_csm"}


def _run_numpyro(frame: pd.DataFrame, a: argparse.Namespace) -> dict[str, Any]:
    import numpyro  # before jax starts: one XLA host device per chain

    numpyro.set_host_device_count(a.chains)
    import jax
    import jax.numpy as jnp
    import numpyro.distributions as dist
    import xarray as xr
    from numpyro.infer import MCMC, NUTS

    X, seg, csm, y = _arrays(frame)
    n_seg, n_csm = int(seg.max()) + 1, int(csm.max()) + 1

    def model(X, seg, csm, y=None):
        alpha = numpyro.sample("alpha", dist.Normal(0.0, 1.5))
        beta = numpyro.sample("beta", dist.Normal(0.0, 1.0).expand([X.shape[1]]).to_event(1))
        s_seg = numpyro.sample("sigma_segment", dist.HalfNormal(1.0))
        z_seg = numpyro.sample("z_segment", dist.Normal(0.0, 1.0).expand([n_seg]).to_event(1))
        s_csm = numpyro.sample("sigma_csm", dist.HalfNormal(1.0))
        z_csm = numpyro.sample("z_csm", dist.Normal(0.0, 1.0).expand([n_csm]).to_event(1))
        eta = alpha + X @ beta + s_seg * z_seg[seg] + s_csm * z_csm[csm]
        numpyro.sample("y", dist.Bernoulli(logits=eta), obs=y)

    data = (jnp.asarray(X), jnp.asarray(seg), jnp.asarray(csm), jnp.asarray(y))

    def mcmc_run(warmup: int, samples: int, seed: int) -> Any:
        mcmc = MCMC(
            NUTS(model),
            num_warmup=warmup,
            num_samples=samples,
            num_chains=a.chains,
            chain_method="parallel",
            progress_bar=False,
        )
        mcmc.run(jax.random.PRNGKey(seed), *data, extra_fields=("num_steps", "diverging"))
        jax.block_until_ready(mcmc.get_samples())
        return mcmc

    # JIT compilation happens inside run(); estimate it with a 10 + 10 iteration run
    t0 = time.perf_counter()
    mcmc_run(10, 10, a.seed + 1)
    compile_est = time.perf_counter() - t0
    t1 = time.perf_counter()
    mcmc = mcmc_run(a.tune, a.draws, a.seed)
    run_s = time.perf_counter() - t1
    samples = mcmc.get_samples(group_by_chain=True)
    extra = mcmc.get_extra_fields(group_by_chain=True)
    dims = {"beta": ["predictor"], "z_segment": ["segment"], "z_csm": ["csm"]}
    post = xr.Dataset(
        {
            k: (["chain", "draw", *dims.get(k, [])], np.asarray(v, dtype=np.float64))
            for k, v in samples.items()
        }
    )
    out = _diagnostics(post, np.asarray(extra["num_steps"]), np.asarray(extra["diverging"]))
    # run() compiles again (a new MCMC object): sampling = run − the compile estimate
    out.update(
        wall_s=run_s,
        sampling_s=max(run_s - compile_est, 1e-9),
        compile_s=compile_est,
        target_accept=0.8,
        dtype=str(np.asarray(samples["alpha"]).dtype),
    )
    out["common_min_ess"] = _common_ess(out["_bulk"], out["_tail"], _same_names())
    return out


def _nutpie_pymc(frame: pd.DataFrame, a: argparse.Namespace, draws: int) -> dict[str, Any]:
    import nutpie
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    model = _dearstats_model(frame)
    compiled = nutpie.compile_pymc_model(model)
    t1 = time.perf_counter()
    with threadpool_limits(limits=1):
        idata = nutpie.sample(
            compiled,
            draws=draws,
            tune=a.tune,
            chains=a.chains,
            cores=min(a.chains, os.cpu_count() or 1),
            seed=a.seed,
            save_warmup=False,
            progress_bar=False,
            target_accept=0.9,
            maxdepth=10,
        )
    t2 = time.perf_counter()
    post = idata["posterior"].to_dataset()
    stats = idata["sample_stats"].to_dataset()
    out = _diagnostics(post, stats["n_steps"].values, stats["diverging"].values)
    out.update(wall_s=t2 - t0, sampling_s=t2 - t1, compile_s=t1 - t0, target_accept=0.9)
    out["common_min_ess"] = _common_ess(out["_bulk"], out["_tail"], _same_names())
    out["summary"] = _summary(post)
    return out


def _run_fast(frame: pd.DataFrame, a: argparse.Namespace, variant: str) -> dict[str, Any]:
    """A fast variant: through the public API (``HierarchicalLogit.fit`` with nutpie and
    the fused log density) unless it changes a lever only FastLogit has (``entry``,
    ``adaptation``), which runs :class:`FastLogit` directly as before."""
    cfg = {**FAST_DEFAULT, "tune": a.tune, **FAST_VARIANTS[variant]}
    if cfg["entry"] == FAST_DEFAULT["entry"] and cfg["adaptation"] == FAST_DEFAULT["adaptation"]:
        out = _run_fast_public(frame, a, cfg)
    else:
        out = _run_fast_direct(frame, a, cfg)
    out["settings"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}
    return out


def _run_fast_public(frame: pd.DataFrame, a: argparse.Namespace, cfg: dict) -> dict[str, Any]:
    """``HierarchicalLogit(..., centered_groups=..., sampler_config=...).fit(frame)``;
    sampling time is the time inside ``nutpie.sample`` (the rest of the fit, model build,
    nutpie's compile of the PyMC model and the fused kernel's setup, counts as compile)."""
    import nutpie

    from dearstats.models.hierarchical import HierarchicalLogit

    timing: dict[str, float] = {}
    nutpie_sample = nutpie.sample

    def timed_sample(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return nutpie_sample(*args, **kwargs)
        finally:
            timing["sampling_s"] = time.perf_counter() - t

    nutpie.sample = timed_sample
    try:
        t0 = time.perf_counter()
        m = HierarchicalLogit(
            [f"x{j + 1}" for j in range(N_PRED)],
            outcome="y",
            groups=("segment", "csm"),
            centered_groups=cfg["centered"],
            sampler_config={
                "draws": a.draws,
                "tune": cfg["tune"],
                "chains": a.chains,
                "sampler": "nutpie",
                "target_accept": cfg["target_accept"],
                "max_treedepth": 10,
                "log_likelihood": False,
                "fused": True,
            },
        )
        m.fit(frame, random_seed=a.seed)
        t2 = time.perf_counter()
    finally:
        nutpie.sample = nutpie_sample
    idata = m.idata_
    if idata["posterior"].attrs.get("dearstats_log_density") != "fused":
        raise RuntimeError("HierarchicalLogit.fit did not sample the fused log density")
    post = idata["posterior"].to_dataset()
    stats = idata["sample_stats"].to_dataset()
    out = _diagnostics(post, stats["n_steps"].values, stats["diverging"].values)
    sampling = timing["sampling_s"]
    out.update(
        wall_s=t2 - t0,
        sampling_s=sampling,
        compile_s=t2 - t0 - sampling,
        target_accept=cfg["target_accept"],
        entry="public",
    )
    out["common_min_ess"] = _common_ess(out["_bulk"], out["_tail"], _same_names())
    centred = m.centered_groups_
    for g in centred:  # compared with the reference on u = e / σ (its parametrisation)
        post[f"u_{g}"] = post[f"e_{g}"] / post[f"sigma_{g}"]
    out["summary"] = _summary(post)
    out["centred_groups"] = list(centred)
    return out


def _run_fast_direct(frame: pd.DataFrame, a: argparse.Namespace, cfg: dict) -> dict[str, Any]:
    from dearstats.models._fast import FastLogit

    t0 = time.perf_counter()
    model = _dearstats_model(frame)
    fast = FastLogit.from_pymc_model(model, centered=cfg["centered"])
    compiled = fast.compile(cfg["entry"])
    t1 = time.perf_counter()
    idata = fast.sample(
        draws=a.draws,
        tune=cfg["tune"],
        chains=a.chains,
        seed=a.seed,
        target_accept=cfg["target_accept"],
        adaptation=cfg["adaptation"],
        entry=cfg["entry"],
        compiled=compiled,
    )
    t2 = time.perf_counter()
    post = idata["posterior"].to_dataset()
    stats = idata["sample_stats"].to_dataset()
    out = _diagnostics(post, stats["n_steps"].values, stats["diverging"].values)
    out.update(
        wall_s=t2 - t0,
        sampling_s=t2 - t1,
        compile_s=t1 - t0,
        target_accept=cfg["target_accept"],
        entry=cfg["entry"],
    )
    out["common_min_ess"] = _common_ess(out["_bulk"], out["_tail"], _same_names())
    out["summary"] = _summary(post)
    out["centred_groups"] = list(fast.centered_groups)
    return out


def _gradcost(frame: pd.DataFrame, a: argparse.Namespace) -> dict[str, Any]:
    """ns/row of one logp+gradient: PyTensor (nutpie's compiled model), fast, floor."""
    import nutpie

    from dearstats.models._fast import FastLogit, time_floor
    from dearstats.models._fast_renewal import time_cfunc

    model = _dearstats_model(frame)
    compiled = nutpie.compile_pymc_model(model)
    fast = FastLogit.from_pymc_model(model)
    fast_c = fast.compile("cfunc")
    n = len(frame)
    point = fast.initial_point(1)
    evals = max(20, int(2e7 / n))  # about 0.1-0.5 s per batch

    def harness(cfunc: Any, user_data: np.ndarray) -> float:
        # the C callback nutpie calls, called through ctypes (~1 µs per call overhead)
        return time_cfunc(cfunc, user_data, point, evals=evals)

    res: dict[str, Any] = {"rows": n, "evals": evals}
    best: dict[str, float] = {}
    X, seg, csm, y = _arrays(frame)
    for _ in range(3):  # interleaved, best of 3
        for name, fn in (
            ("pytensor", lambda: harness(compiled.compiled_logp_func, compiled.user_data)),
            ("fast", lambda: harness(fast_c.logp_c, fast.meta)),
            ("fast_numba_loop", lambda: fast.time_gradient(point)),
            ("floor_libm", lambda: time_floor(X, y)),
            ("floor", lambda: time_floor(X, y, blocked=True)),
        ):
            best[name] = min(best.get(name, np.inf), fn())
    res.update({f"{k}_ns_per_row": v * 1e9 / n for k, v in best.items()})
    res["pytensor_over_fast"] = best["pytensor"] / best["fast"]
    res["fast_over_floor"] = best["fast_numba_loop"] / best["floor"]
    # row collapsing: the benchmark's predictors, then a discretised copy
    codes = {"segment": seg, "csm": csm}
    collapse: list[dict[str, Any]] = []
    Xd = np.round(np.clip(X, -1.5, 1.5))  # 3 levels per predictor (x9, x10 already binary)
    Xd[:, 2:8] = 0.0  # keep 4 discrete predictors: few distinct rows per CSM
    for label, XX in (("continuous (benchmark)", X), ("discretised, 4 predictors", Xd)):
        full = FastLogit(XX, y, codes)
        coll = FastLogit(XX, y, codes, collapse=True)
        th = full.initial_point(2)
        t_full = full.time_gradient(th)
        t_coll = coll.time_gradient(th)
        collapse.append(
            {
                "data": label,
                "rows": n,
                "rows_collapsed": coll.n_rows,
                "ns_per_row_full": t_full * 1e9 / n,
                "ns_per_row_collapsed": t_coll * 1e9 / n,
                "speedup": t_full / t_coll,
                "max_abs_grad_diff": float(
                    np.max(np.abs(full.logp_grad(th)[1] - coll.logp_grad(th)[1]))
                ),
            }
        )
    res["collapse"] = collapse
    return res


def _child(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog=f"python -m {MODULE} child")
    p.add_argument("--impl", required=True, choices=[*IMPLEMENTATIONS, "gradcost"])
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--ref-draws", type=int, default=5000)
    p.add_argument("--result", type=Path, required=True)
    a = p.parse_args(argv)
    frame = simulate(a.rows, a.seed)
    load0 = os.getloadavg()[0]
    if a.impl == "bambi":
        out = _run_bambi(frame, a)
    elif a.impl == "pymc_nuts":
        out = _run_pymc(frame, a)
    elif a.impl == "numpyro":
        out = _run_numpyro(frame, a)
    elif a.impl == "nutpie_pymc":
        out = _nutpie_pymc(frame, a, a.draws)
    elif a.impl == "reference":
        out = _nutpie_pymc(frame, a, a.ref_draws)
    elif a.impl == "gradcost":
        out = _gradcost(frame, a)
    else:
        out = _run_fast(frame, a, a.impl)
    out = {k: v for k, v in out.items() if not k.startswith("_")}
    out.update(impl=a.impl, rows=a.rows, load_before=load0, load_after=os.getloadavg()[0])
    a.result.write_text(json.dumps(out, default=float))


# ---------------------------------------------------------------------------------------
# the run


def _agreement(ref: dict[str, list[float]], got: dict[str, list[float]]) -> dict[str, Any]:
    """max over parameters of |mean − mean_ref| / sd_ref."""
    z = {k: abs(got[k][0] - ref[k][0]) / ref[k][1] for k in ref if k in got and ref[k][1] > 0}
    worst = max(z, key=lambda k: z[k])
    return {"max_z": z[worst], "worst_param": worst, "n_params": len(z)}


def run(
    rows: int,
    *,
    repeat: int = 1,
    impls: list[str] | None = None,
    seed: int = 0,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    ref_draws: int = 5000,
    gradcost: bool = True,
    out_dir: Path = DEFAULT_OUT,
    log: Any = print,
    slow_repeat: int | None = None,
) -> dict[str, Any]:
    """Run every implementation ``repeat`` times, interleaved; write ``bayes-<rows>``.

    ``slow_repeat`` caps the runs of the slow ones (bambi, pymc_nuts, nutpie_pymc,
    fast_low_rank; the reference runs once). A failing child is recorded, not fatal."""
    slow = {"bambi", "pymc_nuts", "nutpie_pymc", "fast_low_rank"}
    impls = list(impls or IMPLEMENTATIONS)
    common = ["--rows", str(rows), "--seed", str(seed), "--draws", str(draws)]
    common += ["--tune", str(tune), "--chains", str(chains), "--ref-draws", str(ref_draws)]
    started = machine_info()
    runs: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for r in range(repeat):
        for impl in impls:
            if impl == "reference" and r > 0:
                continue
            if impl in slow and slow_repeat is not None and r >= slow_repeat:
                continue
            log(f"[bayes {rows}] run {r + 1}/{repeat}: {impl} ...")
            try:
                res = run_child(MODULE, ["--impl", impl, *common])
            except RuntimeError as exc:
                log(f"    FAILED: {exc}")
                failures.append({"impl": impl, "repeat": r, "error": str(exc)[-2000:]})
                continue
            res["repeat"] = r
            runs.append(res)
            log(
                f"    wall {res['wall_s']:.1f} s, sampling {res['sampling_s']:.1f} s, "
                f"min ESS {min(res['min_ess_bulk'], res['min_ess_tail']):.0f}, "
                f"R-hat {res['max_rhat']:.3f}, div {res['divergences']}"
            )
    grad = None
    if gradcost:
        log(f"[bayes {rows}] gradient cost ...")
        try:
            grad = run_child(MODULE, ["--impl", "gradcost", *common])
        except RuntimeError as exc:
            log(f"    FAILED: {exc}")
            failures.append({"impl": "gradcost", "error": str(exc)[-2000:]})
    summary = _summarise(runs, impls)
    payload = {
        "benchmark": f"bayes-{rows}",
        "problem": {
            "rows": rows,
            "predictors": N_PRED,
            "segments": N_SEG,
            "csms": N_CSM,
            "seed": seed,
            "truth": TRUTH,
            "chains": chains,
            "tune": tune,
            "draws": draws,
            "ref_draws": ref_draws,
        },
        "machine_before": started,
        "machine_after": machine_info(),
        "summary": summary,
        "gradient_cost": grad,
        "runs": [{k: v for k, v in x.items() if k != "summary"} for x in runs],
        "acceptance": _acceptance(summary, rows),
        "failures": failures,
    }
    paths = write_report(f"bayes-{rows}", payload, _markdown(payload), out_dir)
    log("wrote " + ", ".join(str(p) for p in paths))
    return payload


def _summarise(runs: list[dict[str, Any]], impls: list[str]) -> list[dict[str, Any]]:
    ref = next((x for x in runs if x["impl"] == "reference"), None)
    rows: list[dict[str, Any]] = []
    for impl in impls:
        mine = [x for x in runs if x["impl"] == impl]
        if not mine:
            continue

        def med(key: str, mine: list[dict[str, Any]] = mine) -> float:
            return float(statistics.median(float(x[key]) for x in mine))

        min_ess = [min(x["min_ess_bulk"], x["min_ess_tail"]) for x in mine]
        row: dict[str, Any] = {
            "impl": impl,
            "runs": len(mine),
            "wall_s": med("wall_s"),
            "compile_s": med("compile_s"),
            "sampling_s": med("sampling_s"),
            "min_ess_bulk": med("min_ess_bulk"),
            "min_ess_tail": med("min_ess_tail"),
            "worst_param": mine[0]["min_ess_bulk_param"],
            "common_min_ess": med("common_min_ess"),
            "ess_per_s": float(
                statistics.median(e / x["sampling_s"] for e, x in zip(min_ess, mine, strict=True))
            ),
            "ess_per_wall_s": float(
                statistics.median(e / x["wall_s"] for e, x in zip(min_ess, mine, strict=True))
            ),
            "max_rhat": max(x["max_rhat"] for x in mine),
            "divergences": max(x["divergences"] for x in mine),
            "grad_per_draw": med("grad_per_draw"),
            "target_accept": mine[0].get("target_accept"),
            "centred": (
                ",".join(mine[0]["centred_groups"]) or "none"
                if "centred_groups" in mine[0]
                else None
            ),
        }
        if ref is not None and "summary" in mine[0] and impl != "reference":
            agree = [_agreement(ref["summary"], x["summary"]) for x in mine]
            worst = max(agree, key=lambda d: d["max_z"])
            row["ref_max_dmean_over_sd"] = worst["max_z"]
            row["ref_worst_param"] = worst["worst_param"]
        rows.append(row)
    base = next((x for x in rows if x["impl"] == BASELINE), None)
    for row in rows:
        if base is not None:
            row["vs_numpyro"] = row["ess_per_s"] / base["ess_per_s"]
            row["vs_numpyro_wall"] = row["ess_per_wall_s"] / base["ess_per_wall_s"]
    return rows


def _acceptance(summary: list[dict[str, Any]], rows: int) -> list[dict[str, Any]]:
    fast = next((x for x in summary if x["impl"] == FAST), None)
    if fast is None:
        return []
    need = 2.0 if rows <= 5000 else 5.0
    checks = [
        ("min ESS/s vs numpyro", fast.get("vs_numpyro"), f">= {need:g}x", need, "ge"),
        ("max R-hat", fast["max_rhat"], "<= 1.01", 1.01, "le"),
        ("divergences", fast["divergences"], "0", 0, "le"),
        (
            "max abs Δmean / sd vs reference",
            fast.get("ref_max_dmean_over_sd"),
            "<= 0.1",
            0.1,
            "le",
        ),
    ]
    out = []
    for name, value, target, bound, how in checks:
        ok = None if value is None else (value >= bound if how == "ge" else value <= bound)
        out.append({"check": name, "value": value, "target": target, "met": ok})
    return out


def _markdown(p: dict[str, Any]) -> str:
    pr = p["problem"]
    mb, ma = p["machine_before"], p["machine_after"]
    lines = [
        f"# Bayesian benchmark: hierarchical logit, {pr['rows']:,} rows",
        "",
        f"`y ~ x1..x{pr['predictors']} + (1|segment) + (1|csm)`, {pr['segments']} segments, "
        f"{pr['csms']} CSMs (nested, unbalanced), seed {pr['seed']}; {pr['chains']} chains × "
        f"({pr['tune']} tune + {pr['draws']} draws); reference: nutpie on dearstats' PyMC "
        f"model, {pr['chains']} × {pr['ref_draws']} draws.",
        "",
        f"Machine: {mb['cpu_count']} cores, load {mb['load_average']} before, "
        f"{ma['load_average']} after; git {mb['git']['commit']} (dirty: {mb['git']['dirty']}).",
        "",
        "min ESS = min over every scalar parameter of the implementation's posterior of bulk "
        "and tail ESS; ESS/s uses sampling time (wall: build + compile + sampling); "
        "× numpyro = ratio of min ESS/s; common ESS = min over the 10 slopes and 2 group sds.",
        "",
        markdown_table(
            [{**x, "max_rhat": f"{x['max_rhat']:.3f}"} for x in p["summary"]],
            [
                ("impl", "implementation"),
                ("wall_s", "wall s"),
                ("compile_s", "compile s"),
                ("sampling_s", "sampling s"),
                ("min_ess_bulk", "min bulk ESS"),
                ("min_ess_tail", "min tail ESS"),
                ("ess_per_s", "min ESS/s"),
                ("ess_per_wall_s", "min ESS/s wall"),
                ("vs_numpyro", "× numpyro"),
                ("vs_numpyro_wall", "× numpyro wall"),
                ("common_min_ess", "common ESS"),
                ("max_rhat", "max R-hat"),
                ("divergences", "div"),
                ("grad_per_draw", "grads/draw"),
                ("target_accept", "target acc"),
                ("centred", "centred"),
                ("ref_max_dmean_over_sd", "max abs Δmean / sd vs ref"),
            ],
        ),
        "",
        "Worst-ESS parameter per implementation: "
        + "; ".join(f"{x['impl']}: {x['worst_param']}" for x in p["summary"]),
        "",
    ]
    if p["acceptance"]:
        lines += [
            "## Acceptance (dearstats_fast)",
            "",
            markdown_table(
                [
                    {**x, "value": f"{x['value']:.3f}"}
                    if isinstance(x["value"], float) and x["check"] == "max R-hat"
                    else x
                    for x in p["acceptance"]
                ],
                [("check", "check"), ("value", "value"), ("target", "target"), ("met", "met")],
            ),
            "",
        ]
    for f in p.get("failures") or []:
        lines += [f"**Failed**: {f['impl']} — see the JSON for the error.", ""]
    g = p.get("gradient_cost")
    if g:
        lines += [
            "## Gradient cost (one log density + gradient, one thread)",
            "",
            markdown_table(
                [
                    {
                        "what": "PyTensor (nutpie compiled PyMC model)",
                        "ns": g["pytensor_ns_per_row"],
                    },
                    {"what": "fast kernel (nutpie harness)", "ns": g["fast_ns_per_row"]},
                    {"what": "fast kernel (numba loop)", "ns": g["fast_numba_loop_ns_per_row"]},
                    {
                        "what": "floor, row loop calling libm exp/log1p (numba)",
                        "ns": g.get("floor_libm_ns_per_row"),
                    },
                    {
                        "what": "floor: Xβ, softplus/sigmoid, Xᵀr, blocked + vectorised (numba)",
                        "ns": g["floor_ns_per_row"],
                    },
                ],
                [("what", "evaluation"), ("ns", "ns per row")],
            ),
            "",
            f"PyTensor / fast: {g['pytensor_over_fast']:.1f}×; fast / floor: "
            f"{g['fast_over_floor']:.2f}×.",
            "",
            "Row collapsing (identical predictors and levels → one binomial row):",
            "",
            markdown_table(
                g["collapse"],
                [
                    ("data", "data"),
                    ("rows", "rows"),
                    ("rows_collapsed", "distinct rows"),
                    ("ns_per_row_full", "ns/row full"),
                    ("ns_per_row_collapsed", "ns/row collapsed"),
                    ("speedup", "speed-up"),
                    ("max_abs_grad_diff", "max abs Δgrad"),
                ],
            ),
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "child":
        _child(argv[1:])
        return 0
    from benchmarks.__main__ import main as bench_main

    return bench_main(["bayes", *argv])


if __name__ == "__main__":
    raise SystemExit(main())
