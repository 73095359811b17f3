"""The known truth of a simulated world, and the world itself (tables + truth)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass

import numpy as np
import pandas as pd

from dearstats.simulation._columns import coded, contract_ids, dates, numbered, strings
from dearstats.simulation._config import (
    ACTIVITY_TYPES,
    DIMENSIONS,
    SEGMENTS,
    SegmentConfig,
    SimConfig,
)
from dearstats.simulation._dynamics import CLASSES, Dynamics
from dearstats.simulation._intervention import Intervention
from dearstats.simulation._observe import outcomes, seat_shift
from dearstats.simulation._rng import Streams
from dearstats.simulation._usage import usage_shift
from dearstats.simulation._world import Calendar, World

__all__ = ["Truth", "build_truth"]


def config_rows(obj: object, prefix: str, doc: str = "") -> list[tuple[str, object, str]]:
    """Flatten a (nested) config into ``(name, value, meaning)`` rows, leaf by leaf."""
    if is_dataclass(obj) and not isinstance(obj, type):
        rows: list[tuple[str, object, str]] = []
        for f in fields(obj):
            sub = f.metadata.get("doc", "")
            rows += config_rows(getattr(obj, f.name), f"{prefix}.{f.name}", sub)
        return rows
    if isinstance(obj, Mapping):
        rows = []
        for key, value in obj.items():
            rows += config_rows(value, f"{prefix}[{key!r}]", f"{doc} ({key})" if doc else str(key))
        return rows
    return [(prefix, obj, doc)]


@dataclass(frozen=True)
class Truth:
    """Every parameter and latent quantity behind a simulated book.

    Latent health ``z`` is on the z scale of :class:`SimConfig`; its true colour is red below
    ``config.red_below``, green at or above ``config.green_at``, yellow in between.
    """

    config: SimConfig = field(
        metadata={"doc": "the settings the world was simulated with (see config.* rows)"}
    )
    n_accounts: int = field(metadata={"doc": "number of accounts (initial book + new logos)"})
    years: int = field(metadata={"doc": "number of simulated calendar years"})
    start_year: int = field(metadata={"doc": "first simulated calendar year"})
    random_seed: int = field(metadata={"doc": "seed of every random stream"})
    start_date: pd.Timestamp = field(
        metadata={"doc": "first simulated day (1 January of start_year)"}
    )
    end_date: pd.Timestamp = field(
        metadata={"doc": "end of the simulation, exclusive (1 January after the last year)"}
    )
    intervention: Intervention | None = field(metadata={"doc": "the what-if applied, or None"})
    colour_thresholds: dict[str, float] = field(
        metadata={
            "doc": "latent cut-offs of the true colour: red below red_below, green at or "
            "above green_at"
        }
    )
    segments: pd.DataFrame = field(
        metadata={
            "doc": "per segment: share, price and size medians, term mix, high-touch share, latent "
            "means, churn intercept, expansion shift, and grr_rank (1 = highest true GRR)"
        }
    )
    csms: pd.DataFrame = field(
        metadata={
            "doc": "per CSM: skill (multiplies activity effects) and renewal_effect "
            "(churn-logit shift)"
        }
    )
    accounts: pd.DataFrame = field(
        metadata={
            "doc": "per account: segment, csm_id, high_touch, effective skill, persistent "
            "latent effects u_<dimension>, churn_effect c[i], expansion_effect g[i], "
            "seat_shift s[i] (activation logit), usage_shift a[i] (daily-activity logit; "
            "per-user propensities are not stored), has_success_plan, "
            "initial (customer at the start)"
        }
    )
    activity_effects: pd.DataFrame = field(
        metadata={
            "doc": "causal effect of one activity (rows) on next month's latent per "
            "dimension (columns), before the CSM skill multiplier"
        }
    )
    targeting: pd.DataFrame = field(
        metadata={
            "doc": "activity rate model per population (high_touch / tech_touch) and type: "
            "base_rate, log-rate weights w_<dimension> (negative = aimed at low health), "
            "near_renewal, new_account"
        }
    )
    renewal_weights: pd.DataFrame = field(
        metadata={
            "doc": "renewal model terms: churn logit and ordered logit (contraction / flat / "
            "expansion) weights per dimension, cutpoints, add-on churn offset, magnitudes"
        }
    )
    latent: pd.DataFrame = field(
        metadata={
            "doc": "monthly panel of customer-months: latent per dimension, active_share of "
            "the month, true activity rates rate_<type> and counts n_<type> (confounded by "
            "design)"
        }
    )
    csm_reads: pd.DataFrame = field(
        metadata={
            "doc": "monthly panel of the customer-months of CSM (high-touch) accounts: the "
            "CSM's health read read_<dimension> = latent + N(0, config.csm_read_sd^2) that "
            "sets the month's activity rates (what a CSM's recorded risk assessment would "
            "hold; csm_read_confounders(book) gives it as extra_confounders)"
        }
    )
    renewals: pd.DataFrame = field(
        metadata={
            "doc": "every decided renewal event: the ending contract, true class "
            "probabilities, the latent at decision, the realised outcome and ARR before/after"
        }
    )
    cross_sells: pd.DataFrame = field(
        metadata={
            "doc": "every scheduled add-on purchase: eligibility, true probability and "
            "whether bought"
        }
    )
    outcomes: pd.DataFrame = field(
        metadata={
            "doc": "every success-plan outcome: true verification probability and mean roi latent"
        }
    )

    def describe(self) -> pd.DataFrame:
        """Every truth field and every config parameter: ``name, kind, value, meaning``."""
        rows = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "config":
                continue
            if isinstance(value, pd.DataFrame):
                kind, shown = "table", f"{value.shape[0]} rows x {value.shape[1]} columns"
            elif isinstance(value, dict):
                kind, shown = "mapping", repr(value)
            else:
                kind, shown = type(value).__name__, repr(value)
            rows.append((f.name, kind, shown, f.metadata["doc"]))
        for name, value, doc in config_rows(self.config, "config"):
            rows.append((name, "parameter", repr(value), doc))
        return pd.DataFrame(rows, columns=["name", "kind", "value", "meaning"])

    def colour(self, z: np.ndarray | pd.Series | float) -> np.ndarray:
        """True colour (``red``/``yellow``/``green``) of latent values."""
        z = np.asarray(z, dtype=float)
        c = self.colour_thresholds
        return np.where(z < c["red_below"], "red", np.where(z >= c["green_at"], "green", "yellow"))

    def colours(self) -> pd.DataFrame:
        """The latent panel's true colour per dimension (account_id, month, dimensions)."""
        out = self.latent[["account_id", "month"]].copy()
        for d in DIMENSIONS:
            out[d] = pd.Series(self.colour(self.latent[d].to_numpy()), index=out.index, dtype="str")
        return out


def build_truth(
    w: World,
    cal: Calendar,
    cfg: SimConfig,
    streams: Streams,
    dyn: Dynamics,
    intervention: Intervention | None,
    random_seed: int,
) -> Truth:
    """Collect the truth of a simulated world into a :class:`Truth`."""
    seg_rows = {}
    for name in SEGMENTS:
        sc = cfg.segments[name]
        seg_rows[name] = {f.name: getattr(sc, f.name) for f in fields(SegmentConfig)}
        seg_rows[name]["grr_rank"] = cfg.segment_grr_order.index(name) + 1
    segments = pd.DataFrame.from_dict(seg_rows, orient="index")
    segments.index.name = "segment"
    csm_n = np.bincount(w.csm[w.csm >= 0], minlength=len(w.csm_ids))
    csms = pd.DataFrame(
        {
            "csm_id": strings(w.csm_ids),
            "skill": w.csm_skill,
            "renewal_effect": w.csm_renewal,
            "n_accounts": csm_n,
        }
    )
    accounts = pd.DataFrame(
        {
            "account_id": strings(w.account_ids),
            "segment": coded(w.segment, SEGMENTS),
            "csm_id": coded(w.csm, list(w.csm_ids)),
            "high_touch": w.high_touch,
            "skill": w.skill,
            **{f"u_{d}": w.u[:, j] for j, d in enumerate(DIMENSIONS)},
            "churn_effect": w.churn_effect,
            "expansion_effect": w.expansion_effect,
            "seat_shift": seat_shift(w, cfg, streams),
            "usage_shift": usage_shift(w.n, cfg, streams),
            "has_success_plan": w.has_plan,
            "initial": np.arange(w.n) < w.n_initial,
            "first_contract_start": dates(w.first_start),
        }
    )
    effects = pd.DataFrame(
        [cfg.activity_effects[k] for k in ACTIVITY_TYPES],
        index=pd.Index(ACTIVITY_TYPES, name="activity_type"),
        columns=list(DIMENSIONS),
    )
    trows = []
    for k in ACTIVITY_TYPES:
        tg = cfg.targeting[k]
        trows.append(("high_touch", k, tg.base_rate, *tg.health, tg.near_renewal, tg.new_account))
    at = cfg.automated_targeting
    trows.append(
        ("tech_touch", "health_check", at.base_rate, *at.health, at.near_renewal, at.new_account)
    )
    targeting = pd.DataFrame(
        trows,
        columns=[
            "population",
            "activity_type",
            "base_rate",
            *[f"w_{d}" for d in DIMENSIONS],
            "near_renewal",
            "new_account",
        ],
    )
    rw = [("churn", f"w_{d}", v) for d, v in zip(DIMENSIONS, cfg.churn_weights, strict=True)]
    rw += [("churn", f"intercept_{sg}", cfg.segments[sg].churn_intercept) for sg in SEGMENTS]
    rw += [
        ("churn", "addon_offset", cfg.addon_churn_offset),
        ("churn", "account_sd", cfg.account_churn_sd),
        ("churn", "csm_sd", cfg.csm_renewal_sd),
    ]
    rw += [("ordered", f"w_{d}", v) for d, v in zip(DIMENSIONS, cfg.expansion_weights, strict=True)]
    rw += [("ordered", f"shift_{sg}", cfg.segments[sg].expansion_shift) for sg in SEGMENTS]
    rw += [
        ("ordered", "cut_contraction_flat", cfg.cutpoints[0]),
        ("ordered", "cut_flat_expansion", cfg.cutpoints[1]),
        ("ordered", "account_sd", cfg.account_expansion_sd),
        ("magnitude", "contraction_median", cfg.contraction_median),
        ("magnitude", "contraction_sigma", cfg.contraction_sigma),
        ("magnitude", "contraction_max", cfg.contraction_max),
        ("magnitude", "expansion_median", cfg.expansion_median),
        ("magnitude", "expansion_sigma", cfg.expansion_sigma),
        ("magnitude", "expansion_max", cfg.expansion_max),
    ]
    renewal_weights = pd.DataFrame(rw, columns=["model", "term", "value"])

    # latent panel: customer-months
    tt, ii = np.nonzero(dyn.active > 0)
    o = np.lexsort((tt, ii))
    tt, ii = tt[o], ii[o]
    latent = pd.DataFrame(
        {
            "account_id": strings(w.account_ids[ii]),
            "month": dates(cal.month_starts[tt]),
            **{d: dyn.z[tt, ii, j] for j, d in enumerate(DIMENSIONS)},
            "active_share": dyn.active[tt, ii],
            **{f"rate_{k}": dyn.rates[tt, ii, j] for j, k in enumerate(ACTIVITY_TYPES)},
            **{f"n_{k}": dyn.counts[tt, ii, j] for j, k in enumerate(ACTIVITY_TYPES)},
        }
    )

    ht = w.high_touch[ii]
    csm_reads = pd.DataFrame(
        {
            "account_id": strings(w.account_ids[ii[ht]]),
            "month": dates(cal.month_starts[tt[ht]]),
            **{f"read_{d}": dyn.reads[tt[ht], ii[ht], j] for j, d in enumerate(DIMENSIONS)},
        }
    )

    r = dyn.renewals
    o = np.lexsort((r["k"], r["product"], r["account"]))
    r = {key: v[o] for key, v in r.items()}
    zd = dyn.z[r["decision_month"], r["account"]]
    new_ids = contract_ids(w.width, r["account"], r["product"], r["k"] + 1)
    new_ids[~r["recorded"].astype(bool)] = None  # renewed, but starting after the end
    renewals = pd.DataFrame(
        {
            "contract_id": strings(contract_ids(w.width, r["account"], r["product"], r["k"])),
            "account_id": strings(w.account_ids[r["account"]]),
            "segment": coded(w.segment[r["account"]], SEGMENTS),
            "product": coded(r["product"], cfg.products),
            "renewal_date": dates(r["end"]),
            "decision_month": dates(cal.month_starts[r["decision_month"]]),
            **{f"z_{d}": zd[:, j] for j, d in enumerate(DIMENSIONS)},
            "p_churn": r["p_churn"],
            "p_contraction": r["p_contraction"],
            "p_flat": r["p_flat"],
            "p_expansion": r["p_expansion"],
            "outcome": coded(r["cls"], CLASSES),
            "forced": r["forced"].astype(bool),
            "arr_before": r["arr_before"],
            "arr_after": r["arr_after"],
            "late_days": r["late_days"].astype(np.int64),
            "new_contract_id": strings(new_ids),
        }
    )
    xs = dyn.cross_sells
    cross_sells = pd.DataFrame(
        {
            "account_id": strings(w.account_ids[xs["account"]]),
            "product": coded(xs["product"], cfg.products),
            "month": dates(cal.month_starts[xs["month"]]),
            "eligible": xs["eligible"].astype(bool),
            "p_buy": xs["p_buy"].astype(float),
            "bought": xs["bought"].astype(bool),
        }
    )
    out = outcomes(w, cal, cfg, streams, dyn)
    outcome_truth = pd.DataFrame(
        {
            "outcome_id": strings(numbered("O", (out["account"] + 1, w.width), (out["month"], 3))),
            "account_id": strings(w.account_ids[out["account"]]),
            "mean_roi": out["mean_roi"],
            "p_verify": out["p_verify"],
            "status": strings(out["status"]),
        }
    )
    return Truth(
        config=cfg,
        n_accounts=w.n,
        years=cal.years,
        start_year=cal.start_year,
        random_seed=random_seed,
        start_date=pd.Timestamp(cal.month_starts[0].astype("datetime64[D]")),
        end_date=pd.Timestamp(cal.month_starts[-1].astype("datetime64[D]")),
        intervention=intervention,
        colour_thresholds={"red_below": cfg.red_below, "green_at": cfg.green_at},
        segments=segments,
        csms=csms,
        accounts=accounts,
        activity_effects=effects,
        targeting=targeting,
        renewal_weights=renewal_weights,
        latent=latent,
        csm_reads=csm_reads,
        renewals=renewals,
        cross_sells=cross_sells,
        outcomes=outcome_truth,
    )
