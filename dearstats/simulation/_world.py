"""The static world: calendar, CSMs, accounts, their first contracts and contacts.

All draws here have shapes fixed by ``n_accounts``, ``years`` and the config (see
:mod:`._rng`), so they are identical with and without an intervention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from dearstats.simulation._config import DIMENSIONS, SEGMENTS, SimConfig
from dearstats.simulation._rng import Streams

__all__ = ["Calendar", "World", "build_world", "equicorrelation_cholesky"]

ROLES: tuple[str, ...] = ("admin", "champion", "decision_maker", "end_user", "executive_sponsor")
KEY_ROLES: frozenset[str] = frozenset({"champion", "decision_maker", "executive_sponsor"})


@dataclass(frozen=True)
class Calendar:
    """Months of the simulation; dates are int64 days since 1970-01-01."""

    start_year: int
    years: int

    @property
    def n_months(self) -> int:
        return 12 * self.years

    @cached_property
    def month_starts(self) -> np.ndarray:
        """First day of months ``0 .. n_months`` (the last one is the end, exclusive)."""
        first = np.datetime64(f"{self.start_year:04d}-01", "M")
        months = first + np.arange(self.n_months + 1)
        return months.astype("datetime64[D]").astype(np.int64)

    @cached_property
    def start(self) -> int:
        return int(self.month_starts[0])

    @cached_property
    def end(self) -> int:
        return int(self.month_starts[-1])

    def month_of(self, days: np.ndarray) -> np.ndarray:
        """Month index of each day (negative before the start)."""
        first = np.datetime64(f"{self.start_year:04d}-01", "M").astype(np.int64)
        months = np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]")
        return months.astype(np.int64) - first


def add_years(days: np.ndarray, years: np.ndarray) -> np.ndarray:
    """Same calendar day ``years`` later (29 February maps to 1 March)."""
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    into_month = d - month.astype("datetime64[D]")
    moved = (month + 12 * np.asarray(years, dtype=np.int64)).astype("datetime64[D]")
    return (moved + into_month).astype(np.int64)


def add_months(days: np.ndarray, months: np.ndarray) -> np.ndarray:
    """First day of the month ``months`` after the month of ``days``."""
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]")
    return (d + np.asarray(months, dtype=np.int64)).astype("datetime64[D]").astype(np.int64)


def equicorrelation_cholesky(rho: float, k: int = len(DIMENSIONS)) -> np.ndarray:
    """Lower Cholesky factor of the k x k matrix with 1 on the diagonal and ``rho`` off it."""
    r = np.full((k, k), rho) + (1.0 - rho) * np.eye(k)
    return np.linalg.cholesky(r)


@dataclass(frozen=True)
class World:
    """Static per-account arrays (index ``i`` = account number, 0-based)."""

    n: int
    n_initial: int  # accounts 0 .. n_initial - 1 are customers at the start
    width: int  # digits of account numbers in ids
    account_ids: np.ndarray  # object array of "A00001", ...
    segment: np.ndarray  # int index into SEGMENTS
    region: np.ndarray  # int index into config.regions
    industry: np.ndarray  # int index into config.industries
    high_touch: np.ndarray  # bool
    csm: np.ndarray  # int CSM index, -1 for tech-touch
    csm_ids: np.ndarray  # object array of "CSM001", ...
    csm_skill: np.ndarray  # per CSM
    csm_renewal: np.ndarray  # per CSM, churn-logit effect
    skill: np.ndarray  # per account: its CSM's skill, or automated_skill
    created: np.ndarray  # day
    first_start: np.ndarray  # day of the first Core contract
    first_term: np.ndarray  # years
    core_seats: np.ndarray  # int seats of the first Core contract
    price: np.ndarray  # Core ARR per seat of the account
    addon_take: np.ndarray  # (n, A) bool
    addon_at_start: np.ndarray  # (n, A) bool
    addon_month: np.ndarray  # (n, A) month index of a scheduled cross-sell
    addon_seat_share: np.ndarray  # (n, A)
    addon_term: np.ndarray  # (n, A) years of a cross-sold add-on's first contract
    addon_day: np.ndarray  # (n, A) day of the scheduled month a cross-sell starts on
    cross_sell_u: np.ndarray  # (n, A) uniform of the go-ahead decision
    u: np.ndarray  # (n, 4) persistent account latent effects
    x0: np.ndarray  # (n, 4) transient latent at month 0 (stationary draw)
    innovations: np.ndarray  # (n_months, n, 4) monthly innovations of the transient latent
    churn_effect: np.ndarray  # (n,) churn-logit random effect c[i]
    expansion_effect: np.ndarray  # (n,) ordered-logit random effect g[i]
    has_plan: np.ndarray  # bool: runs a success plan
    contact_role: np.ndarray  # (n, max_contacts) int role index, -1 = no contact


def build_world(n: int, cal: Calendar, cfg: SimConfig, streams: Streams) -> World:
    """Draw the static world; see the module docstring."""
    seg_cfg = [cfg.segments[s] for s in SEGMENTS]
    width = max(5, len(str(n)))
    rng = streams.world("accounts")
    ua = rng.random((n, 10))
    za = rng.standard_normal((n, 4))

    shares = np.cumsum([s.share for s in seg_cfg])
    segment = np.minimum(np.searchsorted(shares, ua[:, 0], side="right"), len(SEGMENTS) - 1)
    region = np.minimum(
        np.searchsorted(np.cumsum(cfg.region_weights), ua[:, 1], side="right"),
        len(cfg.regions) - 1,
    )
    industry = np.floor(ua[:, 2] * len(cfg.industries)).astype(np.int64)
    high_touch = ua[:, 3] < np.array([s.high_touch_share for s in seg_cfg])[segment]

    n_csms = cfg.n_csms or max(1, math.ceil(int(high_touch.sum()) / cfg.accounts_per_csm))
    rc = streams.world("csms")
    zc = rc.standard_normal((n_csms, 2))
    csm_skill = np.exp(cfg.csm_skill_sd * zc[:, 0] - cfg.csm_skill_sd**2 / 2)
    csm_renewal = cfg.csm_renewal_sd * zc[:, 1]
    csm = np.where(high_touch, np.floor(ua[:, 4] * n_csms).astype(np.int64), -1)
    skill = np.where(high_touch, csm_skill[np.maximum(csm, 0)], cfg.automated_skill)

    # terms and first contracts: initial accounts first (active at the start), then new
    # logos in order of creation
    term_cum = np.cumsum(np.array([s.term_mix for s in seg_cfg]), axis=1)[segment]
    first_term = 1 + (ua[:, 5:6] > term_cum[:, :2]).sum(axis=1)
    n0 = min(n, max(1, round(n * cfg.initial_share)))
    lag = np.floor(ua[:, 6] * (cfg.first_contract_lag_days + 1)).astype(np.int64)
    first_start = np.empty(n, dtype=np.int64)
    back = np.floor(ua[:n0, 7] * (365 * first_term[:n0] - 1)).astype(np.int64)
    first_start[:n0] = cal.start - back
    span = cal.end - cal.start - 90 - cfg.first_contract_lag_days
    created_new = cal.start + np.sort(np.floor(ua[n0:, 7] * span).astype(np.int64))
    first_start[n0:] = created_new + lag[n0:]
    created = first_start - lag

    seats_med = np.array([s.seats_median for s in seg_cfg])[segment]
    seats_sig = np.array([s.seats_sigma for s in seg_cfg])[segment]
    core_seats = np.maximum(1, np.round(seats_med * np.exp(seats_sig * za[:, 0]))).astype(np.int64)
    price = np.array([s.arr_per_seat for s in seg_cfg])[segment] * np.exp(
        np.array([s.price_sigma for s in seg_cfg])[segment] * za[:, 1]
    )
    churn_effect = cfg.account_churn_sd * za[:, 2]
    expansion_effect = cfg.account_expansion_sd * za[:, 3]
    plan_share = np.array([s.success_plan_share for s in seg_cfg])[segment]
    plan_share = np.where(high_touch, plan_share, plan_share * cfg.tech_touch_plan_factor)
    has_plan = ua[:, 8] < plan_share

    n_add = len(cfg.addon_products)
    rx = streams.world("cross_sell")
    ux = rx.random((n, n_add, 7))
    take_p = np.array([s.addon_take for s in seg_cfg])[segment]
    addon_take = ux[:, :, 0] < take_p
    addon_at_start = ux[:, :, 1] < cfg.addon_at_start_prob
    start_month = cal.month_of(first_start)
    addon_month = (
        start_month[:, None]
        + 3
        + np.floor(ux[:, :, 2] * (cfg.cross_sell_window_months + 1)).astype(np.int64)
    )
    # an initial account whose scheduled purchase falls before the start already owns it
    addon_at_start = addon_at_start | (addon_month < 0)
    addon_term = 1 + (ux[:, :, 5:6] > term_cum[:, None, :2]).sum(axis=2)
    addon_day = np.floor(ux[:, :, 6] * 28).astype(np.int64)
    lo, hi = cfg.addon_seat_share
    addon_seat_share = lo + (hi - lo) * ux[:, :, 3]

    rl = streams.world("latent")
    chol = equicorrelation_cholesky(cfg.dimension_corr)
    k = len(DIMENSIONS)
    u = cfg.account_effect_sd * rl.standard_normal((n, k)) @ chol.T
    x0 = cfg.transient_sd * rl.standard_normal((n, k)) @ chol.T
    innovation_sd = cfg.transient_sd * math.sqrt(1.0 - cfg.persistence**2)
    innovations = innovation_sd * rl.standard_normal((cal.n_months, n, k)) @ chol.T

    rk = streams.world("contacts")
    max_c = max(s.n_contacts[1] for s in seg_cfg)
    uk = rk.random((n, max_c + 1))
    c_lo = np.array([s.n_contacts[0] for s in seg_cfg])[segment]
    c_hi = np.array([s.n_contacts[1] for s in seg_cfg])[segment]
    n_contacts = c_lo + np.floor(uk[:, 0] * (c_hi - c_lo + 1)).astype(np.int64)
    sponsor_p = np.array([s.sponsor_prob for s in seg_cfg])[segment]
    r = {name: ROLES.index(name) for name in ROLES}
    role = np.full((n, max_c), -1, dtype=np.int64)
    role[:, 0] = r["champion"]
    if max_c > 1:
        role[:, 1] = np.where(uk[:, 2] < sponsor_p, r["executive_sponsor"], r["admin"])
    if max_c > 2:
        role[:, 2] = np.where(uk[:, 3] < 0.8, r["decision_maker"], r["end_user"])
    if max_c > 3:
        rest = uk[:, 4:]
        role[:, 3:] = np.where(
            rest < 0.25, r["admin"], np.where(rest < 0.85, r["end_user"], r["champion"])
        )
    role[np.arange(max_c)[None, :] >= n_contacts[:, None]] = -1

    return World(
        n=n,
        n_initial=n0,
        width=width,
        account_ids=np.array([f"A{i + 1:0{width}d}" for i in range(n)], dtype=object),
        segment=segment,
        region=region,
        industry=industry,
        high_touch=high_touch,
        csm=csm,
        csm_ids=np.array([f"CSM{c + 1:03d}" for c in range(n_csms)], dtype=object),
        csm_skill=csm_skill,
        csm_renewal=csm_renewal,
        skill=skill,
        created=created,
        first_start=first_start,
        first_term=first_term,
        core_seats=core_seats,
        price=price,
        addon_take=addon_take,
        addon_at_start=addon_at_start,
        addon_month=addon_month,
        addon_seat_share=addon_seat_share,
        addon_term=addon_term,
        addon_day=addon_day,
        cross_sell_u=ux[:, :, 4],
        u=u,
        x0=x0,
        innovations=innovations,
        churn_effect=churn_effect,
        expansion_effect=expansion_effect,
        has_plan=has_plan,
        contact_role=role,
    )
