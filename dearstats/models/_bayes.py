"""Shared machinery for the PyMC-backed models.

- :func:`sample` runs NUTS (nutpie when installed, else PyMC's own NUTS), always seeded;
- :func:`fit_approx` runs a fast approximation (ADVI in PyMC core; Pathfinder when
  ``pymc-extras`` is installed) for exploration, never for inference;
- :func:`check_convergence` is the diagnostics gate run after every NUTS fit: R-hat, bulk
  and tail ESS, divergences and tree-depth saturation, as a tidy table, with a
  :class:`~dearstats.errors.ConvergenceWarning` naming the worst parameters and the remedy;
- :func:`compare` ranks fitted models by PSIS-LOO ELPD (``arviz_stats.compare``);
- :class:`BayesModel` is the one contract of every PyMC model: settings in ``__init__``,
  data in ``fit`` (returns ``self``), learned state ending in ``_`` (``idata_``,
  ``encoding_``, ``diagnostics_``), ``build_model``, ``sample_prior_predictive``,
  ``sample_posterior_predictive``, ``summary``, ``save``/``load`` refusing a file written
  by another class, configuration or version.

The hierarchical building blocks (:class:`LinearTerms`, :class:`GroupLevels`,
:class:`Standardizer`, ordered cutpoints) live here so that every model writes its linear
predictor once for PyMC and once, beside it, for NumPy prediction on new rows (including
group levels never seen in training).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd
import xarray as xr

from dearstats.errors import ConvergenceWarning, InputError, ModelFileMismatchError
from dearstats.models._frame import (
    NULL_LEVEL,
    as_pandas,
    check_numeric,
    complete_rows,
    group_codes,
    require_columns,
)

__all__ = [
    "BayesModel",
    "GroupLevels",
    "LinearTerms",
    "Standardizer",
    "check_convergence",
    "compare",
    "fit_approx",
    "level_effects",
    "predictor_data",
    "sample",
]

Sampler = Literal["auto", "nutpie", "pymc"]

_SAMPLE_DIMS = ("chain", "draw")
DEFAULT_SAMPLER_CONFIG: dict[str, Any] = {
    "draws": 1000,
    "tune": 1000,
    "chains": 4,
    "sampler": "auto",
    "target_accept": 0.9,
    "max_treedepth": 10,
    "log_likelihood": True,
    "progressbar": False,
    "rhat_max": 1.01,
    "ess_min": 400,
    "fused": True,
}
"""Sampling defaults of :meth:`BayesModel.fit` (override with ``sampler_config``)."""
_NOT_HASHED = ("random_seed", "sampler_config")
_FILE_FORMAT = "dearstats-bayes-model/1"


# --------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------


def nutpie_available() -> bool:
    """Whether nutpie (and numba, which it compiles PyMC models with) can be imported."""
    try:
        import numba  # noqa: F401
        import nutpie  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_sampler(sampler: str) -> str:
    """``"auto"`` → ``"nutpie"`` when installed, else ``"pymc"``; validate explicit names."""
    if sampler not in ("auto", "nutpie", "pymc"):
        raise InputError(
            f"sampler={sampler!r}: expected 'auto', 'nutpie' or 'pymc'. 'auto' uses nutpie "
            "when it is installed and PyMC's own NUTS otherwise."
        )
    if sampler == "auto":
        return "nutpie" if nutpie_available() else "pymc"
    if sampler == "nutpie" and not nutpie_available():
        raise InputError(
            "sampler='nutpie' but nutpie (or numba) is not installed; install it with "
            "`pip install nutpie` or pass sampler='pymc'."
        )
    return sampler


def _seed_int(random_seed: int | np.random.Generator | None) -> int:
    """One integer seed from an int, a Generator or None (fresh entropy)."""
    if isinstance(random_seed, (int, np.integer)) and not isinstance(random_seed, bool):
        if random_seed < 0:
            raise InputError(f"random_seed={random_seed}: expected a non-negative integer.")
        return int(random_seed) % (2**31)
    return int(np.random.default_rng(random_seed).integers(2**31))


# Compiled nutpie models, reused when the same model structure is sampled again with new
# data (recovery studies, SBC, backtests). Keys come from BayesModel._structure_key.
_COMPILED: OrderedDict[Any, Any] = OrderedDict()
_COMPILED_MAX = 8


def _compiled_nutpie(model, cache_key):
    import nutpie

    if cache_key is not None and cache_key in _COMPILED:
        _COMPILED.move_to_end(cache_key)
        compiled = _COMPILED[cache_key]
        # only the data the compiled functions read (a likelihood-free model has no rows)
        used = {v.name for v in compiled.shared_var_keys}
        updates = {d.name: np.asarray(d.get_value()) for d in model.data_vars if d.name in used}
        return compiled.with_data(**updates) if updates else compiled
    compiled = nutpie.compile_pymc_model(model)
    if cache_key is not None:
        _COMPILED[cache_key] = compiled
        while len(_COMPILED) > _COMPILED_MAX:
            _COMPILED.popitem(last=False)
    return compiled


def likelihood_free(model):
    """``model`` without its observed variables: same free variables (in the same order,
    so the same unconstrained vector), deterministics, coords and data the deterministics
    read.

    What nutpie compiles when a fused log density replaces PyTensor's: nutpie then uses
    only the compiled expansion, and the likelihood's graph over every training row took
    about two thirds of the compile (17 s of CPU of 24 at 20,000 renewals, 6 without it).
    """
    from pymc.model.fgraph import ModelObservedRV, fgraph_from_model, model_from_fgraph
    from pytensor.graph import FunctionGraph

    fg, _ = fgraph_from_model(model)
    keep = [o for o in fg.outputs if not isinstance(o.owner.op, ModelObservedRV)]
    pruned = FunctionGraph(outputs=keep, clone=False)
    pruned._coords = fg._coords
    pruned._dim_lengths = fg._dim_lengths
    out = model_from_fgraph(pruned, mutate_fgraph=True)
    order = {rv.name: i for i, rv in enumerate(model.free_RVs)}
    if sorted(order) != sorted(rv.name for rv in out.free_RVs):
        raise RuntimeError("likelihood_free: the free variables changed.")  # pragma: no cover
    out.free_RVs = sorted(out.free_RVs, key=lambda rv: order[rv.name])
    return out


def sample(
    model,
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | np.random.Generator | None = None,
    sampler: Sampler = "auto",
    target_accept: float = 0.9,
    max_treedepth: int = 10,
    progressbar: bool = False,
    cache_key: Any = None,
    fused: Any = None,
) -> xr.DataTree:
    """Draw from the posterior of a PyMC model with NUTS; always seeded.

    Parameters
    ----------
    model
        A ``pymc.Model``.
    draws, tune, chains
        Kept draws per chain, warm-up iterations per chain, number of chains.
    random_seed
        Seed of every chain (an int gives reproducible draws for a given sampler).
    sampler
        ``"nutpie"`` (compiled with numba, chains run in threads), ``"pymc"`` (PyMC's own
        NUTS) or ``"auto"``: nutpie when installed, else PyMC.
    target_accept
        Target acceptance statistic of the step-size adaptation; raise it (0.95–0.99)
        when the diagnostics gate reports divergences.
    max_treedepth
        Maximum tree depth of a NUTS trajectory (2**depth leapfrog steps).
    cache_key
        When given and the sampler is nutpie, the compiled model is kept under this key
        and reused for a later call with the same key: only the ``pm.Data`` values are
        swapped in. Use a key that pins the model's structure (dimension lengths, priors).
    fused
        Optional fused log density of the same model on nutpie's unconstrained vector
        (e.g. :class:`~dearstats.models._fast_renewal.FusedRenewal`): with nutpie it
        replaces the PyTensor-compiled log density and gradient (same posterior, cheaper
        gradient); nutpie's compiled expansion (constrained values, deterministics) stays,
        compiled from the model without its likelihood (:func:`likelihood_free`).
        Ignored by PyMC's sampler.

    Returns
    -------
    xarray.DataTree
        ``posterior`` and ``sample_stats`` groups; ``posterior.attrs`` records the sampler,
        seed, draws, tune, chains, target_accept and sampling time.
    """
    import pymc as pm

    for name, val, low in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1)):
        if not isinstance(val, (int, np.integer)) or val < low:
            raise InputError(f"{name}={val!r}: expected an integer ≥ {low}.")
    if not 0.5 <= target_accept < 1:
        raise InputError(f"target_accept={target_accept!r}: expected a number in [0.5, 1).")
    which = resolve_sampler(sampler)
    seed = _seed_int(random_seed)
    cores = max(1, min(chains, os.cpu_count() or 1))
    start = time.perf_counter()
    if which == "nutpie":
        import nutpie
        from threadpoolctl import threadpool_limits

        if fused is not None:
            from dearstats.models._fast_renewal import fused_compiled

            # nutpie needs only the expansion: compile the model without its likelihood
            key = None if cache_key is None else ("likelihood-free", cache_key)
            compiled = fused_compiled(_compiled_nutpie(likelihood_free(model), key), fused)
        else:
            compiled = _compiled_nutpie(model, cache_key)
        # BLAS threads inside sampler threads oversubscribe the cores: one each.
        with threadpool_limits(limits=1):
            idata = nutpie.sample(
                compiled,
                draws=draws,
                tune=max(tune, 1),  # nuts-rs needs at least one warm-up step
                chains=chains,
                cores=cores,
                seed=seed,
                save_warmup=False,
                progress_bar=progressbar,
                target_accept=target_accept,
                maxdepth=max_treedepth,
            )
        # A cached compiled model carries the coordinates of the data it was compiled with.
        post = idata["posterior"].to_dataset()
        fix = {
            d: np.asarray(v)
            for d, v in model.coords.items()
            if d in post.dims and v is not None and len(v) == post.sizes[d]
        }
        if fix:
            idata["posterior"] = xr.DataTree(post.assign_coords(fix))
    else:
        with warnings.catch_warnings():
            # PyMC's own advice on short chains / few chains is replaced by our gate.
            warnings.filterwarnings("ignore", category=UserWarning, module="pymc")
            idata = pm.sample(
                draws=draws,
                tune=tune,
                chains=chains,
                cores=cores,
                random_seed=seed,
                nuts_sampler="pymc",
                nuts={"target_accept": target_accept, "max_treedepth": max_treedepth},
                progressbar=progressbar,
                quiet=not progressbar,
                compute_convergence_checks=False,
                model=model,
            )
    idata["posterior"].attrs.update(
        {
            "dearstats_inference": "nuts",
            "dearstats_sampler": which,
            "dearstats_random_seed": seed,
            "dearstats_draws": int(draws),
            "dearstats_tune": int(tune),
            "dearstats_chains": int(chains),
            "dearstats_target_accept": float(target_accept),
            "dearstats_max_treedepth": int(max_treedepth),
            "dearstats_log_density": "fused"
            if fused is not None and which == "nutpie"
            else ("pytensor"),
            "dearstats_sampling_seconds": round(time.perf_counter() - start, 3),
        }
    )
    return idata


def fit_approx(
    model,
    *,
    method: Literal["advi", "pathfinder"] = "advi",
    random_seed: int | np.random.Generator | None = None,
    draws: int = 1000,
    n: int = 20_000,
    progressbar: bool = False,
) -> xr.DataTree:
    """A fast approximate posterior for exploration; not for inference.

    ``"advi"`` is mean-field ADVI from PyMC core (``n`` optimisation steps, then ``draws``
    draws from the fitted Gaussian). ``"pathfinder"`` needs ``pymc-extras``
    (``pip install pymc-extras``). Approximations under-state posterior uncertainty and
    correlations; the MCMC diagnostics gate does not apply to them. Refit with NUTS before
    reporting intervals.

    Returns a DataTree whose ``posterior`` has one pseudo-chain and
    ``attrs["dearstats_inference"] == method``.
    """
    import pymc as pm

    seed = _seed_int(random_seed)
    start = time.perf_counter()
    if method == "advi":
        approx = pm.fit(n=n, method="advi", model=model, random_seed=seed, progressbar=progressbar)
        idata = approx.sample(draws, random_seed=seed)
    elif method == "pathfinder":
        try:
            import pymc_extras as pmx
        except ImportError as exc:
            raise InputError(
                "method='pathfinder' needs the pymc-extras package, which is not installed: "
                "`pip install pymc-extras`, or use method='advi' (in PyMC core)."
            ) from exc
        idata = pmx.fit(
            method="pathfinder",
            model=model,
            random_seed=seed,
            num_draws=draws,
            progressbar=progressbar,
        )
    else:
        raise InputError(f"method={method!r}: expected 'advi' or 'pathfinder'.")
    if not isinstance(idata, xr.DataTree):  # older APIs return InferenceData-like objects
        from arviz_base import convert_to_datatree

        idata = convert_to_datatree(idata)
    idata["posterior"].attrs.update(
        {
            "dearstats_inference": method,
            "dearstats_random_seed": seed,
            "dearstats_draws": int(draws),
            "dearstats_sampling_seconds": round(time.perf_counter() - start, 3),
        }
    )
    return idata


# --------------------------------------------------------------------------------------
# Diagnostics gate
# --------------------------------------------------------------------------------------


def _flatten(ds: xr.Dataset) -> dict[str, float]:
    """``{"name[level,...]": value}`` for every element of every variable of ``ds``."""
    out: dict[str, float] = {}
    for name, da in ds.data_vars.items():
        if da.ndim == 0:
            out[str(name)] = float(da.values)
            continue
        stacked = da.stack(_e=list(da.dims))
        labels = stacked.indexes["_e"]
        for lab, val in zip(labels, np.asarray(stacked.values), strict=True):
            lab = lab if isinstance(lab, tuple) else (lab,)
            out[f"{name}[{','.join(str(x) for x in lab)}]"] = float(val)
    return out


def _stat(sample_stats: xr.Dataset, *names: str) -> np.ndarray | None:
    for n in names:
        if n in sample_stats:
            return np.asarray(sample_stats[n].values)
    return None


def check_convergence(
    idata: xr.DataTree,
    var_names: Sequence[str] | None = None,
    *,
    rhat_max: float = 1.01,
    ess_min: float = 400,
    max_divergences: int = 0,
    max_treedepth_rate: float = 0.01,
    warn: bool = True,
    label: str = "model",
    stacklevel: int = 2,
) -> pd.DataFrame:
    """The diagnostics gate: R-hat, bulk/tail ESS, divergences, tree-depth saturation.

    Thresholds follow Vehtari et al. (2021, *Bayesian Analysis* 16(2)): rank-normalised
    split R-hat ≤ ``rhat_max`` (1.01) and bulk and tail ESS ≥ ``ess_min`` (400, i.e. 100
    per chain for 4 chains) for every scalar parameter; no divergent transition; at most
    ``max_treedepth_rate`` of the draws hitting the maximum tree depth.

    Returns
    -------
    pandas.DataFrame
        One row per scalar parameter (index ``parameter``) with ``r_hat``, ``ess_bulk``,
        ``ess_tail`` and ``ok``. ``attrs`` holds the sampler-level figures:
        ``divergences``, ``divergence_rate``, ``treedepth_hits``, ``treedepth_rate``,
        ``chains``, ``draws``, ``inference``, ``passed`` and ``problems`` (messages).

    Warns
    -----
    ConvergenceWarning
        When anything fails (and ``warn``): names the worst parameters and the remedy.
    """
    import arviz_stats as azs

    if "posterior" not in idata.children:
        raise InputError("check_convergence: the DataTree has no posterior group.")
    post = idata["posterior"].to_dataset()
    inference = post.attrs.get("dearstats_inference", "nuts")
    names = list(var_names) if var_names is not None else [str(v) for v in post.data_vars]
    missing = [n for n in names if n not in post.data_vars]
    if missing:
        raise InputError(
            f"check_convergence: var_names {missing} are not in the posterior; "
            f"available: {sorted(map(str, post.data_vars))}."
        )
    post = post[names]
    n_chains, n_draws = int(post.sizes.get("chain", 1)), int(post.sizes.get("draw", 0))

    if inference != "nuts":
        table = pd.DataFrame(
            {"r_hat": np.nan, "ess_bulk": np.nan, "ess_tail": np.nan, "ok": False},
            index=pd.Index(list(_flatten(post.isel(chain=0, draw=0))), name="parameter"),
        )
        notes = [
            f"{label}: this is an approximate fit (method={inference!r}); MCMC diagnostics do "
            "not apply and the approximation is for exploration, not inference: its "
            "intervals are too narrow. Refit with method='nuts' before reporting."
        ]
        table.attrs.update(
            divergences=0,
            divergence_rate=np.nan,
            treedepth_hits=0,
            treedepth_rate=np.nan,
            chains=n_chains,
            draws=n_draws,
            inference=inference,
            passed=False,
            problems=notes,
        )
        if warn:
            warnings.warn(notes[0], ConvergenceWarning, stacklevel=stacklevel)
        return table

    dt = xr.DataTree(children={"posterior": xr.DataTree(post)})
    rhat = _flatten(azs.rhat(dt).to_dataset())
    bulk = _flatten(azs.ess(dt, method="bulk").to_dataset())
    tail = _flatten(azs.ess(dt, method="tail").to_dataset())
    sd = _flatten(post.std(dim=list(_SAMPLE_DIMS)))
    table = pd.DataFrame({"r_hat": rhat, "ess_bulk": bulk, "ess_tail": tail})
    table.index.name = "parameter"
    constant = pd.Series(sd).reindex(table.index).fillna(0.0) <= 1e-12
    rhat_bad = ~constant & ~(table["r_hat"] <= rhat_max)  # NaN counts as failing
    ess_bad = ~constant & ~(table[["ess_bulk", "ess_tail"]].min(axis=1) >= ess_min)
    table["ok"] = ~(rhat_bad | ess_bad)

    stats = idata["sample_stats"].to_dataset() if "sample_stats" in idata.children else None
    div = _stat(stats, "diverging") if stats is not None else None
    depth_hit = _stat(stats, "reached_max_treedepth", "maxdepth_reached") if stats else None
    n_total = max(n_chains * n_draws, 1)
    n_div = int(np.sum(div)) if div is not None else 0
    n_depth = int(np.sum(depth_hit)) if depth_hit is not None else 0

    problems: list[str] = []
    remedies: list[str] = []
    if rhat_bad.any():
        worst = table.loc[rhat_bad, "r_hat"].fillna(np.inf).sort_values(ascending=False)
        problems.append(
            f"{int(rhat_bad.sum())} parameter(s) with R-hat > {rhat_max} (worst: "
            + ", ".join(f"{k} {v:.3f}" for k, v in worst.head(5).items())
            + ")"
        )
    if ess_bad.any():
        ess = table.loc[ess_bad, ["ess_bulk", "ess_tail"]].min(axis=1).fillna(0).sort_values()
        problems.append(
            f"{int(ess_bad.sum())} parameter(s) with bulk or tail ESS < {ess_min:g} (worst: "
            + ", ".join(f"{k} {v:.0f}" for k, v in ess.head(5).items())
            + ")"
        )
    if rhat_bad.any() or ess_bad.any():
        tune_now = int(post.attrs.get("dearstats_tune", 1000))
        remedies.append(
            f"run longer chains (e.g. fit(..., tune={2 * max(tune_now, 500)}, "
            f"draws={2 * max(n_draws, 500)}), or more chains)"
        )
    if n_div > max_divergences:
        problems.append(f"{n_div} divergent transition(s) ({100 * n_div / n_total:.1f} % of draws)")
        ta = float(post.attrs.get("dearstats_target_accept", 0.9))
        remedies.append(
            f"raise target_accept (now {ta:g}; try {min(0.99, round(ta + (1 - ta) / 2, 3)):g}); "
            "if divergences persist, reparameterise (weakly identified group standard "
            "deviations need tighter priors or fewer grouping levels)"
        )
    if n_depth > max_treedepth_rate * n_total:
        problems.append(
            f"{n_depth} draw(s) ({100 * n_depth / n_total:.1f} %) hit the maximum tree depth"
        )
        remedies.append(
            "the posterior is badly scaled or strongly correlated: reparameterise (centre and "
            "scale predictors, drop collinear ones) or raise max_treedepth"
        )
    passed = not problems
    table.attrs.update(
        divergences=n_div,
        divergence_rate=n_div / n_total,
        treedepth_hits=n_depth,
        treedepth_rate=n_depth / n_total,
        chains=n_chains,
        draws=n_draws,
        inference=inference,
        passed=passed,
        problems=problems,
    )
    if problems and warn:
        msg = (
            f"{label} failed the convergence gate ({n_chains} chains × {n_draws} draws): "
            + "; ".join(problems)
            + ". Remedies: "
            + "; ".join(remedies)
            + ". Do not use these draws for inference until the gate passes "
            "(an approximate fit is no substitute: it is for exploration only)."
        )
        warnings.warn(msg, ConvergenceWarning, stacklevel=stacklevel)
    return table


# --------------------------------------------------------------------------------------
# Model comparison
# --------------------------------------------------------------------------------------


def compare(
    models: Mapping[str, Any] | Sequence[Any],
    *,
    var_name: str | None = None,
    method: Literal["stacking", "BB-pseudo-BMA", "pseudo-BMA"] = "stacking",
) -> pd.DataFrame:
    """Rank fitted models by PSIS-LOO expected log predictive density (ELPD).

    ``models`` maps names to fitted :class:`BayesModel` objects or DataTrees with a
    ``log_likelihood`` group (a sequence is named by class and position). All must be
    fitted to the same rows. ``var_name`` selects the observed variable when there are
    several; a fitted model uses its own default (``loo_var_name``). Returns
    ``arviz_stats.compare``'s table (``elpd``, ``p``, ``elpd_diff``, ``weight``, ``se``,
    ``dse``, ``warning`` — a Pareto-k warning means PSIS-LOO is unreliable for that model).
    """
    import arviz_stats as azs

    if not isinstance(models, Mapping):
        models = {f"{type(m).__name__}_{i}": m for i, m in enumerate(models)}
    if len(models) < 2:
        raise InputError(f"compare: expected at least two models, got {len(models)}.")
    trees: dict[str, xr.DataTree] = {}
    names: set[str | None] = set()
    for key, m in models.items():
        if isinstance(m, BayesModel):
            m._check_fitted()
            tree = m.idata_
            names.add(var_name or m.loo_var_name)
        elif isinstance(m, xr.DataTree):
            tree = m
            names.add(var_name)
        else:
            raise InputError(
                f"compare: {key!r} is a {type(m).__name__}; expected a fitted dearstats "
                "Bayesian model or an xarray.DataTree with a log_likelihood group."
            )
        if "log_likelihood" not in tree.children:
            raise InputError(
                f"compare: {key!r} has no log_likelihood group; fit with "
                "log_likelihood=True (the default) or call pymc.compute_log_likelihood."
            )
        trees[str(key)] = tree
    if len(names) > 1:
        raise InputError(
            f"compare: the models use different observed variables {sorted(map(str, names))}; "
            "pass var_name= naming one they all have."
        )
    return azs.compare(trees, method=method, var_name=names.pop())


# --------------------------------------------------------------------------------------
# Encodings (input checks come from dearstats.models._frame)
# --------------------------------------------------------------------------------------


def numeric_matrix(frame: pd.DataFrame, columns: Sequence[str], *, who: str) -> np.ndarray:
    """``frame[columns]`` as a float matrix; raise naming missing, non-numeric, non-finite."""
    require_columns(frame, columns, role=f"{who} predictor")
    check_numeric(frame, columns, role=f"{who} predictor")
    complete_rows(frame, columns, missing="raise", numeric=columns, role=who)
    return frame[list(columns)].to_numpy(dtype=float).reshape(len(frame), len(columns))


@dataclass(frozen=True)
class Standardizer:
    """Centre and scale of each predictor, learned once in ``fit`` and reused on new rows.

    ``z = (x − center) / scale`` with the training mean and standard deviation
    (``standardize=False`` keeps the raw scale: center 0, scale 1).
    """

    columns: tuple[str, ...]
    center: tuple[float, ...]
    scale: tuple[float, ...]

    @classmethod
    def fit(cls, x: np.ndarray, columns: Sequence[str], *, standardize: bool, who: str) -> Self:
        if not standardize or x.shape[1] == 0:
            k = x.shape[1]
            return cls(tuple(columns), (0.0,) * k, (1.0,) * k)
        sd = x.std(axis=0)
        const = [c for c, s in zip(columns, sd, strict=True) if not s > 0]
        if const:
            raise InputError(
                f"{who}: predictor(s) {const} are constant in the training rows, so their "
                "effect cannot be told apart from the intercept; drop them."
            )
        return cls(tuple(columns), tuple(map(float, x.mean(axis=0))), tuple(map(float, sd)))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (x - np.asarray(self.center)) / np.asarray(self.scale)


@dataclass(frozen=True)
class GroupLevels:
    """The levels of one grouping column seen in training; new rows map unseen levels to −1.

    Labels are compared by their string form (so levels survive a JSON round trip);
    null labels share one level, :data:`~dearstats.models._frame.NULL_LEVEL` (e.g. all
    tech-touch accounts with no ``csm_id`` form one group).
    """

    column: str
    levels: tuple[str, ...]
    outside: str | None = None

    @classmethod
    def fit(cls, frame: pd.DataFrame, column: str, outside: str | None = None) -> Self:
        """The levels of ``column``; a label equal to ``outside`` is not a level (its rows
        get code ``len(levels)``: no group effect, see :class:`LinearTerms`)."""
        _, levels = group_codes(frame, column, null="level")
        kept = tuple(str(lv) for lv in levels if outside is None or str(lv) != str(outside))
        return cls(str(column), kept, None if outside is None else str(outside))

    def codes(self, s: pd.Series) -> np.ndarray:
        """Integer code of each value; −1 for a level not seen in training, ``len(levels)``
        for the ``outside`` label."""
        lookup = {lev: i for i, lev in enumerate(self.levels)}
        if self.outside is not None:
            lookup[self.outside] = len(self.levels)
        labels = np.where(s.isna().to_numpy(), NULL_LEVEL, s.astype(str).to_numpy())
        return np.array([lookup.get(v, -1) for v in labels], dtype=np.int64)


# --------------------------------------------------------------------------------------
# The hierarchical linear predictor, once for PyMC and once for NumPy
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearTerms:
    """A linear predictor with non-centred, sum-to-zero group effects.

    For row i with standardised predictors z_i and level k_g(i) of each grouping column g::

        η_i = α + Σ_j β_j z_ij + Σ_g σ_g u_g[k_g(i)] + Σ_{j∈S} τ_j v_j[k_s(i)] z_ij

        α ~ Normal(intercept_loc, prior["intercept"])        (only when ``intercept``)
        β_j ~ Normal(0, prior["coef"])
        σ_g ~ HalfNormal(prior["group_sd"]),  u_g ~ ZeroSumNormal(1) over the levels of g
        τ_j ~ HalfNormal(prior["slope_sd"]),  v_j ~ ZeroSumNormal(1) over the levels of s

    A grouping column in ``fixed_groups`` has no σ_g: its effects are ``u_g ~
    ZeroSumNormal(prior["fixed_sd"])`` directly (a fixed effect with a weakly informative
    prior). Use it for columns with a handful of well-populated levels (e.g. three
    segments): three levels say almost nothing about a variance, so a hierarchical σ_g
    there is prior-dominated, shrinks the levels towards each other (biasing the extreme
    segments) and samples badly (its posterior has a funnel the data do not resolve).

    A grouping column in ``centered_groups`` is sampled centred: its effects are
    ``{p}e_{g} ~ ZeroSumNormal(σ_g)`` directly (the same posterior as σ_g u_g). Non-centred
    suits levels with few rows (the prior dominates); centred suits levels the data pin
    down (there u_g = e_g/σ_g is tied to σ_g and NUTS crawls along σ_g).

    A grouping column in ``outside_groups`` may have rows outside its pool: their level
    code is ``K`` (one past the K levels) and they get no effect from that column. Use it
    for a label that is not a level of the population the pool describes, e.g. the
    tech-touch accounts in ``csm_id``: one "CSM" with thousands of accounts, pinned by the
    data, inside a pool of humans with about a hundred each. In the pool it inflates σ and,
    non-centred (u = e/σ), ties itself to σ so that NUTS crawls; give it a fixed effect
    (an indicator predictor) instead. See :class:`GroupLevels` ``outside``.

    ``S`` (``slope_predictors``) are the predictors whose slope varies by the one grouping
    column ``slope_group`` (uncorrelated with the intercepts). The sum-to-zero constraint
    makes α the logit of an average level rather than leaving α and the mean level effect
    on a ridge that NUTS crosses slowly; it is the projection of iid N(0, σ²) effects onto
    the sum-zero subspace, so σ keeps its meaning (the spread of level effects). A level
    not seen in training gets a new effect drawn from N(0, σ²(1 + 1/K)) — the population
    distribution relative to the mean of the K seen levels, which α has absorbed.

    Parameter names carry ``prefix``: ``{p}alpha``, ``{p}beta`` (standardised scale),
    ``{p}sigma_{g}``, ``{p}u_{g}`` (raw; the level effects are σ_g u_g, see
    :func:`level_effects`), ``{p}tau``, ``{p}v_{s}``; and, when ``intercept``,
    ``{p}intercept`` and ``{p}coef`` on the predictors' original scale. Level effects are
    not stored as deterministics: every deterministic lengthens the compile.
    """

    prefix: str
    n_predictors: int
    groups: tuple[str, ...]
    intercept: bool
    priors: Mapping[str, float]
    slope_group: str | None = None
    slope_predictors: tuple[int, ...] = ()
    intercept_loc: float = 0.0
    fixed_groups: tuple[str, ...] = ()
    centered_groups: tuple[str, ...] = ()
    outside_groups: tuple[str, ...] = ()

    def _pad(self, g: str, eff: Any) -> Any:
        """The level effects of ``g`` with a 0 appended for rows outside the pool."""
        if g not in self.outside_groups:
            return eff
        import pytensor.tensor as pt

        return pt.concatenate([eff, pt.zeros(1)])

    def names(self) -> list[str]:
        p = self.prefix
        out = [f"{p}alpha"] if self.intercept else []
        if self.n_predictors:
            out.append(f"{p}beta")
        for g in self.groups:
            if g in self.fixed_groups:
                out.append(f"{p}u_{g}")
            else:
                out += [f"{p}sigma_{g}", f"{p}{'e' if g in self.centered_groups else 'u'}_{g}"]
        if self.slope_group is not None:
            out += [f"{p}tau", f"{p}v_{self.slope_group}"]
        if self.intercept:
            out.append(f"{p}intercept")
            if self.n_predictors:
                out.append(f"{p}coef")
        return out

    def reported(self) -> list[str]:
        """Interpretable parameters for summaries (original scale, group sds)."""
        p = self.prefix
        out: list[str] = []
        if self.intercept:
            out.append(f"{p}intercept")
            if self.n_predictors:
                out.append(f"{p}coef")
        elif self.n_predictors:
            out.append(f"{p}beta")
        out += [f"{p}u_{g}" if g in self.fixed_groups else f"{p}sigma_{g}" for g in self.groups]
        if self.slope_group is not None:
            out.append(f"{p}tau")
        return out

    def build(self, X, idx: Mapping[str, Any]):
        """Create the random variables in the current PyMC model; return η (a tensor).

        ``X`` (n × k standardised predictors) and ``idx[g]`` (n level codes) are tensors;
        the predictors' centre and scale are read from the model's ``pm.Data`` containers
        ``x_center`` and ``x_scale`` (see :func:`predictor_data`);
        the model must have coords ``"predictor"`` and one per group column (and
        ``"slope_predictor"`` for varying slopes).
        """
        import pymc as pm
        import pytensor.tensor as pt

        p, pr = self.prefix, self.priors
        eta = pt.zeros(X.shape[0])
        if self.intercept:
            alpha = pm.Normal(f"{p}alpha", self.intercept_loc, pr["intercept"])
            eta = eta + alpha
        if self.n_predictors:
            beta = pm.Normal(f"{p}beta", 0.0, pr["coef"], dims="predictor")
            eta = eta + pt.dot(X, beta)
        for g in self.groups:
            if g in self.fixed_groups:
                u = pm.ZeroSumNormal(f"{p}u_{g}", sigma=pr["fixed_sd"], dims=g)
                eta = eta + self._pad(g, u)[idx[g]]
                continue
            sigma = pm.HalfNormal(f"{p}sigma_{g}", pr["group_sd"])
            if g in self.centered_groups:
                e = pm.ZeroSumNormal(f"{p}e_{g}", sigma=sigma, dims=g)
                eta = eta + self._pad(g, e)[idx[g]]
                continue
            u = pm.ZeroSumNormal(f"{p}u_{g}", sigma=1.0, dims=g)
            if g in self.outside_groups:
                eta = eta + self._pad(g, sigma * u)[idx[g]]
            else:
                eta = eta + sigma * u[idx[g]]
        if self.slope_group is not None:
            s = self.slope_group
            if s in self.outside_groups:
                raise NotImplementedError(
                    f"LinearTerms: varying slopes by {s!r}, a group with rows outside its pool."
                )
            cols = list(self.slope_predictors)
            tau = pm.HalfNormal(f"{p}tau", pr["slope_sd"], dims="slope_predictor")
            v = pm.ZeroSumNormal(f"{p}v_{s}", sigma=1.0, dims=("slope_predictor", s))
            dev = tau[:, None] * v  # (slope_predictor, level)
            eta = eta + pt.sum(X[:, cols] * dev[:, idx[s]].T, axis=1)
        if self.intercept:
            model = pm.modelcontext(None)
            if self.n_predictors:
                center, scale = model["x_center"], model["x_scale"]
                pm.Deterministic(f"{p}coef", beta / scale, dims="predictor")
                pm.Deterministic(f"{p}intercept", alpha - pt.sum(beta * center / scale))
            else:
                pm.Deterministic(f"{p}intercept", alpha)
        return eta

    def draws(
        self,
        post: xr.Dataset,
        X: np.ndarray,
        codes: Mapping[str, np.ndarray],
        rng: np.random.Generator,
    ) -> np.ndarray:
        """η for new rows at every posterior draw: array (n_draws, n_rows).

        ``post`` is the posterior with ``chain`` and ``draw`` stacked into ``sample``;
        ``codes[g]`` are level codes with −1 for levels not seen in training, whose
        effects are drawn fresh from the fitted population distribution (see the class
        docstring), independently per draw and per unseen level.
        """
        p = self.prefix
        n_s, n = post.sizes["sample"], X.shape[0]
        eta = np.zeros((n_s, n))
        if self.intercept:
            eta += post[f"{p}alpha"].values[:, None]
        if self.n_predictors:
            eta += post[f"{p}beta"].transpose("sample", "predictor").values @ X.T
        for g in self.groups:
            out = g in self.outside_groups
            if g in self.centered_groups:
                eff = post[f"{p}e_{g}"].transpose("sample", g).values
                eta += self._level_values(eff, post[f"{p}sigma_{g}"].values, codes[g], rng, out)
                continue
            u = post[f"{p}u_{g}"].transpose("sample", g).values  # (S, K)
            if g in self.fixed_groups:
                sigma = np.full(n_s, float(self.priors["fixed_sd"]))
                eta += self._level_values(u, sigma, codes[g], rng, out)
                continue
            sigma = post[f"{p}sigma_{g}"].values
            eff = sigma[:, None] * u
            eta += self._level_values(eff, sigma, codes[g], rng, out)
        if self.slope_group is not None:
            s = self.slope_group
            tau = post[f"{p}tau"].transpose("sample", "slope_predictor").values  # (S, J)
            v = post[f"{p}v_{s}"].transpose("sample", "slope_predictor", s).values  # (S, J, K)
            for jj, col in enumerate(self.slope_predictors):
                dev = tau[:, jj, None] * v[:, jj, :]
                eta += self._level_values(dev, tau[:, jj], codes[s], rng) * X[:, col]
        return eta

    @staticmethod
    def _level_values(
        eff: np.ndarray,
        sd: np.ndarray,
        codes: np.ndarray,
        rng: np.random.Generator,
        outside: bool = False,
    ) -> np.ndarray:
        """(S, n) effect of each row's level; unseen levels (−1) drawn from the population;
        with ``outside``, code K (rows outside the pool) has effect 0."""
        n_s, k = eff.shape
        if outside:
            eff = np.concatenate([eff, np.zeros((n_s, 1))], axis=1)
        out = eff[:, np.clip(codes, 0, None)]
        unseen = codes < 0
        if unseen.any():
            # One new effect per distinct unseen row-group; rows are the unit here because
            # unseen labels are not kept: rows sharing an unseen label are independent.
            out[:, unseen] = rng.normal(size=(n_s, int(unseen.sum()))) * (
                sd[:, None] * np.sqrt(1.0 + 1.0 / max(k, 1))
            )
        return out


def level_effects(idata: xr.DataTree, group: str, prefix: str = "") -> xr.DataArray:
    """Posterior draws of the level effects σ_g u_g of grouping column ``group`` (u_g for
    a fixed group, which has no σ_g)."""
    post = idata["posterior"]
    if f"{prefix}e_{group}" in post:  # centred: the effects themselves
        return post[f"{prefix}e_{group}"].rename(f"{prefix}effect_{group}")
    if f"{prefix}sigma_{group}" not in post:
        return post[f"{prefix}u_{group}"].rename(f"{prefix}effect_{group}")
    return (post[f"{prefix}sigma_{group}"] * post[f"{prefix}u_{group}"]).rename(
        f"{prefix}effect_{group}"
    )


def predictor_data(encoding_standardizer: Standardizer, z: np.ndarray):
    """Create the ``pm.Data`` containers X, x_center, x_scale in the current model."""
    import pymc as pm

    s = encoding_standardizer
    X = pm.Data("X", z, dims=("obs", "predictor"))
    pm.Data("x_center", np.asarray(s.center, dtype=float), dims="predictor")
    pm.Data("x_scale", np.asarray(s.scale, dtype=float), dims="predictor")
    return X


def ordered_cutpoints(name: str, n_levels: int, *, prior_center: float, prior_gap: float):
    """Ordered cutpoints c_1 < … < c_{K−1} built generatively (prior-predictive safe).

    ``c = m + (cumsum([0, δ_1, …, δ_{K−2}]) − mean)`` with m ~ Normal(0, prior_center) and
    gaps δ ~ HalfNormal(prior_gap): centred on m, ordered by construction, so draws of the
    prior (simulation-based calibration) respect the order, which an ``ordered``
    transform on iid normals does not.
    """
    import pymc as pm
    import pytensor.tensor as pt

    m = pm.Normal(f"{name}_center", 0.0, prior_center)
    if n_levels == 2:
        return pm.Deterministic(name, pt.stack([m]), dims="cutpoint")
    gaps = pm.HalfNormal(f"{name}_gap", prior_gap, dims="cutgap")
    raw = pt.concatenate([pt.zeros(1), pt.cumsum(gaps)])
    return pm.Deterministic(name, m + raw - pt.mean(raw), dims="cutpoint")


def ordinal_probs(eta: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """P(Y = k) of the ordered logit, shape (..., K): eta (S, n), cut (S, K−1)."""
    cdf = 1.0 / (1.0 + np.exp(-(cut[:, None, :] - eta[:, :, None])))  # P(Y ≤ k)
    ones = np.ones((*cdf.shape[:-1], 1))
    zeros = np.zeros_like(ones)
    return np.diff(np.concatenate([zeros, cdf, ones], axis=-1), axis=-1)


def stacked_posterior(idata: xr.DataTree, max_draws: int | None = None) -> xr.Dataset:
    """The posterior with ``chain`` and ``draw`` stacked into ``sample``; with
    ``max_draws``, every k-th draw of every chain (the smallest k leaving at most
    ``max_draws`` samples; the first draw of each chain kept)."""
    post = idata["posterior"].to_dataset()
    if max_draws is not None:
        if int(max_draws) < post.sizes["chain"]:
            raise InputError(
                f"max_draws={max_draws!r}: expected at least one draw per chain "
                f"({post.sizes['chain']} chains)."
            )
        total = post.sizes["chain"] * post.sizes["draw"]
        step = -(-total // int(max_draws))
        post = post.isel(draw=slice(None, None, step))
    return post.stack(sample=list(_SAMPLE_DIMS))


def unstack_draws(values: np.ndarray, post: xr.Dataset, row_dim: str, rows: pd.Index, **kw):
    """A DataArray (chain, draw, row_dim, ...) from values (sample, n, ...)."""
    dims = ["sample", row_dim, *kw.pop("extra_dims", [])]
    coords = {"sample": post.indexes["sample"], row_dim: rows, **kw.pop("coords", {})}
    da = xr.DataArray(values, dims=dims, coords=coords, **kw)
    return da.unstack("sample").transpose("chain", "draw", ...)


def row_dim_name(frame: pd.DataFrame) -> str:
    """The name of the row dimension of draws: the frame's index name, else ``"row"``."""
    name = frame.index.name
    return str(name) if name is not None and name not in _SAMPLE_DIMS else "row"


# --------------------------------------------------------------------------------------
# The base contract
# --------------------------------------------------------------------------------------


def _canonical(obj: Any) -> Any:
    """JSON-able, order-stable version of a config value (tuples → lists, sorted keys)."""
    if isinstance(obj, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    return obj


def _dearstats_version() -> str:
    from dearstats import __version__

    return __version__


class BayesModel:
    """Base of every PyMC-backed dearstats model (the pymc-marketing ``ModelBuilder`` habit).

    Subclasses store settings in ``__init__`` (never data), return them from
    :meth:`get_config`, and implement ``_prepare`` (frame → encoding + arrays),
    ``_build`` (arrays → ``pymc.Model``) and ``_reported_vars``. The base class gives
    ``fit`` (NUTS with the diagnostics gate, or an approximation), prior/posterior
    predictive sampling, ``summary``, ``save``/``load``.

    Fitted attributes: ``idata_`` (DataTree: posterior, sample_stats, log_likelihood,
    observed_data), ``encoding_`` (how new rows are encoded), ``model_`` (the
    ``pymc.Model``), ``diagnostics_`` (the gate's table), ``n_obs_``, ``fit_seconds_``.
    """

    _model_version: ClassVar[int] = 1
    #: settings left out of :meth:`config_hash` while at these values (see there)
    _hash_defaults: ClassVar[dict[str, Any]] = {}
    loo_var_name: ClassVar[str | None] = None

    # ---- configuration -----------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def config_hash(self) -> str:
        """SHA-256 (first 16 hex digits) of the class name, model version and settings.

        The seed and the sampler settings are left out: they change the Monte Carlo
        draws, not the model; so is a setting at its value in :attr:`_hash_defaults` (a
        setting added later, whose default is the model as it was: files saved before it
        existed still load).
        """
        skip = self._hash_defaults
        payload = json.dumps(
            {
                "class": type(self).__name__,
                "model_version": self._model_version,
                "config": _canonical(
                    {
                        k: v
                        for k, v in self.get_config().items()
                        if k not in _NOT_HASHED and not (k in skip and v == skip[k])
                    }
                ),
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        cfg = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        state = "fitted" if hasattr(self, "idata_") else "not fitted"
        return f"{type(self).__name__}({cfg})  # {state}"

    # ---- to implement ------------------------------------------------------------------
    def _prepare(self, frame: pd.DataFrame, encoding: Any | None) -> tuple[Any, dict]:
        """(encoding, arrays): learn the encoding when ``encoding`` is None."""
        raise NotImplementedError  # pragma: no cover

    def _build(self, encoding: Any, arrays: dict, frame: pd.DataFrame):
        raise NotImplementedError  # pragma: no cover

    def _reported_vars(self) -> list[str]:
        raise NotImplementedError  # pragma: no cover

    def _encoding_to_json(self, encoding: Any) -> Any:
        raise NotImplementedError  # pragma: no cover

    def _encoding_from_json(self, data: Any) -> Any:
        raise NotImplementedError  # pragma: no cover

    def _postprocess_log_likelihood(self, idata: xr.DataTree) -> None:
        """Hook: combine observed variables into one pointwise variable, if needed."""

    # ---- the contract ------------------------------------------------------------------
    def build_model(self, frame: Any):
        """The ``pymc.Model`` for ``frame`` (its own encoding); no state is changed."""
        frame = as_pandas(frame, name=type(self).__name__)
        encoding, arrays = self._prepare(frame, None)
        return self._build(encoding, arrays, frame)

    def _structure_key(self, model) -> tuple:
        """Key of the compiled-sampler cache: the model graph's structure, not its data.

        Every data-dependent number (predictors, level codes, outcomes, centre/scale) is a
        ``pm.Data`` container, so two models with the same printed log-density and
        deterministics graphs and the same dimension lengths differ only in data values,
        which :func:`sample` swaps into the cached compiled model.
        """
        import pytensor

        text = str(
            pytensor.printing.debugprint(
                [model.logp(), *model.deterministics], file="str", print_type=True
            )
        )
        params = [*model.free_RVs, *model.deterministics]
        used = {d for v in params for d in (model.named_vars_to_dims.get(v.name) or ())}
        # Only parameter dimensions pin the structure; data dimensions (rows) may change.
        dims = tuple(sorted((str(d), len(model.coords[d])) for d in used))
        return (type(self).__name__, hashlib.sha256(text.encode()).hexdigest(), dims)

    def _sampler_settings(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults < ``sampler_config`` (a setting) < explicit ``fit`` keywords."""
        cfg = dict(DEFAULT_SAMPLER_CONFIG)
        user = dict(getattr(self, "sampler_config", None) or {})
        unknown = sorted(set(user) - set(cfg))
        if unknown:
            raise InputError(
                f"{type(self).__name__}: unknown sampler_config key(s) {unknown}; known: "
                f"{sorted(cfg)}."
            )
        cfg.update(user)
        cfg.update({k: v for k, v in overrides.items() if v is not None})
        return cfg

    def fit(
        self,
        frame: Any,
        *,
        method: Literal["nuts", "advi", "pathfinder"] = "nuts",
        random_seed: int | np.random.Generator | None = None,
        draws: int | None = None,
        tune: int | None = None,
        chains: int | None = None,
        sampler: Sampler | None = None,
        target_accept: float | None = None,
        max_treedepth: int | None = None,
        log_likelihood: bool | None = None,
        progressbar: bool | None = None,
        rhat_max: float | None = None,
        ess_min: float | None = None,
    ) -> Self:
        """Fit to ``frame``; returns ``self``.

        ``method="nuts"`` samples with :func:`sample` and runs the diagnostics gate
        (:func:`check_convergence`; a failing fit warns :class:`ConvergenceWarning`).
        ``"advi"``/``"pathfinder"`` is a fast approximation (:func:`fit_approx`) for
        exploration: ``draws`` approximate draws, no gate, not for inference.

        Keywords left at None take the model's ``sampler_config`` setting, else
        :data:`DEFAULT_SAMPLER_CONFIG` (draws 1000, tune 1000, chains 4, sampler auto,
        target_accept 0.9, max_treedepth 10, log_likelihood True, rhat_max 1.01,
        ess_min 400, fused True: with nutpie, a model's fused numba log density replaces
        PyTensor's where the model has one); ``random_seed`` defaults to the model's
        ``random_seed`` setting.
        ``log_likelihood`` stores pointwise log-likelihoods for :func:`compare` (LOO).
        """
        who = type(self).__name__
        cfg = self._sampler_settings(
            {
                "draws": draws,
                "tune": tune,
                "chains": chains,
                "sampler": sampler,
                "target_accept": target_accept,
                "max_treedepth": max_treedepth,
                "log_likelihood": log_likelihood,
                "progressbar": progressbar,
                "rhat_max": rhat_max,
                "ess_min": ess_min,
            }
        )
        if random_seed is None:
            random_seed = getattr(self, "random_seed", None)
        frame = as_pandas(frame, name=who)
        start = time.perf_counter()
        encoding, arrays = self._prepare(frame, None)
        model = self._build(encoding, arrays, frame)
        if method == "nuts":
            idata = sample(
                model,
                draws=cfg["draws"],
                tune=cfg["tune"],
                chains=cfg["chains"],
                random_seed=random_seed,
                sampler=cfg["sampler"],
                target_accept=cfg["target_accept"],
                max_treedepth=cfg["max_treedepth"],
                progressbar=cfg["progressbar"],
                cache_key=self._structure_key(model),
                fused=(
                    self._fused_log_density(encoding, model)
                    if cfg["fused"] and resolve_sampler(cfg["sampler"]) == "nutpie"
                    else None
                ),
            )
        elif method in ("advi", "pathfinder"):
            idata = fit_approx(model, method=method, random_seed=random_seed, draws=cfg["draws"])
        else:
            raise InputError(
                f"{who}.fit: method={method!r}; expected 'nuts', 'advi' or 'pathfinder'."
            )
        if cfg["log_likelihood"]:
            import pymc as pm

            pm.compute_log_likelihood(
                idata, model=model, extend_inferencedata=True, progressbar=False
            )
            self._postprocess_log_likelihood(idata)
        idata.attrs.update({"dearstats_class": who, "dearstats_config_hash": self.config_hash})
        self.encoding_ = encoding
        self.model_ = model
        self.idata_ = idata
        self.n_obs_ = len(frame)
        self.diagnostics_ = check_convergence(
            idata,
            self._gate_vars(idata),
            rhat_max=cfg["rhat_max"],
            ess_min=cfg["ess_min"],
            warn=method == "nuts",
            label=who,
            stacklevel=3,
        )
        self.fit_seconds_ = round(time.perf_counter() - start, 3)
        return self

    def _fused_log_density(self, encoding: Any, model: Any) -> Any:
        """A fused log density of ``model`` for nutpie, or None (PyTensor's is used)."""
        return None

    def _gate_vars(self, idata: xr.DataTree) -> list[str]:
        """Variables checked by the gate: every free parameter and reported quantity."""
        return [str(v) for v in idata["posterior"].data_vars]

    def _seed(self, random_seed: int | None) -> int | None:
        """The explicit seed, else the model's ``random_seed`` setting."""
        return random_seed if random_seed is not None else getattr(self, "random_seed", None)

    def _check_fitted(self) -> None:
        if not hasattr(self, "idata_"):
            raise InputError(
                f"{type(self).__name__} is not fitted yet: call .fit(frame) (or load a saved "
                "model) first."
            )

    def sample_prior_predictive(
        self, frame: Any, *, draws: int = 500, random_seed: int | None = None
    ) -> xr.DataTree:
        """Draws of the parameters and outcomes from the prior, for the rows of ``frame``."""
        import pymc as pm

        model = self.build_model(frame)
        return pm.sample_prior_predictive(
            draws=draws, model=model, random_seed=_seed_int(random_seed)
        )

    def _encode_new(self, frame: Any) -> tuple[pd.DataFrame, dict]:
        self._check_fitted()
        frame = as_pandas(frame, name=type(self).__name__)
        _, arrays = self._prepare(frame, self.encoding_)
        return frame, arrays

    def sample_posterior_predictive(
        self, frame: Any, *, random_seed: int | None = None
    ) -> xr.DataTree:
        """Outcome draws for the rows of ``frame`` (new or seen), as a DataTree.

        Group ``posterior_predictive`` holds the outcome variable(s) with dims
        (chain, draw, row) — the row dimension is named after the frame's index.
        """
        raise NotImplementedError  # pragma: no cover

    def summary(self, var_names: Sequence[str] | None = None, *, ci_prob: float = 0.9):
        """Posterior mean, sd, equal-tailed ``ci_prob`` interval and the gate's diagnostics.

        One row per scalar parameter (original predictor scale where it applies);
        ``attrs`` carries the sampler-level figures (divergences, tree depth, chains,
        draws, passed, problems) and provenance (class, config hash, n_obs, method).
        """
        self._check_fitted()
        post = self.idata_["posterior"].to_dataset()
        names = (
            list(var_names)
            if var_names is not None
            else [v for v in self._reported_vars() if v in post.data_vars]
        )
        post = post[names]
        lo, hi = (1 - ci_prob) / 2, 1 - (1 - ci_prob) / 2
        dims = list(_SAMPLE_DIMS)
        pct = f"{100 * ci_prob:g}"
        table = pd.DataFrame(
            {
                "mean": _flatten(post.mean(dims)),
                "sd": _flatten(post.std(dims)),
                f"eti{pct}_lb": _flatten(post.quantile(lo, dims).drop_vars("quantile")),
                f"eti{pct}_ub": _flatten(post.quantile(hi, dims).drop_vars("quantile")),
            }
        )
        table.index.name = "parameter"
        diag = self.diagnostics_
        table = table.join(diag[["r_hat", "ess_bulk", "ess_tail"]], how="left")
        table.attrs.update(dict(diag.attrs))
        table.attrs.update(
            model=type(self).__name__,
            config_hash=self.config_hash,
            n_obs=getattr(self, "n_obs_", None),
            method=diag.attrs.get("inference"),
        )
        return table

    # ---- persistence -------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted model to one file (a zip of a Zarr store of ``idata_``).

        The root attributes carry a JSON header: file format, class name, config and its
        hash, model version, dearstats version and the encoding of new rows. Needs the
        ``zarr`` package (installed with nutpie).
        """
        self._check_fitted()
        path = Path(path)
        header = {
            "format": _FILE_FORMAT,
            "class": type(self).__name__,
            "model_version": self._model_version,
            "dearstats_version": _dearstats_version(),
            "config": _canonical(self.get_config()),
            "config_hash": self.config_hash,
            "encoding": self._encoding_to_json(self.encoding_),
            "n_obs": self.n_obs_,
        }
        tree = self.idata_.copy()
        for name, node in list(tree.children.items()):
            ds = node.to_dataset()
            drop = [v for v in ds.data_vars if ds[v].dtype == object]
            if drop:  # e.g. nutpie's divergence messages: not storable, not needed
                tree[name] = xr.DataTree(ds.drop_vars(drop))
        tree.attrs = {"dearstats_model": json.dumps(header)}
        with tempfile.TemporaryDirectory() as tmp:
            store = Path(tmp) / "store"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # zarr v3 notes on string/consolidated dtypes
                tree.to_zarr(store, consolidated=False)
            tmp_zip = Path(tmp) / "model.zip"
            with zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_DEFLATED) as zf:
                for f in sorted(store.rglob("*")):
                    if f.is_file():
                        zf.write(f, f.relative_to(store).as_posix())
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(tmp_zip), path)
        return path

    @staticmethod
    def read_header(path: str | os.PathLike) -> dict[str, Any]:
        """The JSON header of a saved model file (class, config, versions)."""
        tree = _open_tree(Path(path))
        return json.loads(tree.attrs["dearstats_model"])

    @classmethod
    def load(cls, path: str | os.PathLike, *, expect: BayesModel | None = None) -> Self:
        """Load a model saved by :meth:`save`, refusing a mismatched file.

        Raises :class:`ModelFileMismatchError` when the file was written by another class,
        another model version or dearstats version, when its config does not hash to the
        recorded hash under this code, or (with ``expect``, an unfitted model holding the
        settings you expect) when its config differs from ``expect``'s.
        """
        path = Path(path)
        tree = _open_tree(path)
        try:
            header = json.loads(tree.attrs["dearstats_model"])
        except (KeyError, json.JSONDecodeError) as exc:
            raise ModelFileMismatchError(
                f"{path}: not a dearstats model file (no dearstats_model header)."
            ) from exc
        if header.get("format") != _FILE_FORMAT:
            raise ModelFileMismatchError(
                f"{path}: file format {header.get('format')!r}, expected {_FILE_FORMAT!r}."
            )
        if header["class"] != cls.__name__:
            raise ModelFileMismatchError(
                f"{path} holds a {header['class']}, not a {cls.__name__}; load it with "
                f"{header['class']}.load(...)."
            )
        if header["model_version"] != cls._model_version:
            raise ModelFileMismatchError(
                f"{path} was written for {cls.__name__} model version "
                f"{header['model_version']}, this code has version {cls._model_version}; "
                "refit the model."
            )
        if header["dearstats_version"] != _dearstats_version():
            raise ModelFileMismatchError(
                f"{path} was written by dearstats {header['dearstats_version']}, this is "
                f"dearstats {_dearstats_version()}; refit, or load with the version that "
                "wrote it."
            )
        try:
            obj = cls(**header["config"])
        except TypeError as exc:
            raise ModelFileMismatchError(
                f"{path}: its config {header['config']} does not fit {cls.__name__} "
                f"settings ({exc}); refit the model."
            ) from exc
        if obj.config_hash != header["config_hash"]:
            raise ModelFileMismatchError(
                f"{path}: config hash {header['config_hash']} but its config hashes to "
                f"{obj.config_hash} under this code; the file was altered or written by "
                "other code. Refit the model."
            )
        if expect is not None and expect.config_hash != header["config_hash"]:
            raise ModelFileMismatchError(
                f"{path} holds a {cls.__name__} with config {header['config']} "
                f"(hash {header['config_hash']}), expected {_canonical(expect.get_config())} "
                f"(hash {expect.config_hash})."
            )
        tree.attrs = {k: v for k, v in tree.attrs.items() if k != "dearstats_model"} | {
            "dearstats_class": cls.__name__,
            "dearstats_config_hash": header["config_hash"],
        }
        obj.idata_ = tree
        obj.encoding_ = obj._encoding_from_json(header["encoding"])
        obj.n_obs_ = header.get("n_obs")
        obj.diagnostics_ = check_convergence(tree, obj._gate_vars(tree), warn=False)
        return obj


def _open_tree(path: Path) -> xr.DataTree:
    """Read a saved model file fully into memory."""
    if not path.is_file():
        raise InputError(f"{path}: no such model file.")
    if not zipfile.is_zipfile(path):
        raise ModelFileMismatchError(f"{path}: not a dearstats model file (not a zip archive).")
    import zarr

    store = zarr.storage.ZipStore(path, mode="r")
    try:
        return xr.open_datatree(store, engine="zarr", consolidated=False).load()  # type: ignore[arg-type]
    except Exception as exc:
        raise ModelFileMismatchError(
            f"{path}: not a readable dearstats model file ({type(exc).__name__}: {exc})."
        ) from exc
    finally:
        store.close()
