"""What-if campaigns on a forecast: turn red accounts green (issue 5, item 3).

``scenario(fc, turn_green={"adoption": 50})`` asks: *if 50 accounts that are red on
adoption were green on adoption from the planning date on, how would this year's GRR and
NRR change?* It reuses the forecast's fitted model and its random numbers:

1. **Candidates**: renewal accounts (ARR up for renewal this year) red on the dimension.
   Accounts with nothing up for renewal cannot churn this year; their forecast does not
   depend on health, so turning them green changes nothing and they are not candidates.
2. **Green** means the dimension score is raised to the card's green threshold (never
   lowered): the smallest change that makes the account green, as a campaign that "turns
   it green" would; the colour becomes green and the overall score and colour are
   recomputed with the card.
3. **Selection** (``select=``): ``"uplift"`` (default) ranks candidates by their expected
   ARR gain on ``t1`` (``E[min(ARR(t1), ARR(t0))]`` for GRR-relevant uplift, computed
   with the same draws for each candidate alone); ``"arr"`` by ARR up for renewal (the
   rule most teams use); ``"score"`` by lowest score first. The top N are treated.
4. **Effect**: the forecast's draws are recomputed for the treated accounts with the
   *same* random numbers (common random numbers: same seed, same posterior draws, same
   uniforms), so ``ΔGRR_s = GRR_s(treated) − GRR_s(base)`` isolates the campaign's effect
   from outcome noise; the intervals are those of ``ΔGRR_s``.

What this is not: a causal effect of *how* an account would be made green. It is the
model's prediction for accounts whose measured health is green, which is causal only to
the extent the renewal model is (the health scores cause renewal, not the reverse). The
acceptance test checks it against re-simulating the same world with the simulator's
intervention (:class:`dearstats.simulation.Intervention`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dearstats.errors import InputError
from dearstats.forecast import ALL, DIMENSIONS, LEVELS, Forecast, _quantiles, _totals

__all__ = ["Scenario", "scenario"]

_SELECT = ("uplift", "arr", "score")


@dataclass(eq=False, repr=False)
class Scenario:
    """Result of :func:`scenario`.

    Attributes
    ----------
    effects
        One row per group (``"All"`` and segments) and metric (``grr``, ``nrr``,
        ``arr_end``, ``arr_retained``): mean change, sd, median and the 50/80/95 %
        intervals (``lo80``/``hi80`` …), ``base`` and ``scenario`` means.
    targets
        The treated accounts, ranked: ``rank``, ``account_id``, ``dimension``, segment,
        ARR, the score before and after, ``p_renew`` before/after and the expected ARR
        gain on ``t1`` (``arr_saved`` = gain in gross retained ARR).
    candidates
        Every candidate account with its expected gain, ranked by the selection rule.
    """

    turn_green: dict[str, int]
    select: str
    effects: pd.DataFrame
    targets: pd.DataFrame
    candidates: pd.DataFrame
    delta_draws: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        """The effects table (a copy)."""
        return self.effects.copy()

    def delta(
        self, metric: str = "grr", level: float = 0.8, segment: str = ALL
    ) -> tuple[float, float, float]:
        """(mean, low, high) of the change in ``metric`` with a central ``level`` interval."""
        x = self.delta_draws.loc[self.delta_draws["segment"] == segment, metric].to_numpy()
        a = (1 - level) / 2
        return float(x.mean()), float(np.quantile(x, a)), float(np.quantile(x, 1 - a))

    def __repr__(self) -> str:
        e = self.effects[
            (self.effects["segment"] == ALL) & self.effects["metric"].isin(["grr", "nrr"])
        ]
        lines = [f"Scenario(turn_green={self.turn_green}, select={self.select!r}, "
                 f"treated={len(self.targets)})"]  # fmt: skip
        for _, r in e.iterrows():
            lines.append(
                f"  Δ{r['metric'].upper()} {100 * r['mean']:+.2f} pts "
                f"[80%: {100 * r['lo80']:+.2f}, {100 * r['hi80']:+.2f}]"
            )
        saved = self.effects.query("segment == @ALL and metric == 'arr_retained'")["mean"]
        if len(saved):
            lines.append(f"  gross ARR saved {float(saved.iloc[0]):,.0f}")
        return "\n".join(lines)


def _green_frame(
    target: pd.DataFrame, dim: str, rows: np.ndarray, card: Any
) -> tuple[pd.DataFrame, float]:
    """Copy of ``target`` with ``rows`` (positions) turned green on ``dim``."""
    from dearstats.calibrate import _rescore

    col = f"{dim}_score"
    level = card_green(card, dim)
    out = target.copy()
    idx = out.index[rows]
    out.loc[idx, col] = np.maximum(out.loc[idx, col].to_numpy(dtype=float), level)
    out.loc[idx, f"{dim}_colour"] = "green"
    return _rescore(
        card, out.drop(columns=["overall_score", "overall_colour"], errors="ignore")
    ), level


def card_green(card: Any, dim: str) -> float:
    """The green threshold of ``dim`` on ``card``."""
    for d in card.dimensions:
        if d.name == dim:
            return float(d.thresholds.green)
    raise InputError(f"scenario: the card has no dimension {dim!r}.")


def scenario(
    fc: Forecast,
    turn_green: Mapping[str, int],
    *,
    select: str = "uplift",
    random_seed: int | None = None,
) -> Scenario:
    """Turn N red accounts green per dimension and forecast the change in GRR and NRR.

    Parameters
    ----------
    fc
        A forecast of :func:`dearstats.forecast` (any model but ``last_year``).
    turn_green
        ``{dimension: N}``, e.g. ``{"adoption": 50}``; several dimensions are applied
        together (an account may be treated on more than one).
    select
        ``"uplift"`` (largest expected ARR gain first), ``"arr"`` (largest ARR up for
        renewal first) or ``"score"`` (lowest score first). See the module docstring.
    random_seed
        Seed of the redraw; default the forecast's, which gives common random numbers.
    """
    if fc.model == "last_year" or "method" not in fc._state:
        raise InputError(
            f"scenario: the forecast was made with model={fc.model!r}, which has no account "
            "model; forecast with 'hierarchical', 'logit' or 'colour_rate'."
        )
    if select not in _SELECT:
        raise InputError(f"scenario: select={select!r}; expected one of {list(_SELECT)}.")
    plan: dict[str, int] = {}
    for dim, n in dict(turn_green).items():
        if dim not in DIMENSIONS:
            raise InputError(
                f"scenario: turn_green has dimension {dim!r}; expected some of {list(DIMENSIONS)}."
            )
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise InputError(f"scenario: turn_green[{dim!r}] = {n!r}; expected an int ≥ 1.")
        plan[dim] = int(n)
    if not plan:
        raise InputError('scenario: turn_green is empty; pass e.g. {"adoption": 50}.')

    st = fc._state
    method, card = st["method"], st["card"]
    target: pd.DataFrame = st["target"]
    renew: np.ndarray = st["renew"]
    seed = fc.settings["random_seed"] if random_seed is None else random_seed
    n_draws = fc.settings["n_draws"]
    units = target[renew]
    base_next = method.draws(units, n_draws, seed)
    up = units["arr_up"].to_numpy(dtype=float)
    a0u = units["arr_start"].to_numpy(dtype=float)
    carry = units["arr_carry"].to_numpy(dtype=float)

    treated = units.copy()
    chosen: list[pd.DataFrame] = []
    cand_tables: list[pd.DataFrame] = []
    for dim, n in plan.items():
        red = np.flatnonzero(units[f"{dim}_colour"].astype("str").to_numpy() == "red")
        if len(red) == 0:
            raise InputError(
                f"scenario: no renewal account of FY{fc.fiscal_year} is red on {dim!r}; "
                "nothing to turn green."
            )
        all_green, _ = _green_frame(units, dim, red, card)
        # each candidate's own gain: the candidates are independent rows, so one redraw
        # with all of them green gives every candidate's gain against the base draws
        alt = method.draws(all_green, n_draws, seed)
        kept_base = np.minimum(carry[None, :] + base_next, a0u[None, :])
        kept_alt = np.minimum(carry[None, :] + alt, a0u[None, :])
        gain_gross = (kept_alt - kept_base).mean(axis=0)[red]
        gain_net = (alt - base_next).mean(axis=0)[red]
        cand = pd.DataFrame(
            {
                "account_id": units.index[red],
                "dimension": dim,
                "segment": units["segment"].to_numpy()[red],
                "arr_start": a0u[red],
                "arr_up": up[red],
                "score_before": units[f"{dim}_score"].to_numpy(dtype=float)[red],
                "score_after": all_green[f"{dim}_score"].to_numpy(dtype=float)[red],
                "p_renew_before": (base_next[:, red] > 0).mean(axis=0),
                "p_renew_after": (alt[:, red] > 0).mean(axis=0),
                "arr_saved": gain_gross,
                "arr_gain_net": gain_net,
            }
        )
        key = {"uplift": ("arr_saved", False), "arr": ("arr_up", False),
               "score": ("score_before", True)}[select]  # fmt: skip
        cand = cand.sort_values(key[0], ascending=key[1], kind="stable", ignore_index=True)
        cand.insert(0, "rank", np.arange(1, len(cand) + 1))
        cand_tables.append(cand)
        pick = cand.head(n)
        chosen.append(pick)
        rows = units.index.get_indexer(pick["account_id"])
        treated, _ = _green_frame(treated, dim, rows, card)

    new_next = method.draws(treated, n_draws, seed)
    a0 = target["arr_start"].to_numpy(dtype=float)
    base_a1 = np.array(st["a1"], copy=True)
    scen_a1 = base_a1.copy()
    scen_a1[:, renew] = target["arr_carry"].to_numpy(dtype=float)[renew][None, :] + new_next
    # the forecast's own draws are the base; the renewal columns are redrawn identically
    base_a1[:, renew] = carry[None, :] + base_next
    segs = target["segment"].to_numpy()
    base_t = _totals(a0, base_a1, segs)
    scen_t = _totals(a0, scen_a1, segs)
    base_t["arr_retained"] = base_t["grr"] * base_t["arr_start"]
    scen_t["arr_retained"] = scen_t["grr"] * scen_t["arr_start"]
    metrics = ["grr", "nrr", "arr_end", "arr_retained"]
    delta = base_t[["draw", "segment"]].copy()
    for m in metrics:
        delta[m] = scen_t[m].to_numpy() - base_t[m].to_numpy()
    rows_out = []
    for seg, g in delta.groupby("segment", sort=False):
        for m in metrics:
            q = _quantiles(g[m].to_numpy(dtype=float))
            rows_out.append({
                "segment": seg, "metric": m, **q,
                "base": float(base_t.loc[base_t["segment"] == seg, m].mean()),
                "scenario": float(scen_t.loc[scen_t["segment"] == seg, m].mean()),
            })  # fmt: skip
    targets = pd.concat(chosen, ignore_index=True)
    return Scenario(
        turn_green=plan,
        select=select,
        effects=pd.DataFrame(rows_out),
        targets=targets,
        candidates=pd.concat(cand_tables, ignore_index=True),
        delta_draws=delta,
        settings={"random_seed": seed, "n_draws": n_draws, "levels": list(LEVELS),
                  "fiscal_year": fc.fiscal_year, "model": fc.model},
    )  # fmt: skip
