"""Calibrate a scorecard on renewals: weights and colour thresholds from outcomes.

Three steps (issue 4, item 4):

1. :func:`renewal_frame` — one row per *settled* renewal event (``renewal_events``,
   ``is_final``) with the account's features and the card's scores **as of a snapshot
   ``days_before`` days before the renewal** (:func:`~dearstats.features.renewal_snapshots`:
   only records dated before the snapshot are read), the outcome ``renewed`` (1 unless the
   event churned), ``arr_before``/``arr_after``, ``segment``, ``csm_id`` (both as of the
   snapshot) and ``fiscal_year``.
2. :func:`calibrate_scorecard` — a logistic regression of ``renewed`` on the card's
   dimension scores, adjusted for segment (:class:`~dearstats.models.RenewalLogit`,
   cluster-robust by ``csm_id``), turned into dimension weights and overall colour
   thresholds, each with a parametric-bootstrap interval, and a new card carrying them and
   its provenance.
3. :func:`evaluate` — AUC, Brier score, log loss, ECE and renewal rate per colour.

Weights from coefficients
-------------------------
With the fitted model ``logit P(renew) = b0 + Σ_d b_d · s_d`` (plus the segment terms, see
below) on scores ``s_d`` that all share the 0–100 scale, the overall score
``o = Σ_d w_d s_d / Σ_d w_d`` orders accounts (within a segment) exactly as the model's
linear predictor when ``w_d ∝ b_d``; then ``logit P = b0 + B · o`` with ``B = Σ_d b_d``.
So the weights are::

    w_d = max(b_d, 0) / Σ_k max(b_k, 0)

*Not* ``b_d · sd(s_d)``: that is a measure of each dimension's share of the variation in
risk in this book (an "importance"), but it is not the weight of a linear index — using it
would over-weight dimensions that happen to vary a lot, and the overall score would no
longer be a monotone function of the model's predicted risk. Negative coefficients are set
to 0: a healthier dimension should not lower overall health, and a negative slope on a
0–100 health score is almost always collinearity between dimensions (the weight reported
is then 0 and its interval shows how sure that is).

Thresholds from target renewal rates
------------------------------------
With those weights, ``logit P(renew) ≈ b0 + B · o + c`` where
``c = Σ_{b_d<0} b_d · mean(s_d) + Σ_k f_k · g_k``: the clipped dimensions held at their
training mean, and the segment indicators ``g_k`` held at their training frequencies ``f_k``
(the training mix; ``c = 0`` when nothing is clipped or adjusted for). The score where
the fitted P(renew) crosses a target ``p`` is::

    o(p) = (logit(p) − b0 − c) / B

clipped to [0, 100]. Defaults: yellow at P = 0.75 (below it red), green at P = 0.90.

Uncertainty
-----------
Parametric bootstrap: ``n_boot`` draws of the coefficient vector from
``Normal(b̂, V̂)`` with ``V̂`` the cluster-robust (by CSM) covariance, seeded by
``random_seed``; each draw is mapped to weights and thresholds as above, and the intervals
are the ``(α/2, 1 − α/2)`` percentiles of the draws. This is the sampling uncertainty of
the coefficients given the model; it does not include model misspecification.

Missing dimensions
------------------
A dimension score is missing when none of its measures is known (e.g. ROI for an account
with no success-plan outcome due yet — about half the renewals in the simulated book;
deployment without telemetry). The card then averages the dimensions present. The model
must not drop those rows (they renew at different rates), so each missing score is filled
with its training mean and a 0/1 indicator ``<dimension>_score_missing`` enters the model
(the missing-indicator method). The weights use only the score slopes; the indicators
only shift the predicted P(renew) of accounts without that dimension.

Adjusting for segment (``adjust_for``, default ``("segment",)``)
----------------------------------------------------------------
Segments renew at different rates for reasons the health scores do not see (contract
size, buying process; in the simulator a lower churn intercept for Enterprise), and the
segment mix of a book drifts: SMB accounts churn out faster, so later years hold more
Mid-Market and Enterprise renewals (7,000-account simulated book, seed 0: SMB share 0.59
of FY2021 renewals, 0.57, 0.54, then 0.53 of FY2024). A scores-only model learns the
training mix in its intercept and, where scores correlate with segment, in its slopes, and
its probabilities lag the mix as it moves. Indicators for the ``adjust_for`` columns fix
that by conditioning on what drifts (a covariate shift with a stable conditional model is
no shift for a model that conditions on it). The weights are then within-segment slopes —
what a scorecard should weigh, rather than "being Enterprise" by proxy — and the
thresholds are set for the training mix (``c`` above). ``adjust_for=()`` gives the plain
scores-only model.

How the default was chosen: by rolling-origin validation inside the training years only
(fit FY2021-22, score FY2023; 7,000-account simulated books, seeds 0, 1, 2), comparing
the scores-only model, segment indicators, a linear fiscal-year trend extrapolated one
year ahead, recency weighting of training years (half-lives 0.5, 1, 2 years) and the
last year's level, by held-out log loss. Segment indicators lowered log loss and Brier in
all three books. A linear fiscal-year trend term is *not* offered: its estimate was small,
negative and within one or two standard errors of 0 (−0.07 ± 0.07, −0.04 ± 0.07,
−0.04 ± 0.07 on the logit) and extrapolating it worsened log loss in two of three books;
recency weighting and the last year's level likewise helped in some books and hurt in
others. Held-out FY2024 (train FY2021-23), measured once after that choice: ECE
0.019 / 0.016 / 0.012 adjusted vs 0.018 / 0.018 / 0.019 scores-only; Brier
0.1223 / 0.1246 / 0.1268 vs 0.1222 / 0.1243 / 0.1266 — slightly higher with the adjustment
in all three, by at most 0.0003 (well inside noise). The adjustment is principled, but
its gain in these books is small. A small under-prediction of FY2024 renewal remains
(0.006–0.009 in all three books): year-to-year movement that nothing found in the
training years anticipated.

Expected calibration error (ECE)
--------------------------------
Rows are sorted by predicted P(renew) and split into 10 bins of equal count (sizes differ
by at most one; ties may straddle bins). ``ECE = Σ_b (n_b / n) · |ȳ_b − p̄_b|``: the
count-weighted mean absolute gap between observed renewal rate and mean prediction.
Equal-count (not equal-width) bins because predicted renewal probabilities crowd near 1,
where equal-width bins would leave most bins nearly empty and one bin holding most rows.

ECE is biased upward by noise: even the true probabilities score, in expectation, about
``sqrt(2/π) · sqrt(B · p̄(1 − p̄) / n)`` with ``B`` bins and ``n`` rows (each bin rate has
standard error ``sqrt(p̄(1 − p̄) / (n / B))`` and ``E|N(0, σ²)| = σ·sqrt(2/π)``). At a
renewal rate near 0.82 that is ≈ 0.029 for ``n = 1,000`` and ≈ 0.015 for ``n = 3,700``:
it shrinks like ``1/sqrt(n)``. A threshold such as ECE ≤ 0.03 therefore only measures
calibration when ``n`` is a few thousand; :func:`ece_null_quantiles` gives the reference
distribution for the predictions at hand.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats as st

from dearstats.errors import InputError
from dearstats.features import renewal_snapshots
from dearstats.models._frame import INTERCEPT, indicator_name
from dearstats.models.logistic import RenewalLogit
from dearstats.retention import renewal_events
from dearstats.scorecard import ScoreCard
from dearstats.scorecard._card import _colour, _weighted_mean

__all__ = [
    "Calibration",
    "calibrate_scorecard",
    "colour_baseline",
    "ece_null_quantiles",
    "evaluate",
    "expected_calibration_error",
    "renewal_frame",
]

_COLOURS = ("red", "yellow", "green")
_EPS = 1e-15


# ---------------------------------------------------------------------------------------
# 1. the renewal frame


def renewal_frame(
    book: Any,
    *,
    days_before: int = 90,
    start: Any = None,
    end: Any = None,
    scorecard: ScoreCard | None = None,
    grace_days: int = 30,
    fiscal_years: Iterable[int] | None = None,
) -> pd.DataFrame:
    """One row per settled renewal event with features and scores as of a snapshot.

    Parameters
    ----------
    book
        A :class:`~dearstats.book.Book` (e.g. ``ds.simulate(...)``).
    days_before
        The snapshot is ``renewal_date − days_before``; features read only records dated
        before it (point in time).
    start, end
        Keep events with ``start ≤ renewal_date < end``.
    scorecard
        Card used for the ``*_score`` / ``*_colour`` columns (default
        :meth:`ScoreCard.default`).
    grace_days
        As in :func:`~dearstats.retention.renewal_events`; only final events
        (``renewal_date + grace_days`` before the end of the data) are kept.
    fiscal_years
        Optionally keep only these fiscal years.

    Returns
    -------
    pandas.DataFrame
        ``account_id, renewal_date, as_of, fiscal_year, renewed, outcome, arr_before,
        arr_after, segment, csm_id``, the features and the card's scores and colours;
        sorted by ``renewal_date, account_id``. ``.attrs`` holds ``days_before``,
        ``events`` (final events in range), ``events_without_snapshot``.
    """
    card = ScoreCard.default() if scorecard is None else scorecard
    events = renewal_events(
        book.frame("contracts"), book.frame("accounts"), grace_days=grace_days, start=start, end=end
    )
    events = events[events["is_final"]]
    if fiscal_years is not None:
        events = events[events["fiscal_year"].isin(list(fiscal_years))]
    snaps = renewal_snapshots(book, days_before=days_before, start=start, end=end)
    ev = events[
        ["account_id", "renewal_date", "fiscal_year", "outcome", "arr_before", "arr_after"]
    ].copy()
    ev["renewal_date"] = ev["renewal_date"].astype("datetime64[us]")
    snaps = snaps.copy()
    snaps["renewal_date"] = snaps["renewal_date"].astype("datetime64[us]")
    frame = ev.merge(snaps, on=["account_id", "renewal_date"], how="inner", validate="1:1")
    frame.insert(4, "renewed", (frame["outcome"] != "churn").astype("int64"))
    frame.insert(2, "as_of", frame.pop("as_of"))
    frame = frame.sort_values(["renewal_date", "account_id"], kind="stable", ignore_index=True)
    frame = card.score(frame)
    frame.attrs = {
        "days_before": days_before,
        "events": len(ev),
        "events_without_snapshot": len(ev) - len(frame),
    }
    return frame


# ---------------------------------------------------------------------------------------
# 3. evaluation


def expected_calibration_error(y: Any, p: Any, n_bins: int = 10) -> float:
    """ECE over ``n_bins`` equal-count bins of the sorted predictions (module docstring)."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    if len(y) == 0:
        return float("nan")
    order = np.argsort(p, kind="stable")
    total = 0.0
    for idx in np.array_split(order, min(n_bins, len(y))):
        if len(idx):
            total += len(idx) * abs(y[idx].mean() - p[idx].mean())
    return total / len(y)


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = int(y.sum()), int(len(y) - y.sum())
    if pos == 0 or neg == 0:
        return float("nan")
    r = st.rankdata(s)
    return float((r[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def colour_baseline(card: ScoreCard, reference: pd.DataFrame) -> dict[str, float]:
    """The practitioners' probability: renewal rate per overall colour of ``card`` on
    ``reference`` (colours absent there get the overall rate)."""
    scored = _rescore(card, reference)
    y = scored["renewed"].astype(float)
    rates = y.groupby(scored["overall_colour"].astype("str"), observed=True).mean()
    overall = float(y.mean())
    return {c: float(rates.get(c, overall)) for c in _COLOURS}


def evaluate(
    card_or_model: Any,
    frame: pd.DataFrame,
    *,
    reference: pd.DataFrame | None = None,
    n_bins: int = 10,
) -> dict[str, Any]:
    """Discrimination and calibration of a card or model on ``frame`` (a
    :func:`renewal_frame`).

    ``card_or_model``
        - :class:`Calibration`: probabilities from its fitted logit, colours from its card;
        - :class:`~dearstats.models.RenewalLogit`: its probabilities; colours from the
          frame's ``overall_colour`` if present;
        - :class:`ScoreCard`: AUC from the overall score; probabilities are the renewal
          rate per overall colour in ``reference`` (default: ``frame`` itself, in sample)
          — the practitioners' baseline.

    Returns a JSON-ready dict: ``n, n_renewed, renewal_rate, auc, brier, log_loss, ece,
    ece_bins, mean_p, renewal_rate_by_colour, n_by_colour`` (colours with no rows are
    left out of the last two).
    """
    frame = frame.copy()
    if isinstance(card_or_model, Calibration):
        scored = _rescore(card_or_model.scorecard, frame)
        p = card_or_model.predict_proba(frame).to_numpy(dtype=float)
        ranking = p
    elif isinstance(card_or_model, RenewalLogit):
        scored = frame
        p = card_or_model.predict_proba(frame).to_numpy(dtype=float)
        ranking = p
    elif isinstance(card_or_model, ScoreCard):
        scored = _rescore(card_or_model, frame)
        rates = colour_baseline(card_or_model, frame if reference is None else reference)
        p = scored["overall_colour"].astype("str").map(rates).to_numpy(dtype=float)
        ranking = scored["overall_score"].to_numpy(dtype=float)
    else:
        raise InputError(
            f"evaluate takes a Calibration, RenewalLogit or ScoreCard; found "
            f"{type(card_or_model).__name__}."
        )
    y = scored["renewed"].to_numpy(dtype=float)
    ok = np.isfinite(p) & np.isfinite(ranking) & np.isfinite(y)
    y, p, ranking = y[ok], p[ok], ranking[ok]
    pc = np.clip(p, _EPS, 1 - _EPS)
    out: dict[str, Any] = {
        "n": len(y),
        "n_renewed": int(y.sum()),
        "renewal_rate": float(y.mean()),
        "mean_p": float(p.mean()),
        "auc": _auc(y, ranking),
        "brier": float(np.mean((p - y) ** 2)),
        "log_loss": float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc))),
        "ece": expected_calibration_error(y, p, n_bins),
        "ece_bins": int(n_bins),
    }
    if "overall_colour" in scored:
        colour = scored["overall_colour"].astype("str").to_numpy()[ok]
        out["renewal_rate_by_colour"] = {
            c: round(float(y[colour == c].mean()), 6) for c in _COLOURS if (colour == c).any()
        }
        out["n_by_colour"] = {c: int((colour == c).sum()) for c in _COLOURS if (colour == c).any()}
    return {k: (round(float(v), 6) if isinstance(v, float) else v) for k, v in out.items()}


def ece_null_quantiles(
    p: Any,
    *,
    n_bins: int = 10,
    n_sim: int = 2000,
    q: Sequence[float] = (0.5, 0.9, 0.95),
    random_seed: int = 0,
) -> dict[str, float]:
    """Quantiles of the ECE a *perfectly calibrated* model with predictions ``p`` would
    show: outcomes drawn as ``Bernoulli(p)`` ``n_sim`` times. ECE is a biased, noisy
    statistic — with ~1,000 rows and 10 bins even the true probabilities score ≈ 0.03 —
    so an observed ECE should be read against these quantiles."""
    p = np.asarray(p, dtype=float)
    rng = np.random.default_rng(random_seed)
    sims = np.array(
        [expected_calibration_error(rng.random(len(p)) < p, p, n_bins) for _ in range(n_sim)]
    )
    return {f"q{round(100 * x)}": float(np.quantile(sims, x)) for x in q} | {
        "mean": float(sims.mean())
    }


# ---------------------------------------------------------------------------------------
# 2. calibration


@dataclass(frozen=True, repr=False)
class Calibration:
    """Result of :func:`calibrate_scorecard`.

    Attributes
    ----------
    scorecard : the new card (weights, overall thresholds, provenance with data period,
        n_accounts, evaluation).
    model : the fitted :class:`RenewalLogit` on the dimension scores.
    weights : DataFrame ``dimension, coef, coef_ci_low, coef_ci_high, weight, ci_low,
        ci_high`` (weights sum to 1).
    thresholds : DataFrame ``boundary (yellow, green), target_p, score, ci_low, ci_high``.
    evaluation : dict ``{"train": {...}, "test": {...}}`` (test only with ``test_years``).
    train_period : ``(start, end)`` ISO dates, end exclusive.
    adjust_for : the columns adjusted for (fixed-effect indicators in :attr:`model`).
    """

    scorecard: ScoreCard
    model: RenewalLogit
    weights: pd.DataFrame
    thresholds: pd.DataFrame
    evaluation: Mapping[str, Any]
    train_period: tuple[str, str]
    n_boot: int
    random_seed: int
    fills: Mapping[str, float]
    missing_flags: tuple[str, ...]
    adjust_for: tuple[str, ...] = ()

    def predict_proba(self, frame: pd.DataFrame) -> pd.Series:
        """P(renew) from the fitted logit; ``frame`` is re-scored with :attr:`scorecard`
        (dimension scores do not depend on the dimension weights) and missing dimension
        scores are filled as in training (module docstring, "Missing dimensions")."""
        scored = _rescore(self.scorecard, frame)
        return self.model.predict_proba(_design(scored, self.fills, self.missing_flags))

    def __repr__(self) -> str:
        w = ", ".join(
            f"{r.dimension}={r.weight:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]"
            for r in self.weights.itertuples()
        )
        t = ", ".join(
            f"{r.boundary}@P={r.target_p:g}: {r.score:.1f} [{r.ci_low:.1f}, {r.ci_high:.1f}]"
            for r in self.thresholds.itertuples()
        )
        return f"<Calibration {self.train_period[0]}..{self.train_period[1]}: {w}; {t}>"


def _weights_from(beta: np.ndarray) -> np.ndarray:
    """Rows of slopes → rows of weights ∝ max(b, 0) (NaN where all ≤ 0)."""
    pos = np.maximum(beta, 0.0)
    tot = pos.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, pos / tot, np.nan)


def _thresholds_from(
    b0: np.ndarray, beta: np.ndarray, means: np.ndarray, targets: Sequence[float]
) -> np.ndarray:
    """Score where P(renew) crosses each target (module docstring), clipped to [0, 100]."""
    slope = np.maximum(beta, 0.0).sum(axis=-1)
    offset = b0 + (np.minimum(beta, 0.0) * means).sum(axis=-1)
    logits = np.log(np.asarray(targets) / (1 - np.asarray(targets)))
    with np.errstate(invalid="ignore", divide="ignore"):
        o = (logits[None, :] - offset[:, None]) / slope[:, None]
    o = np.where(slope[:, None] > 0, o, np.nan)
    return np.clip(o, 0.0, 100.0)


def calibrate_scorecard(
    data: Any,
    *,
    scorecard: ScoreCard | None = None,
    train_years: Iterable[int] | None = None,
    test_years: Iterable[int] | None = None,
    days_before: int = 90,
    targets: tuple[float, float] = (0.75, 0.90),
    n_boot: int = 2000,
    alpha: float = 0.05,
    random_seed: int = 0,
    cluster: str | None = "csm_id",
    adjust_for: str | Sequence[str] = ("segment",),
) -> Calibration:
    """Fit renewal on the card's dimension scores; derive weights and overall thresholds.

    Parameters
    ----------
    data
        A Book (then :func:`renewal_frame` with ``days_before`` and ``scorecard``) or a
        :func:`renewal_frame` (re-scored with ``scorecard``).
    scorecard
        Card whose dimension scores are the predictors (default :meth:`ScoreCard.default`).
        Only dimension weights and the overall thresholds change; measures and dimension
        thresholds are kept.
    train_years, test_years
        Fiscal years to fit on (default: all) and to evaluate out of sample (optional).
    targets
        ``(p_yellow, p_green)``: red below the score where P(renew) = ``p_yellow``, green
        from the score where it reaches ``p_green``.
    n_boot, alpha, random_seed
        Parametric bootstrap size, interval level ``1 − alpha`` and seed.
    cluster
        Column for cluster-robust covariance (``None`` for the model-based one).
    adjust_for
        Categorical columns entered as fixed-effect indicators beside the scores (default
        ``("segment",)``; ``()`` for none). They shift the predicted P(renew) by group and
        make the score slopes, hence the weights, *within*-group; the thresholds are set
        for the training mix of the groups. A level unseen in training is scored as that
        average group. See the module docstring ("Adjusting for segment").

    See the module docstring for the mapping from coefficients to weights and thresholds.
    """
    card = ScoreCard.default() if scorecard is None else scorecard
    p_yellow, p_green = (float(t) for t in targets)
    if not 0 < p_yellow < p_green < 1:
        raise InputError(f"targets must satisfy 0 < yellow < green < 1; found {targets!r}.")
    if isinstance(data, pd.DataFrame):
        frame = _rescore(card, data)
    else:
        frame = renewal_frame(data, days_before=days_before, scorecard=card)
    train = frame if train_years is None else frame[frame["fiscal_year"].isin(list(train_years))]
    if len(train) == 0:
        raise InputError(f"no renewal events in train_years={train_years!r}.")
    adjust = _adjust_columns(adjust_for, train)
    preds = [f"{d}_score" for d in card.dimension_names]
    fills = {c: float(train[c].mean()) for c in preds}
    flags = tuple(c for c in preds if train[c].isna().any())
    model = RenewalLogit(
        [*preds, *(f"{c}_missing" for c in flags)],
        outcome="renewed",
        groups=list(adjust),
        cluster=cluster,
        unseen="average",
    ).fit(_design(train, fills, flags))
    params = model.result_.params
    cov = np.asarray(model.result_.cov_params(), dtype=float)
    b = params.to_numpy(dtype=float)
    names = list(params.index)
    i0 = names.index(INTERCEPT)
    islope = [names.index(p) for p in preds]
    means = np.array([fills[c] for c in preds])
    # group indicators held at their training frequencies (the average group)
    iadj, fadj = _indicator_mix(model, names)

    rng = np.random.default_rng(random_seed)
    draws = rng.multivariate_normal(b, cov, size=n_boot, method="cholesky")
    w_hat = _weights_from(b[islope][None, :])[0]
    w_draw = _weights_from(draws[:, islope])
    base_hat = b[[i0]] + b[iadj] @ fadj
    base_draw = draws[:, i0] + draws[:, iadj] @ fadj
    t_hat = _thresholds_from(base_hat, b[islope][None, :], means, (p_yellow, p_green))[0]
    t_draw = _thresholds_from(base_draw, draws[:, islope], means, (p_yellow, p_green))
    lo, hi = 100 * alpha / 2, 100 * (1 - alpha / 2)
    beta_ci = np.nanpercentile(draws[:, islope], [lo, hi], axis=0)
    w_ci = np.nanpercentile(w_draw, [lo, hi], axis=0)
    t_ci = np.nanpercentile(t_draw, [lo, hi], axis=0)
    if not np.all(np.isfinite(w_hat)):
        raise InputError("every dimension coefficient is ≤ 0; no weights can be derived.")
    weights = pd.DataFrame(
        {
            "dimension": list(card.dimension_names),
            "coef": b[islope],
            "coef_ci_low": beta_ci[0],
            "coef_ci_high": beta_ci[1],
            "weight": w_hat,
            "ci_low": w_ci[0],
            "ci_high": w_ci[1],
        }
    )
    thresholds = pd.DataFrame(
        {
            "boundary": ["yellow", "green"],
            "target_p": [p_yellow, p_green],
            "score": t_hat,
            "ci_low": t_ci[0],
            "ci_high": t_ci[1],
        }
    )
    yellow, green = (round(float(v), 2) for v in t_hat)
    if not yellow < green:  # both clipped to the same edge
        yellow, green = (min(yellow, 99.99), 100.0) if green >= 100 else (0.0, max(green, 0.01))
    new = card.with_weights(
        dimensions={d: round(float(w), 6) for d, w in zip(card.dimension_names, w_hat, strict=True)}
    ).with_thresholds(overall=(yellow, green))

    start = pd.Timestamp(train["renewal_date"].min()).date()
    end = (pd.Timestamp(train["renewal_date"].max()) + pd.Timedelta(days=1)).date()
    period = (start.isoformat(), end.isoformat())
    partial = Calibration(
        new, model, weights, thresholds, {}, period, n_boot, random_seed, fills, flags, adjust
    )
    evaluation: dict[str, Any] = {"train": evaluate(partial, train)}
    if test_years is not None:
        test = frame[frame["fiscal_year"].isin(list(test_years))]
        evaluation["test"] = evaluate(partial, test)
        evaluation["test"]["fiscal_years"] = sorted(int(y) for y in set(test["fiscal_year"]))
    head = evaluation.get("test", evaluation["train"])
    prov_eval = {k: head[k] for k in ("auc", "brier", "ece", "renewal_rate_by_colour") if k in head}
    prov_eval["evaluated_on"] = "held-out test years" if "test" in evaluation else "training data"
    prov_eval["log_loss"] = head["log_loss"]
    prov_eval["n"] = head["n"]
    prov_eval["train"] = evaluation["train"]
    if "test" in evaluation:
        prov_eval["test"] = evaluation["test"]
    prov_eval["method"] = {
        "model": "logit renewed ~ dimension scores" + "".join(f" + {c}" for c in adjust),
        "adjust_for": list(adjust),
        "cov_type": model.cov_type_,
        "days_before": int(frame.attrs.get("days_before", days_before)),
        "targets": {"yellow": p_yellow, "green": p_green},
        "n_boot": int(n_boot),
        "random_seed": int(random_seed),
        "weights": {
            r.dimension: [round(r.ci_low, 4), round(r.ci_high, 4)] for r in weights.itertuples()
        },
        "thresholds": {
            r.boundary: [round(r.ci_low, 2), round(r.ci_high, 2)] for r in thresholds.itertuples()
        },
    }
    adjusted = (
        f"adjusted for {', '.join(adjust)} (thresholds at the training mix); " if adjust else ""
    )
    new = new.with_provenance(
        data_period=period,
        n_accounts=int(train["account_id"].nunique()),
        evaluation=_finite(prov_eval),
        notes=(
            f"calibrated by dearstats.calibrate on {len(train)} renewal events, "
            f"snapshots {prov_eval['method']['days_before']} days before renewal; "
            f"{adjusted}weights ∝ max(coef, 0); thresholds where fitted P(renew) = "
            f"{p_yellow:g} / {p_green:g}; intervals: parametric bootstrap (95%)."
        ),
    )
    return dataclasses.replace(partial, scorecard=new, evaluation=evaluation)


def _adjust_columns(adjust_for: str | Sequence[str], train: pd.DataFrame) -> tuple[str, ...]:
    """The ``adjust_for`` columns as a tuple, checked against the training rows."""
    cols = (adjust_for,) if isinstance(adjust_for, str) else tuple(adjust_for)
    if missing := [c for c in cols if c not in train]:
        raise InputError(
            f"adjust_for={list(cols)!r}: column(s) {missing} not in the frame. A "
            "renewal_frame has 'segment'; for another frame pass adjust_for=() or name "
            "categorical columns it has."
        )
    if nulls := [c for c in cols if train[c].isna().any()]:
        raise InputError(
            f"adjust_for: column(s) {nulls} have missing values in the training rows; fill "
            "them with a label (e.g. 'unknown') first."
        )
    return cols


def _indicator_mix(model: RenewalLogit, names: Sequence[str]) -> tuple[list[int], np.ndarray]:
    """Positions of the group-indicator coefficients and their training frequencies."""
    spec = model.spec_
    idx: list[int] = []
    freq: list[float] = []
    for g, levels, freqs in zip(spec.groups, spec.group_levels, spec.group_freqs, strict=True):
        for level, f in zip(levels[1:], freqs[1:], strict=True):
            idx.append(names.index(indicator_name(g, level)))
            freq.append(f)
    return idx, np.asarray(freq, dtype=float)


def _rescore(card: ScoreCard, frame: pd.DataFrame) -> pd.DataFrame:
    """``card.score(frame)`` when the measure columns are there; otherwise the overall
    score and colour recomputed from the frame's ``<dimension>_score`` columns with the
    card's rule (weighted mean over the dimensions present, card thresholds)."""
    if all(m.name in frame for m in card.measures if not m.optional):
        return card.score(frame)
    cols = [f"{d}_score" for d in card.dimension_names]
    if missing := [c for c in cols if c not in frame]:
        raise InputError(
            f"frame has neither the card's measure columns nor its dimension scores "
            f"(missing {missing}); build it with dearstats.calibrate.renewal_frame."
        )
    out = frame.copy()
    overall = _weighted_mean(
        out[cols].to_numpy(dtype=float), np.array([d.weight for d in card.dimensions])
    )
    out["overall_score"] = overall
    out["overall_colour"] = _colour(overall, card.overall_thresholds)
    return out


def _design(frame: pd.DataFrame, fills: Mapping[str, float], flags: Sequence[str]) -> pd.DataFrame:
    """Missing dimension scores → training mean, plus a 0/1 ``<score>_missing`` column for
    each dimension that had missing scores in training."""
    out = frame.copy()
    for c in flags:
        out[f"{c}_missing"] = frame[c].isna().astype("float64")
    for c, v in fills.items():
        out[c] = frame[c].astype("float64").fillna(v)
    return out


def _finite(obj: Any) -> Any:
    """Drop non-finite floats (JSON provenance must be finite)."""
    if isinstance(obj, Mapping):
        return {k: _finite(v) for k, v in obj.items() if not _bad(v)}
    if isinstance(obj, list | tuple):
        return [None if _bad(v) else _finite(v) for v in obj]
    return obj


def _bad(v: Any) -> bool:
    return isinstance(v, float) and not math.isfinite(v)
