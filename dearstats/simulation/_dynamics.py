"""The monthly loop: latent health, CSM activities, contract renewals and cross-sells.

Month ``t`` (vectorised over accounts):

1. ``z[t] = segment mean + u + x[t] + onboarding deficit``; an intervention lifts ``x`` so
   that forced dimensions reach ``green_at``;
2. new add-on contracts scheduled in month ``t`` start if the account goes ahead:
   ``P = logistic(cross_sell_intercept + cross_sell_weights . z[t])``;
3. contracts ending in month ``t + 1`` are decided with ``z[t]`` (churn, then contraction /
   flat / expansion; see :class:`SimConfig`); the renewal starts at the old end date, or up
   to ``late_renewal_max_days`` later;
4. activity counts ``n[t] ~ Poisson(rate(r[t]))`` by inversion of fixed uniforms, plus an
   intervention's extra activities; ``r[t] = z[t] + csm_read_sd * noise[t]`` is the CSM's
   health read (high-touch accounts; automated emails to tech-touch accounts use ``z``);
5. ``x[t+1] = persistence * x[t] + (n[t] @ activity_effects) * skill + innovation[t+1]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dearstats.simulation._config import ACTIVITY_TYPES, DIMENSIONS, SEGMENTS, SimConfig
from dearstats.simulation._intervention import ResolvedIntervention
from dearstats.simulation._rng import Streams, logistic, poisson_inverse
from dearstats.simulation._world import Calendar, World, add_years

__all__ = ["CLASSES", "Dynamics", "run_dynamics"]

NEVER = np.int64(10**9)  # a day after every simulated date
CLASSES: tuple[str, ...] = ("churn", "contraction", "flat", "expansion")
RENEWAL_KEYS: tuple[str, ...] = (
    "account",
    "product",
    "k",
    "end",
    "decision_month",
    "forced",
    "p_churn",
    "p_contraction",
    "p_flat",
    "p_expansion",
    "cls",
    "arr_before",
    "arr_after",
    "late_days",
    "recorded",
)
CROSS_SELL_KEYS: tuple[str, ...] = ("account", "product", "month", "eligible", "p_buy", "bought")


@dataclass(frozen=True)
class Dynamics:
    """Everything the monthly loop produced (month-major arrays are ``(n_months, n, ...)``)."""

    z: np.ndarray  # (M, n, 4) latent health
    reads: np.ndarray  # (M, n, 4) the CSMs' health reads (z itself when csm_read_sd = 0)
    rates: np.ndarray  # (M, n, T) Poisson rate of each activity type
    counts: np.ndarray  # (M, n, T) activities that happened (including extra ones)
    active: np.ndarray  # (M, n) share of the month the account is a customer
    customer_until: np.ndarray  # (n,) day the Core chain ended by churn (NEVER if not)
    contracts: dict[str, np.ndarray]  # account, product, k, start, end, arr, seats
    renewals: dict[str, np.ndarray]  # one row per decided renewal event
    cross_sells: dict[str, np.ndarray]  # one row per scheduled add-on purchase


class _Contracts:
    """Append-only store of contracts and the current contract of each chain."""

    def __init__(self, n: int, n_products: int) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []
        shape = (n, n_products)
        self.live = np.zeros(shape, dtype=bool)
        self.k = np.zeros(shape, dtype=np.int64)
        self.start = np.zeros(shape, dtype=np.int64)
        self.end = np.zeros(shape, dtype=np.int64)
        self.arr = np.zeros(shape)
        self.seats = np.zeros(shape, dtype=np.int64)

    def add(
        self,
        acc: np.ndarray,
        p: int,
        k: np.ndarray,
        start: np.ndarray,
        end: np.ndarray,
        arr: np.ndarray,
        seats: np.ndarray,
    ) -> None:
        self.parts.append((acc, np.full(len(acc), p), k, start, end, arr, seats))
        self.live[acc, p] = True
        self.k[acc, p] = k
        self.start[acc, p] = start
        self.end[acc, p] = end
        self.arr[acc, p] = arr
        self.seats[acc, p] = seats

    def frame(self) -> dict[str, np.ndarray]:
        names = ("account", "product", "k", "start", "end", "arr", "seats")
        if not self.parts:
            return {name: np.zeros(0) for name in names}
        cols = [np.concatenate(c) for c in zip(*self.parts, strict=True)]
        order = np.lexsort((cols[2], cols[1], cols[0]))
        return {name: col[order] for name, col in zip(names, cols, strict=True)}


def _term(u: np.ndarray, term_cum: np.ndarray) -> np.ndarray:
    """1, 2 or 3 years from a uniform and the cumulative term mix of each row."""
    return 1 + (u[:, None] > term_cum[:, :2]).sum(axis=1)


def run_dynamics(
    world: World,
    cal: Calendar,
    cfg: SimConfig,
    streams: Streams,
    iv: ResolvedIntervention | None,
) -> Dynamics:
    """Run the monthly loop of the module docstring."""
    n, months = world.n, cal.n_months
    products = cfg.products
    n_prod, n_types = len(products), len(ACTIVITY_TYPES)
    seg_cfg = [cfg.segments[s] for s in SEGMENTS]
    seg = world.segment
    ms_all = cal.month_starts
    start_month = cal.month_of(world.first_start)

    mu = np.array([s.latent_mean for s in seg_cfg])[seg]
    deficit = np.asarray(cfg.onboarding_deficit)
    churn_int = np.array([s.churn_intercept for s in seg_cfg])[seg]
    churn_int = churn_int + np.where(
        world.csm >= 0, world.csm_renewal[np.maximum(world.csm, 0)], 0.0
    )
    churn_int = churn_int + world.churn_effect
    exp_shift = np.array([s.expansion_shift for s in seg_cfg])[seg] + world.expansion_effect
    term_cum = np.cumsum(np.array([s.term_mix for s in seg_cfg]), axis=1)[seg]
    beta = np.asarray(cfg.churn_weights)
    gamma = np.asarray(cfg.expansion_weights)
    c1, c2 = cfg.cutpoints

    # activity rate model: log rate = a[i, k] + read @ H[k] + near * r[k] + new * o[k], where
    # read = z + csm_read_sd * noise for CSM accounts (z for tech-touch accounts)
    tg = [cfg.targeting[k] for k in ACTIVITY_TYPES]
    seg_shift = np.array([s.activity_shift for s in seg_cfg])[seg]
    with np.errstate(divide="ignore"):
        log_base = np.log(np.array([t.base_rate for t in tg]))
    a_ht = seg_shift[:, None] + log_base[None, :]
    h_ht = np.array([t.health for t in tg])  # (T, 4)
    r_ht = np.array([t.near_renewal for t in tg])
    o_ht = np.array([t.new_account for t in tg])
    hc = ACTIVITY_TYPES.index("health_check")
    at = cfg.automated_targeting
    a_tt = np.full(n_types, -np.inf)
    a_tt[hc] = np.log(at.base_rate) if at.base_rate > 0 else -np.inf
    h_tt = np.zeros((n_types, len(DIMENSIONS)))
    h_tt[hc] = at.health
    r_tt = np.zeros(n_types)
    r_tt[hc] = at.near_renewal
    o_tt = np.zeros(n_types)
    o_tt[hc] = at.new_account
    ht = world.high_touch
    a_rate = np.where(ht[:, None], a_ht, a_tt[None, :])
    effects = np.array([cfg.activity_effects[k] for k in ACTIVITY_TYPES])  # (T, 4)

    # fixed-shape random numbers (common random numbers under interventions)
    u_act = streams.world("activity_counts").random((months, n, n_types))
    read_sd = float(cfg.csm_read_sd)
    read_noise = (
        streams.world("csm_reads").standard_normal((months, n, len(DIMENSIONS))) * read_sd
        if read_sd > 0
        else None
    )
    kmax = cal.years + 3
    rr = streams.world("renewals")
    u_ren = rr.random((n, n_prod, kmax, 5))
    z_mag = rr.standard_normal((n, n_prod, kmax))

    store = _Contracts(n, n_prod)
    everyone = np.arange(n)
    first_end = add_years(world.first_start, world.first_term)
    store.add(
        everyone,
        0,
        np.zeros(n, dtype=np.int64),
        world.first_start,
        first_end,
        np.round(world.core_seats * world.price, 2),
        world.core_seats,
    )
    for a in range(n_prod - 1):
        acc = np.flatnonzero(world.addon_take[:, a] & world.addon_at_start[:, a])
        seats = np.maximum(1, np.round(world.core_seats[acc] * world.addon_seat_share[acc, a]))
        seats = seats.astype(np.int64)
        arr = np.round(seats * world.price[acc] * cfg.addon_price_ratio[a], 2)
        store.add(
            acc,
            a + 1,
            np.zeros(len(acc), dtype=np.int64),
            world.first_start[acc],
            first_end[acc],
            arr,
            seats,
        )

    customer_until = np.full(n, NEVER)
    x = world.x0.copy()
    z_all = np.empty((months, n, len(DIMENSIONS)))
    reads = z_all if read_noise is None else np.empty((months, n, len(DIMENSIONS)))
    rates = np.zeros((months, n, n_types))
    counts = np.zeros((months, n, n_types), dtype=np.int64)
    active = np.zeros((months, n))
    ren_parts: list[dict[str, np.ndarray]] = []
    xs_parts: list[dict[str, np.ndarray]] = []
    near_days = cfg.near_renewal_months * 30.4375

    for t in range(months):
        ms, me = int(ms_all[t]), int(ms_all[t + 1])
        age = t - start_month
        onboarding = np.where(age >= 0, cfg.onboarding_decay ** np.maximum(age, 0), 1.0)
        z = mu + world.u + x + onboarding[:, None] * deficit[None, :]
        if iv is not None and iv.start <= t < iv.stop:
            lift = np.where(iv.force, np.maximum(cfg.green_at - z, 0.0), 0.0)
            x += lift
            z += lift
        z_all[t] = z

        # -- cross-sells scheduled this month ----------------------------------------
        for a in range(n_prod - 1):
            acc = np.flatnonzero(
                world.addon_take[:, a]
                & ~world.addon_at_start[:, a]
                & (world.addon_month[:, a] == t)
            )
            if not len(acc):
                continue
            day = ms + world.addon_day[acc, a]
            eligible = (world.first_start[acc] <= day) & (customer_until[acc] > day)
            p_buy = logistic(cfg.cross_sell_intercept + z[acc] @ np.asarray(cfg.cross_sell_weights))
            buy = eligible & (world.cross_sell_u[acc, a] < p_buy)
            xs_parts.append(
                {
                    "account": acc,
                    "product": np.full(len(acc), a + 1),
                    "month": np.full(len(acc), t),
                    "eligible": eligible,
                    "p_buy": np.where(eligible, p_buy, 0.0),
                    "bought": buy,
                }
            )
            acc = acc[buy]
            if len(acc):
                seats = np.maximum(
                    1, np.round(store.seats[acc, 0] * world.addon_seat_share[acc, a])
                )
                seats = seats.astype(np.int64)
                arr = np.round(seats * world.price[acc] * cfg.addon_price_ratio[a], 2)
                start = ms + world.addon_day[acc, a]
                store.add(
                    acc,
                    a + 1,
                    np.zeros(len(acc), dtype=np.int64),
                    start,
                    add_years(start, world.addon_term[acc, a]),
                    arr,
                    seats,
                )

        # -- renewals ending next month, decided with this month's latent -------------
        end_month = cal.month_of(store.end)
        for p in range(n_prod):
            due = store.live[:, p] & (end_month[:, p] <= t + 1) & (store.end[:, p] < cal.end)
            acc = np.flatnonzero(due)
            if not len(acc):
                continue
            k = store.k[acc, p]
            u = u_ren[acc, p, k]
            zz = z[acc]
            end = store.end[acc, p]
            forced = (customer_until[acc] <= end) if p > 0 else np.zeros(len(acc), dtype=bool)
            lin = churn_int[acc] + zz @ beta + (cfg.addon_churn_offset if p > 0 else 0.0)
            p_churn = np.where(forced, 1.0, logistic(lin))
            eta = zz @ gamma + exp_shift[acc]
            q1, q2 = logistic(c1 - eta), logistic(c2 - eta)
            churn = u[:, 0] < p_churn
            cls = np.where(churn, 0, np.where(u[:, 1] < q1, 1, np.where(u[:, 1] < q2, 2, 3)))
            shrink = np.minimum(
                cfg.contraction_max,
                cfg.contraction_median * np.exp(cfg.contraction_sigma * z_mag[acc, p, k]),
            )
            grow = np.minimum(
                cfg.expansion_max,
                cfg.expansion_median * np.exp(cfg.expansion_sigma * z_mag[acc, p, k]),
            )
            factor = np.select([cls == 1, cls == 3], [1.0 - shrink, 1.0 + grow], 1.0)
            late = np.where(
                u[:, 2] < cfg.late_renewal_prob,
                1 + np.floor(u[:, 3] * cfg.late_renewal_max_days),
                0,
            ).astype(np.int64)
            new_start = end + late
            arr_old, seats_old = store.arr[acc, p], store.seats[acc, p]
            new_arr = np.where(cls == 2, arr_old, np.round(arr_old * factor, 2))
            new_seats = np.where(
                cls == 2, seats_old, np.maximum(1, np.round(seats_old * factor))
            ).astype(np.int64)
            ren_parts.append(
                {
                    "account": acc,
                    "product": np.full(len(acc), p),
                    "k": k,
                    "end": end,
                    "decision_month": np.full(len(acc), t),
                    "forced": forced,
                    "p_churn": p_churn,
                    "p_contraction": (1 - p_churn) * q1,
                    "p_flat": (1 - p_churn) * (q2 - q1),
                    "p_expansion": (1 - p_churn) * (1 - q2),
                    "cls": cls,
                    "arr_before": arr_old,
                    "arr_after": np.where(churn, 0.0, new_arr),
                    "late_days": np.where(churn, 0, late),
                    "recorded": ~churn & (new_start < cal.end),
                }
            )
            store.live[acc, p] = False
            if p == 0:
                customer_until[acc[churn]] = end[churn]
            keep = ~churn & (new_start < cal.end)
            if keep.any():
                sel = acc[keep]
                term = _term(u[keep, 4], term_cum[sel])
                store.add(
                    sel,
                    p,
                    k[keep] + 1,
                    new_start[keep],
                    add_years(new_start[keep], term),
                    new_arr[keep],
                    new_seats[keep],
                )

        # -- activities ----------------------------------------------------------------
        lo = np.maximum(ms, world.first_start)
        hi = np.minimum(me, customer_until)
        frac = np.clip(hi - lo, 0, None) / (me - ms)
        active[t] = frac
        to_renewal = store.end[:, 0] - ms
        near = store.live[:, 0] & (to_renewal > 0) & (to_renewal <= near_days)
        new = (age >= 0) & (age < cfg.new_account_months)
        h = np.where(ht[:, None, None], h_ht[None], h_tt[None])  # (n, T, 4)
        seen = z
        if read_noise is not None:
            seen = np.where(ht[:, None], z + read_noise[t], z)
            reads[t] = seen
        log_rate = (
            a_rate
            + np.einsum("nkd,nd->nk", h, seen)
            + near[:, None] * np.where(ht[:, None], r_ht, r_tt)
            + new[:, None] * np.where(ht[:, None], o_ht, o_tt)
        )
        rate = np.minimum(np.exp(log_rate), cfg.max_activity_rate) * frac[:, None]
        n_t = poisson_inverse(u_act[t], rate)
        if iv is not None and iv.start <= t < iv.stop:
            n_t = n_t + np.where(frac[:, None] > 0, iv.extra, 0)
        rates[t] = rate
        counts[t] = n_t
        if t + 1 < months:
            x = (
                cfg.persistence * x
                + (n_t @ effects) * world.skill[:, None]
                + world.innovations[t + 1]
            )

    def _cat(parts: list[dict[str, np.ndarray]], keys: tuple[str, ...]) -> dict[str, np.ndarray]:
        if not parts:
            return {key: np.zeros(0, dtype=np.int64) for key in keys}
        return {key: np.concatenate([p[key] for p in parts]) for key in keys}

    return Dynamics(
        z=z_all,
        reads=reads,
        rates=rates,
        counts=counts,
        active=active,
        customer_until=customer_until,
        contracts=store.frame(),
        renewals=_cat(ren_parts, RENEWAL_KEYS),
        cross_sells=_cat(xs_parts, CROSS_SELL_KEYS),
    )
