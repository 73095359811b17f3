"""GRR and NRR forecasts as predictive distributions (issue 5, item 1; DESIGN section 3).

``forecast(book, fiscal_year=Y)`` answers: *given what was known on the planning date P
(default the first day of Y), what will GRR and NRR of fiscal year Y be?* — as draws, so
every interval, probability of hitting plan and per-segment figure comes from one joint
distribution.

The account decomposition
-------------------------
For FY ``[t0, t1)`` the cohort is ``C = {a : ARR_a(t0) > 0}`` (new logos stay out,
exactly as in :func:`dearstats.retention`). Contracts use *effective* starts (a renewal
signed within ``grace_days`` counts as on time). For each cohort account, from the
contracts known on P:

- ``arr_start`` = ARR on ``t0``;
- ``arr_carry`` = the part of it on contracts running past ``t1`` (multi-year contracts
  not up for renewal): it is still there on ``t1``;
- ``arr_up`` = the rest, on contracts ending in ``(t0, t1]``: the ARR up for renewal;
- the outcome ``arr_next`` = ``ARR(t1) − arr_carry`` = what the account holds on ``t1``
  from contracts that were not running on ``t0``: its renewals (resized or not) and any
  cross-sell of the year. ``ARR(t1) = arr_carry + arr_next``.

Accounts with ``arr_up > 0`` are **renewal units**: the renewal model predicts
``arr_next`` from ``arr_up`` (churn → 0, contraction, flat, expansion with its size),
so cross-sells bought during the year show as expansion, exactly as they move NRR.
Accounts with ``arr_up = 0`` (everything on multi-year terms) cannot lose ARR this year;
they can only buy more. Their ``arr_next`` is drawn from the **cross-sell part**: a
Bernoulli with a Beta(1 + k, 1 + n − k) posterior for the share that bought, and a size
``arr_next / arr_start`` resampled from the training years' buyers.

Per draw *s*: ``a1 = arr_carry + arr_next_s`` per account, then
``GRR_s = Σ min(a1, a0) / Σ a0``, ``NRR_s = Σ a1 / Σ a0`` and the waterfall
(churn, contraction, expansion), overall and by segment. Because the draws are joint
across accounts, segment and overall figures are consistent and their intervals are real
predictive intervals (parameter uncertainty and outcome noise).

Horizon-matched training (DESIGN section 3)
-------------------------------------------
The book is cut at P first (:meth:`Book.as_of`): nothing dated on or after P is read. The
model for Y as of P is trained on the same construction for the ``training_years``
previous years: features as of ``P − k years`` → outcomes of FY ``Y − k``. Never on
snapshots closer to renewal than P, so a renewal late in the year is predicted from an
11-month-old snapshot in training as in forecasting; ``years_to_renewal`` (from the
snapshot to the account's first renewal of the year) is a predictor. A training account
whose year is not settled on P (a renewal within ``grace_days`` of P, so a late renewal
may still arrive) is left out and counted in ``.training["unsettled"]``.

Models (``model=``)
-------------------
``"hierarchical"`` (default)
    :class:`~dearstats.models.HierarchicalRenewal` — churn, contraction/flat/expansion and
    the size of the change, partial pooling by segment and CSM; draws from its posterior
    predictive (parameter uncertainty included). The convergence gate runs on every fit.
``"logit"``
    :class:`~dearstats.models.RenewalLogit` two-part model with segment fixed effects:
    churn-logit coefficients drawn from their asymptotic normal (cluster-robust by
    account), renewer classes from the fitted multinomial logit, sizes from the fitted
    log-ratio regressions plus a resampled residual.
``"colour_rate"``
    The practitioners' plan: historical outcomes per overall colour. Each account's
    ``arr_next / arr_up`` is resampled from the training accounts of its colour (so the
    mean is the historical renewal ratio per colour, and churn keeps its all-or-nothing
    shape).
``"last_year"``
    Last year's GRR and NRR as seen on P (a point forecast; a baseline for the backtest).

Predictors (all but ``last_year``): the card's four dimension scores (a missing score
filled with its training mean plus a 0/1 ``<dim>_score_missing`` indicator, as in
:mod:`dearstats.calibrate`), ``log_arr_up`` and ``years_to_renewal``. Account tenure was
tried and dropped: in backtests of simulated books it learned a negative slope (survivor
selection) and, as the book aged, pulled the GRR forecast down by 1-3 points a year.

Training years whose snapshot ``P − k years`` is less than a year after the book's first
health record (:meth:`Book.health_start`) are skipped and listed in
``.training["skipped_years"]``: their feature windows would read an empty history as "no
engagement, nothing verified". In simulated books (contracts back to 2017, health data
from 2020) keeping them biased the first backtest years' GRR 1-3 points low.

Limits
------
The planning date must be the first day of the fiscal year or earlier in the 12 months
before it. For P before ``t0`` the cohort is taken from the contracts known on P that run
on ``t0``: an account whose contract ends between P and ``t0`` is not in the forecast's
cohort although it may renew into the actual one (its renewal belongs to FY Y − 1); the
count is reported in ``.cohort_gap``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dearstats.book import Book, to_date
from dearstats.errors import InputError
from dearstats.retention import (
    _attach,
    _prepare_accounts,
    _prepare_contracts,
    fiscal_year_bounds,
    retention,
)
from dearstats.scorecard import ScoreCard

__all__ = ["FORECAST_MODELS", "Forecast", "forecast", "year_units"]

FORECAST_MODELS: tuple[str, ...] = ("hierarchical", "logit", "colour_rate", "last_year")
DIMENSIONS: tuple[str, ...] = ("deployment", "engagement", "adoption", "roi")
SCORES: tuple[str, ...] = tuple(f"{d}_score" for d in DIMENSIONS)
LEVELS: tuple[float, ...] = (0.5, 0.8, 0.95)
TECH_TOUCH = "(tech-touch)"
ALL = "All"
_EPS = 1e-9
_FLAG_MIN = 0.05  # share of training rows missing a score before it gets a 0/1 flag


# ---------------------------------------------------------------------------------------
# the account decomposition of one fiscal year
def year_units(
    contracts: pd.DataFrame,
    accounts: pd.DataFrame,
    fiscal_year: int,
    *,
    cut: Any,
    grace_days: int = 30,
    fy_start_month: int = 1,
) -> pd.DataFrame:
    """The cohort accounts of ``fiscal_year`` with ``arr_start``, ``arr_carry``,
    ``arr_up``, ``first_renewal`` and — from contracts starting before ``cut`` —
    ``arr_end`` (ARR on ``t1``), ``arr_next = arr_end − arr_carry`` and ``settled``
    (every renewal of the account in the year is ``grace_days`` or more before ``cut``).

    Only contracts with ``start_date < cut`` are read. Indexed by ``account_id``, sorted.
    """
    t0, t1 = fiscal_year_bounds(fiscal_year, fy_start_month)
    cut = pd.Timestamp(to_date(cut, name="cut"))
    c = _prepare_contracts(contracts)
    c = c[c["start_date"] < cut].reset_index(drop=True)
    cols = ["arr_start", "arr_carry", "arr_up", "arr_end", "arr_next"]
    if c.empty:
        out = pd.DataFrame(columns=cols, index=pd.Index([], name="account_id", dtype="str"))
        return out.assign(first_renewal=pd.Series(dtype="datetime64[us]"), settled=True)
    eff = _attach(c, grace_days)
    start = eff["effective_start"]
    end = eff["end_date"]
    arr = eff["arr"].to_numpy(dtype=float)
    on_t0 = ((start <= t0) & (end > t0)).to_numpy()
    carry = on_t0 & (end > t1).to_numpy()
    up = on_t0 & ~carry
    on_t1 = ((start <= t1) & (end > t1)).to_numpy()
    new_on_t1 = on_t1 & ~on_t0
    acct = eff["account_id"].astype("str").to_numpy()
    frame = pd.DataFrame(
        {
            "account_id": acct,
            "arr_start": np.where(on_t0, arr, 0.0),
            "arr_carry": np.where(carry, arr, 0.0),
            "arr_up": np.where(up, arr, 0.0),
            "arr_next": np.where(new_on_t1, arr, 0.0),
            "renewal": np.where(up, end.to_numpy(), np.datetime64("NaT", "us")),
        }
    )
    g = frame.groupby("account_id", sort=True)
    out = g[["arr_start", "arr_carry", "arr_up", "arr_next"]].sum()
    out["first_renewal"] = g["renewal"].min().astype("datetime64[us]")
    in_year = ((end > t0) & (end <= t1)).to_numpy()
    ends = pd.Series(
        np.where(in_year, end.to_numpy(), np.datetime64("NaT", "us")), dtype="datetime64[us]"
    )
    last = ends.groupby(frame["account_id"]).max()
    out = out[out["arr_start"] > 0].copy()
    out["arr_end"] = out["arr_carry"] + out["arr_next"]
    last = last.reindex(out.index)
    # A contract starting on or after ``cut`` can only reach ARR(t1) by attaching to a
    # renewal ≤ grace_days before its start; none can once every contract end of the year
    # is more than grace_days before the cut (and the year is over).
    done = cut >= t1  # a contract starting on t1 itself is not visible before it
    out["settled"] = done & (
        last.isna().to_numpy() | (last + pd.Timedelta(days=grace_days) < cut).to_numpy()
    )
    if not done:
        out["arr_end"] = np.nan
        out["arr_next"] = np.nan
    acc = _prepare_accounts(accounts, ("segment",), c).set_index("account_id")
    out["segment"] = acc["segment"].reindex(out.index).astype("str").to_numpy()
    csm = accounts.set_index("account_id")["csm_id"] if "csm_id" in accounts else None
    out["csm_id"] = (
        csm.reindex(out.index).astype("str").fillna(TECH_TOUCH).to_numpy()
        if csm is not None
        else TECH_TOUCH
    )
    out.index = out.index.astype("str")
    out.index.name = "account_id"
    return out[["segment", "csm_id", *cols, "first_renewal", "settled"]]


# ---------------------------------------------------------------------------------------
# modelling frames
@dataclass(frozen=True)
class _Design:
    """Missing-score fills and flags learned on the training frame."""

    fills: dict[str, float]
    flags: tuple[str, ...]

    @classmethod
    def learn(cls, frame: pd.DataFrame) -> _Design:
        fills = {c: float(frame[c].mean()) if frame[c].notna().any() else 50.0 for c in SCORES}
        # A flag for a dimension missing in a few rows only would be near-separated
        # (rows with no snapshot at all); those rows just take the mean.
        share = frame[list(SCORES)].isna().mean()
        flags = tuple(c for c in SCORES if _FLAG_MIN <= share[c] <= 1 - _FLAG_MIN)
        return cls(fills, flags)

    @property
    def predictors(self) -> list[str]:
        return [
            *SCORES,
            *(f"{c}_missing" for c in self.flags),
            "log_arr_up",
            "years_to_renewal",
        ]

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        for c in self.flags:
            out[f"{c}_missing"] = frame[c].isna().astype("float64")
        for c, v in self.fills.items():
            out[c] = frame[c].astype("float64").fillna(v)
        return out


def _with_features(
    units: pd.DataFrame, feats: pd.DataFrame, snapshot: pd.Timestamp
) -> pd.DataFrame:
    """Units joined to their features/scores as of ``snapshot`` (accounts without a
    snapshot row — no ARR on the snapshot date — get missing scores, kept, not dropped)."""
    cols = [c for c in feats.columns if c.endswith(("_score", "_colour"))]
    out = units.join(feats[cols], how="left")
    for c in SCORES:
        if c not in out:
            out[c] = np.nan
    if "overall_colour" not in out:
        out["overall_colour"] = "unknown"
    out["overall_colour"] = out["overall_colour"].astype("object").fillna("unknown")
    up = out["arr_up"].to_numpy(dtype=float)
    out["log_arr_up"] = np.log(np.maximum(up, 1.0))
    days = (out["first_renewal"] - snapshot).dt.days.to_numpy(dtype=float)
    out["years_to_renewal"] = np.where(np.isfinite(days), days / 365.25, 0.0)
    return out


# ---------------------------------------------------------------------------------------
# the methods: fit on training renewal units, then draw arr_next for target units
class _Method:
    name = ""

    def fit(self, train: pd.DataFrame, design: _Design, random_seed: int) -> None:
        raise NotImplementedError  # pragma: no cover

    def draws(self, target: pd.DataFrame, n_draws: int, random_seed: int) -> np.ndarray:
        """(n_draws, len(target)) draws of ``arr_next``."""
        raise NotImplementedError  # pragma: no cover

    def diagnostics(self) -> dict[str, Any]:
        return {}


class _ColourRate(_Method):
    name = "colour_rate"

    def fit(self, train: pd.DataFrame, design: _Design, random_seed: int) -> None:
        ratio = (train["arr_next"] / train["arr_up"]).to_numpy(dtype=float)
        weight = train["arr_up"].to_numpy(dtype=float)
        colour = train["overall_colour"].astype("str").to_numpy()
        # resampled in proportion to ARR up for renewal, so the expected ratio is the
        # ARR-weighted historical renewal rate of the colour (how a plan is built)
        self.pools_ = {
            c: (ratio[colour == c], weight[colour == c] / weight[colour == c].sum())
            for c in np.unique(colour)
        }
        self.all_ = (ratio, weight / weight.sum())
        self.rates_ = {
            c: float(
                train.loc[colour == c, "arr_next"].sum() / train.loc[colour == c, "arr_up"].sum()
            )
            for c in self.pools_
        }

    def draws(self, target: pd.DataFrame, n_draws: int, random_seed: int) -> np.ndarray:
        rng = np.random.default_rng(random_seed)
        colour = target["overall_colour"].astype("str").to_numpy()
        up = target["arr_up"].to_numpy(dtype=float)
        out = np.empty((n_draws, len(target)))
        for c in np.unique(colour):
            cols = np.flatnonzero(colour == c)
            pool, w = self.pools_.get(c, self.all_)
            if len(pool) < 5:
                pool, w = self.all_
            pick = rng.choice(len(pool), size=(n_draws, len(cols)), p=w)
            out[:, cols] = pool[pick] * up[cols]
        return out

    def diagnostics(self) -> dict[str, Any]:
        return {"net_renewal_ratio_by_colour": self.rates_}


class _Logit(_Method):
    name = "logit"

    def fit(self, train: pd.DataFrame, design: _Design, random_seed: int) -> None:
        from dearstats.models import RenewalLogit

        frame = design.apply(train).assign(
            outcome=_classes(train["arr_up"], train["arr_next"]), account=train.index
        )
        self.design_ = design
        self.model_ = RenewalLogit(
            design.predictors,
            outcome="outcome",
            outcome_kind="classes",
            groups=["segment"],
            cluster="account",
            standardize=True,
            unseen="average",
            arr_before="arr_up",
            arr_after="arr_next",
        ).fit(frame)

    def draws(self, target: pd.DataFrame, n_draws: int, random_seed: int) -> np.ndarray:
        rng = np.random.default_rng(random_seed)
        m = self.model_
        X = m._design(self.design_.apply(target))
        res = m.result_
        beta = rng.multivariate_normal(
            np.asarray(res.params, dtype=float), np.asarray(res.cov_params(), dtype=float),
            size=n_draws, method="eigh",
        )  # fmt: skip
        p_renew = 1.0 / (1.0 + np.exp(-(beta @ X.to_numpy(dtype=float).T)))  # (S, n)
        q = m._renewer_proba(X)  # (n, classes)
        up = target["arr_up"].to_numpy(dtype=float)
        n = len(target)
        renew = rng.random((n_draws, n)) < p_renew
        cum = np.cumsum(q.to_numpy(), axis=1)
        u = rng.random((n_draws, n, 1))
        cls_idx = np.minimum((u > cum[None, :, :]).sum(axis=-1), q.shape[1] - 1)
        ratio = np.ones((n_draws, n))
        for j, c in enumerate(q.columns):
            if c == "flat":
                continue
            key = f"log_ratio_{c}"
            info = m.size_[c]
            if key in m.results_:
                r = m.results_[key]
                mu = np.asarray(r.predict(X), dtype=float)
                resid = np.asarray(r.resid, dtype=float)
                size = np.exp(mu[None, :] + resid[rng.integers(0, len(resid), (n_draws, n))])
            else:
                size = np.full((n_draws, n), info["mean"])
            size = np.clip(size, info["min"], info["max"])
            ratio = np.where(cls_idx == j, size, ratio)
        return np.where(renew, ratio, 0.0) * up[None, :]


class _Hierarchical(_Method):
    name = "hierarchical"

    def __init__(self, sampler_config: Mapping[str, Any] | None) -> None:
        self.sampler_config = dict(sampler_config or {})

    def fit(self, train: pd.DataFrame, design: _Design, random_seed: int) -> None:
        from dearstats.models import HierarchicalRenewal

        self.design_ = design
        self.model_ = HierarchicalRenewal(
            design.predictors,
            groups=("segment", "csm_id"),
            size_groups=("segment",),
            # three well-populated segments: fixed (sum-to-zero) effects. A hierarchical σ
            # over 3 levels was prior-dominated, shrank Enterprise towards SMB (Enterprise
            # GRR forecast 1-4 points low in backtests) and failed the R-hat/ESS gate.
            fixed_groups=("segment",),
            # tech-touch accounts are not a CSM: outside the CSM pool, with a fixed effect
            # (issue 7: pooled, this one "CSM" of thousands of accounts inflated σ_CSM and
            # was its slowest-mixing parameter in every backtest year)
            outside_levels={"csm_id": TECH_TOUCH},
            # target_accept 0.95: at 0.9 the churn part's CSM scale showed a few
            # divergences per fit (1-6 in 4,000 draws) in backtests of simulated books.
            # 2,000 draws per chain: the CSM scales σ mix at about 0.1 effective draws per
            # draw (20k-account backtests, issue 7), so 4 × 1,000 left their bulk ESS at
            # 340-740, around the gate's 400; the predictive is thinned to n_draws anyway
            sampler_config={
                "log_likelihood": False,
                "target_accept": 0.95,
                "draws": 2000,
                **self.sampler_config,
            },
            random_seed=random_seed,
        )
        frame = design.apply(train).rename(
            columns={"arr_up": "arr_before", "arr_next": "arr_after"}
        )
        self.model_.fit(frame)

    def draws(self, target: pd.DataFrame, n_draws: int, random_seed: int) -> np.ndarray:
        frame = self.design_.apply(target).rename(columns={"arr_up": "arr_before"})
        # thinned to about n_draws posterior draws (every k-th of each chain) first: the
        # predictive costs per draw × account
        da = self.model_.predict_draws(frame, random_seed=random_seed, max_draws=n_draws)
        arr = da.stack(sample=("chain", "draw")).transpose("sample", ...).values
        if arr.shape[0] >= n_draws:
            # evenly spaced over the stacked (chain, draw) axis: every chain contributes
            # (the first n_draws would be the first chains only when there are more)
            pick = (np.arange(n_draws) * arr.shape[0]) // n_draws
            return np.asarray(arr[pick])
        rng = np.random.default_rng(random_seed)
        return np.asarray(arr[rng.integers(0, arr.shape[0], n_draws)])

    def diagnostics(self) -> dict[str, Any]:
        table = self.model_.diagnostics_
        a = table.attrs
        return {
            "passed": bool(a["passed"]),
            "problems": list(a["problems"]),
            "divergences": int(a["divergences"]),
            "chains": int(a["chains"]),
            "draws": int(a["draws"]),
            "tune": int(self.model_.idata_["posterior"].attrs.get("dearstats_tune", -1)),
            "target_accept": float(
                self.model_.idata_["posterior"].attrs.get("dearstats_target_accept", "nan")
            ),
            "rhat_max": float(table["r_hat"].max()),
            "ess_bulk_min": float(table["ess_bulk"].min()),
            "ess_tail_min": float(table["ess_tail"].min()),
            # the slowest-mixing parameters: where to look when the gate fails
            "ess_bulk_lowest": [str(i) for i in table["ess_bulk"].nsmallest(3).index],
            "log_density": str(
                self.model_.idata_["posterior"].attrs.get("dearstats_log_density", "")
            ),
            "fit_seconds": float(self.model_.fit_seconds_),
        }


def _classes(before: pd.Series, after: pd.Series) -> np.ndarray:
    b, a = before.to_numpy(dtype=float), after.to_numpy(dtype=float)
    return np.select(
        [a <= 0, np.abs(a - b) <= _EPS * b, a < b],
        ["churn", "flat", "contraction"],
        default="expansion",
    )


def _method(model: str, sampler_config: Mapping[str, Any] | None) -> _Method:
    if model == "hierarchical":
        return _Hierarchical(sampler_config)
    if model == "logit":
        return _Logit()
    if model == "colour_rate":
        return _ColourRate()
    raise InputError(
        f"forecast: model={model!r}; expected one of {', '.join(map(repr, FORECAST_MODELS))}."
    )


# ---------------------------------------------------------------------------------------
# the cross-sell part for accounts with nothing up for renewal
@dataclass(frozen=True)
class _CrossSell:
    n: int
    k: int
    ratios: np.ndarray

    @classmethod
    def fit(cls, carry_only: pd.DataFrame) -> _CrossSell:
        new = carry_only["arr_next"].to_numpy(dtype=float)
        bought = new > 0
        ratios = new[bought] / carry_only["arr_start"].to_numpy(dtype=float)[bought]
        return cls(len(new), int(bought.sum()), ratios)

    def draws(self, target: pd.DataFrame, n_draws: int, rng: np.random.Generator) -> np.ndarray:
        n = len(target)
        if n == 0 or self.k == 0:
            return np.zeros((n_draws, n))
        p = rng.beta(1 + self.k, 1 + self.n - self.k, size=(n_draws, 1))
        buy = rng.random((n_draws, n)) < p
        size = self.ratios[rng.integers(0, len(self.ratios), (n_draws, n))]
        return np.where(buy, size, 0.0) * target["arr_start"].to_numpy(dtype=float)[None, :]


# ---------------------------------------------------------------------------------------
# the result
def _quantiles(x: np.ndarray) -> dict[str, float]:
    out = {"mean": float(np.mean(x)), "sd": float(np.std(x, ddof=1)) if len(x) > 1 else 0.0}
    for lvl in LEVELS:
        lo, hi = (1 - lvl) / 2, 1 - (1 - lvl) / 2
        out[f"lo{int(lvl * 100)}"] = float(np.quantile(x, lo))
        out[f"hi{int(lvl * 100)}"] = float(np.quantile(x, hi))
    out["median"] = float(np.median(x))
    return out


@dataclass(eq=False, repr=False)
class Forecast:
    """The predictive distribution of one fiscal year's GRR, NRR and ARR waterfall.

    Attributes
    ----------
    draws
        One row per draw and group (``segment`` = ``"All"`` or a segment): ``draw``,
        ``arr_start``, ``churn``, ``contraction``, ``expansion``, ``arr_end``, ``grr``,
        ``nrr`` (signs as in :func:`dearstats.retention`: churn and contraction ≤ 0).
    accounts
        The account table: cohort accounts with ``arr_start``, ``arr_carry``, ``arr_up``,
        ``first_renewal``, scores and colours as of the planning date, ``p_renew`` (P the
        account keeps any ARR up for renewal), ``expected_arr_end``, ``arr_at_risk``
        (``arr_start − E[min(ARR(t1), arr_start)]``, the expected gross loss), sorted by
        ARR at risk.
    account_draws
        ``(n_draws, n_accounts)`` draws of ARR on ``t1`` (columns in ``accounts`` order).
    """

    fiscal_year: int
    as_of: pd.Timestamp
    model: str
    plan: dict[str, float]
    draws: pd.DataFrame
    accounts: pd.DataFrame
    account_draws: np.ndarray
    training: dict[str, Any]
    diagnostics: dict[str, Any]
    settings: dict[str, Any]
    cohort_gap: int = 0
    _state: dict[str, Any] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        """Tidy summary: one row per group and metric (``grr``, ``nrr``, ``arr_end``,
        ``churn``, ``contraction``, ``expansion``) with the mean, sd, median, the 50/80/95 %
        central intervals (``lo50``/``hi50``…) and, for GRR/NRR with a plan, ``p_plan`` =
        P(metric ≥ plan)."""
        rows = []
        for seg, g in self.draws.groupby("segment", sort=False):
            for metric in ("grr", "nrr", "arr_start", "arr_end", "churn", "contraction",
                           "expansion"):  # fmt: skip
                x = g[metric].to_numpy(dtype=float)
                row: dict[str, Any] = {"segment": seg, "metric": metric, **_quantiles(x)}
                if metric in self.plan:
                    row["plan"] = self.plan[metric]
                    row["p_plan"] = float(np.mean(x >= self.plan[metric]))
                rows.append(row)
        out = pd.DataFrame(rows)
        order = [ALL, *sorted(s for s in out["segment"].unique() if s != ALL)]
        out["segment"] = pd.Categorical(out["segment"], categories=order, ordered=True)
        out = out.sort_values(["segment"], kind="stable", ignore_index=True)
        out["segment"] = out["segment"].astype("str")
        return out

    def prob_at_least(self, plan: float, metric: str = "grr", segment: str = ALL) -> float:
        """P(metric ≥ plan) for ``metric`` in grr/nrr, overall or for one segment."""
        if metric not in ("grr", "nrr"):
            raise InputError(f"prob_at_least: metric={metric!r}; expected 'grr' or 'nrr'.")
        g = self.draws[self.draws["segment"] == segment]
        if g.empty:
            raise InputError(
                f"prob_at_least: segment={segment!r} is not in the forecast; known: "
                f"{sorted(self.draws['segment'].unique())}."
            )
        return float(np.mean(g[metric].to_numpy() >= plan))

    def interval(
        self, metric: str = "grr", level: float = 0.8, segment: str = ALL
    ) -> tuple[float, float]:
        """Central ``level`` predictive interval of ``metric``."""
        x = self.draws.loc[self.draws["segment"] == segment, metric].to_numpy(dtype=float)
        a = (1 - level) / 2
        return float(np.quantile(x, a)), float(np.quantile(x, 1 - a))

    def summary(self) -> pd.DataFrame:
        """Headline table: GRR and NRR overall and per segment, formatted."""
        f = self.frame()
        f = f[f["metric"].isin(["grr", "nrr"])]
        out = pd.DataFrame(
            {
                "segment": f["segment"],
                "metric": f["metric"].str.upper(),
                "mean": [f"{v:.1%}" for v in f["mean"]],
                "80% interval": [
                    f"{lo:.1%} – {hi:.1%}" for lo, hi in zip(f["lo80"], f["hi80"], strict=True)
                ],
                "95% interval": [
                    f"{lo:.1%} – {hi:.1%}" for lo, hi in zip(f["lo95"], f["hi95"], strict=True)
                ],
            }
        )
        if "p_plan" in f:
            out["P(≥ plan)"] = [
                "" if not np.isfinite(p) else f"{p:.0%}" for p in f["p_plan"].astype(float)
            ]
        return out.reset_index(drop=True)

    def __repr__(self) -> str:
        head = (
            f"Forecast(fiscal_year={self.fiscal_year}, as_of={self.as_of.date()}, "
            f"model={self.model!r}, accounts={len(self.accounts)}, "
            f"draws={int(self.draws['draw'].max()) + 1})"
        )
        return f"{head}\n{self.summary().to_string(index=False)}"


def _totals(a0: np.ndarray, a1: np.ndarray, segments: np.ndarray) -> pd.DataFrame:
    """Per-draw sums overall and per segment from account draws ``a1`` (S, n)."""
    n_draws = a1.shape[0]
    kept = a1 > 0
    diff = a1 - a0[None, :]
    parts = {
        "arr_start": np.broadcast_to(a0, a1.shape),
        "churn": np.where(~kept, -a0[None, :], 0.0),
        "contraction": np.where(kept, np.minimum(diff, 0.0), 0.0),
        "expansion": np.where(kept, np.maximum(diff, 0.0), 0.0),
        "arr_end": a1,
        "retained": np.minimum(a1, a0[None, :]),
    }
    frames = []
    groups = [(ALL, np.ones(len(a0), dtype=bool))] + [
        (str(s), segments == s) for s in sorted(set(segments))
    ]
    for name, mask in groups:
        sums = {k: v[:, mask].sum(axis=1) for k, v in parts.items()}
        start = sums["arr_start"]
        with np.errstate(invalid="ignore", divide="ignore"):
            sums["grr"] = sums.pop("retained") / start
            sums["nrr"] = sums["arr_end"] / start
        frames.append(pd.DataFrame({"draw": np.arange(n_draws), "segment": name, **sums}))
    return pd.concat(frames, ignore_index=True)


def _snapshot(p: pd.Timestamp, k: int) -> pd.Timestamp:
    return pd.Timestamp(p) - pd.DateOffset(years=k)


def forecast(
    book: Book,
    fiscal_year: int,
    *,
    as_of: Any = None,
    model: str = "hierarchical",
    plan: Mapping[str, float] | None = None,
    scorecard: ScoreCard | None = None,
    training_years: int = 3,
    n_draws: int = 4000,
    grace_days: int = 30,
    fy_start_month: int = 1,
    sampler_config: Mapping[str, Any] | None = None,
    features: pd.DataFrame | None = None,
    random_seed: int = 0,
) -> Forecast:
    """Predictive distribution of GRR and NRR for ``fiscal_year`` from data as of ``as_of``.

    Parameters
    ----------
    book
        The book (any engine); it is cut at ``as_of`` first.
    fiscal_year
        The year Y to forecast.
    as_of
        Planning date P (default: the first day of Y); up to a year before it.
    model
        ``"hierarchical"``, ``"logit"``, ``"colour_rate"`` or ``"last_year"`` (module
        docstring).
    plan
        Optional targets, e.g. ``{"grr": 0.9, "nrr": 1.05}``: the summary reports
        P(metric ≥ plan).
    scorecard
        Card for the dimension scores and colours (default :meth:`ScoreCard.default`).
    training_years
        Number of earlier fiscal years used for horizon-matched training (≥ 1).
    n_draws
        Draws of the predictive distribution (the hierarchical model gives
        chains × draws; resampled when fewer).
    sampler_config
        Passed to :class:`~dearstats.models.HierarchicalRenewal` (e.g. shorter chains).
    features
        Optional precomputed ``build_panel`` frame (``account_id``, ``as_of``, features)
        covering the snapshot dates ``P − k years`` for k = 0..training_years; rows dated
        on or after P are refused.
    random_seed
        Seeds the fit and every draw: same seed, same numbers.
    """
    from dearstats.features import build_panel

    started = time.perf_counter()
    if model not in FORECAST_MODELS:
        raise InputError(
            f"forecast: model={model!r}; expected one of {', '.join(map(repr, FORECAST_MODELS))}."
        )
    if (
        isinstance(training_years, bool)
        or not isinstance(training_years, int)
        or training_years < 1
    ):
        raise InputError(f"forecast: training_years={training_years!r}; expected an int ≥ 1.")
    if isinstance(n_draws, bool) or not isinstance(n_draws, int) or n_draws < 100:
        raise InputError(f"forecast: n_draws={n_draws!r}; expected an int ≥ 100.")
    t0, t1 = fiscal_year_bounds(fiscal_year, fy_start_month)
    p = t0 if as_of is None else pd.Timestamp(to_date(as_of, name="as_of"))
    if not (t0 - pd.DateOffset(years=1) < p <= t0):
        raise InputError(
            f"forecast: as_of={p.date()} for fiscal_year={fiscal_year} ({t0.date()} to "
            f"{t1.date()}); the planning date must be in the 12 months up to the first day "
            f"of the year (default {t0.date()}). For an in-year view use retention()."
        )
    plan = {str(k): float(v) for k, v in (plan or {}).items()}
    if bad := sorted(set(plan) - {"grr", "nrr"}):
        raise InputError(f"forecast: plan keys {bad}; expected 'grr' and/or 'nrr'.")
    card = ScoreCard.default() if scorecard is None else scorecard
    cut = book.embedded().as_of(p)  # lazy on DuckDB: only what is collected is read
    contracts, accounts = cut.frame("contracts"), cut.frame("accounts")

    target = year_units(contracts, accounts, fiscal_year, cut=p, grace_days=grace_days,
                        fy_start_month=fy_start_month)  # fmt: skip
    if target.empty:
        raise InputError(
            f"forecast: no account has ARR on {t0.date()} (start of FY{fiscal_year}) in the "
            f"contracts known on {p.date()}; choose a fiscal year inside the book."
        )
    cohort_gap = _cohort_gap(contracts, p, t0) if p < t0 else 0

    if model == "last_year":
        return _last_year(cut, fiscal_year, p, target, plan, grace_days, fy_start_month,
                          n_draws, cohort_gap, started)  # fmt: skip

    snaps = [_snapshot(p, k) for k in range(training_years + 1)]
    if features is None:
        panel = build_panel(cut, dates=sorted(snaps))
    else:
        panel = _check_features(features, p)
    panel = card.score(panel)
    by_date = {pd.Timestamp(d): g.set_index("account_id") for d, g in panel.groupby("as_of")}

    def feats(d: pd.Timestamp) -> pd.DataFrame:
        return by_date.get(pd.Timestamp(d), panel.iloc[:0].set_index("account_id"))

    health_start = cut.health_start()
    train_parts, carry_parts, unsettled, years_used, skipped = [], [], 0, [], []
    for k in range(1, training_years + 1):
        y = fiscal_year - k
        units = year_units(contracts, accounts, y, cut=p, grace_days=grace_days,
                           fy_start_month=fy_start_month)  # fmt: skip
        if units.empty:
            continue
        unsettled += int((~units["settled"]).sum())
        units = units[units["settled"]]
        if health_start is None or snaps[k] < health_start + pd.DateOffset(years=1):
            # the snapshot's feature windows (up to a year for ROI) reach back before the
            # book's health history: its scores would read an empty past as "no
            # engagement, no verified outcome", a different regime from the target's
            skipped.append(y)
            continue
        units = _with_features(units, feats(snaps[k]), snaps[k]).assign(fiscal_year=y)
        train_parts.append(units[units["arr_up"] > 0])
        carry_parts.append(units[units["arr_up"] <= 0])
        years_used.append(y)
    train = pd.concat(train_parts) if train_parts else pd.DataFrame()
    if len(train) < 50:
        raise InputError(
            f"forecast: {len(train)} settled renewal accounts with health data in the "
            f"{training_years} fiscal year(s) before FY{fiscal_year} as of {p.date()}"
            + (f" (years without health data: {skipped})" if skipped else "")
            + f" (need ≥ 50 to fit "
            f"{model!r}); use a later fiscal_year, more training_years, or a bigger book."
        )
    carry_train = pd.concat(carry_parts)
    target = _with_features(target, feats(snaps[0]), snaps[0])
    design = _Design.learn(train)
    method = _method(model, sampler_config)
    method.fit(train, design, random_seed)

    renew = target["arr_up"].to_numpy() > 0
    rng = np.random.default_rng([random_seed, 1])
    nxt = np.zeros((n_draws, len(target)))
    nxt[:, renew] = method.draws(target[renew], n_draws, random_seed)
    xsell = _CrossSell.fit(carry_train)
    nxt[:, ~renew] = xsell.draws(target[~renew], n_draws, rng)
    a1 = target["arr_carry"].to_numpy(dtype=float)[None, :] + nxt
    a0 = target["arr_start"].to_numpy(dtype=float)
    draws = _totals(a0, a1, target["segment"].to_numpy())

    acc = _account_table(target, a0, a1)
    return Forecast(
        fiscal_year=fiscal_year,
        as_of=p,
        model=model,
        plan=plan,
        draws=draws,
        accounts=acc.drop(columns="_col"),
        account_draws=a1[:, acc["_col"].to_numpy()],
        training={
            "fiscal_years": years_used,
            "snapshots": [d.date().isoformat() for d in snaps[1:]],
            "n_renewal_accounts": len(train),
            "n_carry_only": len(carry_train),
            "unsettled": unsettled,
            "skipped_years": skipped,
            "cross_sell": {"n": xsell.n, "bought": xsell.k},
        },
        diagnostics=method.diagnostics(),
        settings={
            "training_years": training_years,
            "n_draws": n_draws,
            "grace_days": grace_days,
            "fy_start_month": fy_start_month,
            "random_seed": random_seed,
            "scorecard": card.name if hasattr(card, "name") else None,
            "seconds": round(time.perf_counter() - started, 2),
        },
        cohort_gap=cohort_gap,
        _state={"method": method, "design": design, "target": target,
                "a1": a1, "renew": renew, "card": card},
    )  # fmt: skip


def _account_table(target: pd.DataFrame, a0: np.ndarray, a1: np.ndarray) -> pd.DataFrame:
    renew = target["arr_up"].to_numpy() > 0
    next_ = a1 - target["arr_carry"].to_numpy(dtype=float)[None, :]
    keep = [c for c in ("segment", "csm_id", "arr_start", "arr_carry", "arr_up", "first_renewal",
                        *SCORES, *(f"{d}_colour" for d in DIMENSIONS), "overall_score",
                        "overall_colour") if c in target]  # fmt: skip
    acc = target[keep].copy()
    acc["p_renew"] = np.where(renew, (next_ > 0).mean(axis=0), np.nan)
    acc["expected_arr_end"] = a1.mean(axis=0)
    # ≥ 0 up to rounding (a flat renewal is carry + ratio × up); clipped to exactly 0
    acc["arr_at_risk"] = np.maximum(a0 - np.minimum(a1, a0[None, :]).mean(axis=0), 0.0)
    acc["_col"] = np.arange(len(acc))
    acc = acc.sort_values("arr_at_risk", ascending=False, kind="stable")
    return acc


def _cohort_gap(contracts: pd.DataFrame, p: pd.Timestamp, t0: pd.Timestamp) -> int:
    c = _prepare_contracts(contracts)
    ends = c[(c["end_date"] >= p) & (c["end_date"] <= t0)]
    return int(ends["account_id"].nunique())


def _check_features(features: pd.DataFrame, p: pd.Timestamp) -> pd.DataFrame:
    if not {"account_id", "as_of"} <= set(features.columns):
        raise InputError(
            "forecast: features must be a build_panel frame with account_id and as_of columns; "
            "build it with dearstats.build_panel(book, dates=[...])."
        )
    late = features[pd.to_datetime(features["as_of"]) > p]
    if len(late):
        raise InputError(
            f"forecast: features has {len(late)} row(s) as of after the planning date "
            f"{p.date()} (e.g. as_of={pd.Timestamp(late['as_of'].iloc[0]).date()}); a forecast "
            "must not see them: pass features built only up to as_of."
        )
    return features.assign(as_of=pd.to_datetime(features["as_of"]))


def _last_year(
    cut: Book,
    fiscal_year: int,
    p: pd.Timestamp,
    target: pd.DataFrame,
    plan: dict[str, float],
    grace_days: int,
    fy_start_month: int,
    n_draws: int,
    cohort_gap: int,
    started: float,
) -> Forecast:
    import warnings

    from dearstats.errors import DearstatsWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DearstatsWarning)  # last year is provisional on P
        r = retention(cut, fiscal_year - 1, as_of=p, grace_days=grace_days,
                      fy_start_month=fy_start_month).frame()  # fmt: skip
    a0 = target["arr_start"].to_numpy(dtype=float)
    segs = target["segment"].to_numpy()
    frames = []
    for name, mask in [(ALL, np.ones(len(a0), bool))] + [(s, segs == s) for s in sorted(set(segs))]:
        row = r[r["segment"] == name]
        grr = float(row["grr"].iloc[0]) if len(row) else float("nan")
        nrr = float(row["nrr"].iloc[0]) if len(row) else float("nan")
        start = float(a0[mask].sum())
        frames.append(pd.DataFrame({
            "draw": np.arange(n_draws), "segment": name, "arr_start": start,
            "churn": np.nan, "contraction": np.nan, "expansion": np.nan,
            "arr_end": start * nrr, "grr": grr, "nrr": nrr,
        }))  # fmt: skip
    draws = pd.concat(frames, ignore_index=True)
    acc = target.copy()
    return Forecast(
        fiscal_year=fiscal_year, as_of=p, model="last_year", plan=plan, draws=draws,
        accounts=acc, account_draws=np.empty((0, len(acc))), training={}, diagnostics={},
        settings={"n_draws": n_draws, "grace_days": grace_days, "fy_start_month": fy_start_month,
                  "seconds": round(time.perf_counter() - started, 2)},
        cohort_gap=cohort_gap,
    )  # fmt: skip
