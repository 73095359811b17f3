"""Observables drawn from the latent panel: seats, activity details, success-plan outcomes.

- Deployment: ``seats_active = round(seats * logistic(seat_intercept + addon_seat_shift *
  1[add-on] + s[i] + seat_slope * z_deployment + seat_noise_sd * e))`` on the first of each
  month the contract is active (``s[i] ~ N(0, seat_account_sd^2)``), so ``0 <= seats_active
  <= seats``.
- Engagement: a CSM activity takes 1-3 contacts; a participant is a key contact with
  ``P = logistic(key_touch_intercept + key_touch_slope * z_engagement + type shift)``. An
  automated email (csm_id null) reaches up to 3 contacts, each taking part with ``P =
  logistic(automated_response_intercept + key_touch_slope * z_engagement)`` (it may have
  no participant).
- ROI: a success-plan account creates an outcome in a month with ``outcome_rate``; it is
  verified with ``P = logistic(verify_intercept + verify_slope * mean roi latent over the
  months from creation to target)``, on ``created + U(verify_timing) * (target - created)``.
"""

from __future__ import annotations

import numpy as np

from dearstats.simulation._config import ACTIVITY_TYPES, DIMENSIONS, SimConfig
from dearstats.simulation._dynamics import Dynamics
from dearstats.simulation._rng import Streams, logistic
from dearstats.simulation._world import KEY_ROLES, ROLES, Calendar, World

__all__ = ["activation_ratio", "activities", "outcomes", "seat_shift", "seat_snapshots"]

_D = DIMENSIONS.index("deployment")
_E = DIMENSIONS.index("engagement")
_R = DIMENSIONS.index("roi")


def activation_ratio(
    world: World, cal: Calendar, cfg: SimConfig, streams: Streams, dyn: Dynamics
) -> np.ndarray:
    """``(n_months, n, n_products)`` share of seats activated (continuous, before rounding)."""
    n_prod = len(cfg.products)
    rng = streams.world("seats")
    account = cfg.seat_account_sd * rng.standard_normal(world.n)  # == seat_shift(...)
    noise = rng.standard_normal((cal.n_months, world.n, n_prod))
    shift = np.where(np.arange(n_prod) > 0, cfg.addon_seat_shift, 0.0)
    return logistic(
        cfg.seat_intercept
        + shift[None, None, :]
        + account[None, :, None]
        + cfg.seat_slope * dyn.z[:, :, _D : _D + 1]
        + cfg.seat_noise_sd * noise
    )


def seat_shift(world: World, cfg: SimConfig, streams: Streams) -> np.ndarray:
    """The persistent account logit shift ``s[i]`` of seat activation (for the truth)."""
    return cfg.seat_account_sd * streams.world("seats").standard_normal(world.n)


def seat_snapshots(cal: Calendar, dyn: Dynamics, ratio: np.ndarray) -> dict[str, np.ndarray]:
    """One row per contract and first-of-month date inside ``[start, end)``."""
    c = dyn.contracts
    first = np.searchsorted(cal.month_starts[:-1], c["start"], side="left")
    last = np.searchsorted(cal.month_starts[:-1], c["end"], side="left")  # exclusive
    n_rows = np.maximum(last - first, 0)
    row = np.repeat(np.arange(len(n_rows)), n_rows)
    offset = np.arange(len(row)) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
    month = first[row] + offset
    acc, prod = c["account"][row], c["product"][row]
    seats = c["seats"][row]
    active = np.round(seats * ratio[month, acc, prod]).astype(np.int64)
    order = np.lexsort((month, prod, acc))
    return {
        "account": acc[order],
        "product": prod[order],
        "day": cal.month_starts[month][order],
        "seats_active": active[order],
    }


def _contact_pools(world: World) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contact slots per account ordered key first; number of key and of all contacts."""
    key_idx = [ROLES.index(r) for r in sorted(KEY_ROLES)]
    role = world.contact_role
    is_key = np.isin(role, key_idx)
    exists = role >= 0
    # sort slots: key contacts first, then other contacts, then empty slots
    rank = np.where(is_key, 0, np.where(exists, 1, 2))
    order = np.argsort(rank, axis=1, kind="stable")
    return order, is_key.sum(axis=1), exists.sum(axis=1)


def activities(
    world: World, cal: Calendar, cfg: SimConfig, streams: Streams, dyn: Dynamics
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Expand activity counts into dated activities and their participants.

    The details of account ``i`` come from its own stream, read in time order (month, then
    activity type, then slot), 8 uniforms per activity.
    """
    counts = dyn.counts.transpose(1, 0, 2)  # (n, M, T)
    acc, month, typ = np.nonzero(counts)
    reps = counts[acc, month, typ]
    acc, month, typ = (np.repeat(a, reps) for a in (acc, month, typ))
    slot = np.arange(len(acc)) - np.repeat(np.cumsum(reps) - reps, reps)
    n_act = len(acc)
    u = np.empty((n_act, 8))
    bounds = np.searchsorted(acc, np.arange(world.n + 1))
    for i in np.unique(acc):
        lo_i, hi_i = bounds[i], bounds[i + 1]
        u[lo_i:hi_i] = streams.account("activity_details", int(i)).random((hi_i - lo_i, 8))

    ms = cal.month_starts[month]
    me = cal.month_starts[month + 1]
    lo = np.maximum(ms, world.first_start[acc])
    hi = np.minimum(me, dyn.customer_until[acc])
    day = lo + np.floor(u[:, 0] * (hi - lo)).astype(np.int64)

    # ids in order of (account, day, type, slot)
    order = np.lexsort((slot, typ, day, acc))
    acc, month, typ, day, u = acc[order], month[order], typ[order], day[order], u[order]
    starts = np.searchsorted(acc, acc, side="left")
    seq = np.arange(n_act) - starts
    acts = {
        "account": acc,
        "month": month,
        "type": typ,
        "day": day,
        "seq": seq,
        "csm": world.csm[acc],
    }

    # participants
    p2, p3 = cfg.contacts_per_activity
    n_touch = 1 + (u[:, 1] < p2) + (u[:, 1] < p3)
    type_shift = np.array([cfg.key_touch_type_shift.get(k, 0.0) for k in ACTIVITY_TYPES])
    p_key = logistic(
        cfg.key_touch_intercept + cfg.key_touch_slope * dyn.z[month, acc, _E] + type_shift[typ]
    )
    p_respond = logistic(
        cfg.automated_response_intercept + cfg.key_touch_slope * dyn.z[month, acc, _E]
    )
    automated = world.csm[acc] < 0
    pools, n_key, n_all = _contact_pools(world)
    nk, na = n_key[acc], n_all[acc]
    picks = []
    for j in range(3):
        u_who, u_pick = u[:, 2 + 2 * j], u[:, 3 + 2 * j]
        # CSM activity: key or other contact; fall back to the other pool when empty
        use_key = np.where(u_who < p_key, nk > 0, nk == na)
        size = np.where(use_key, nk, na - nk)
        pos = np.where(use_key, 0, nk) + np.minimum(
            np.floor(u_pick * size).astype(np.int64), size - 1
        )
        # automated email: any contact, taking part if it responds
        pos = np.where(automated, np.minimum(np.floor(u_pick * na).astype(np.int64), na - 1), pos)
        take_part = np.where(automated, u_who < p_respond, j < n_touch)
        picks.append(np.where(take_part, pools[acc, pos], -1))
    pk = np.stack(picks, axis=1)
    pk[:, 1] = np.where(pk[:, 1] == pk[:, 0], -1, pk[:, 1])
    pk[:, 2] = np.where((pk[:, 2] == pk[:, 0]) | (pk[:, 2] == pk[:, 1]), -1, pk[:, 2])
    row, col = np.nonzero(pk >= 0)
    part = {"activity": row, "account": acc[row], "slot": pk[row, col]}
    o = np.lexsort((part["slot"], part["activity"]))
    return acts, {key: v[o] for key, v in part.items()}


def outcomes(
    world: World, cal: Calendar, cfg: SimConfig, streams: Streams, dyn: Dynamics
) -> dict[str, np.ndarray]:
    """At most one success-plan outcome per account and month; see the module docstring."""
    months, n = cal.n_months, world.n
    u = streams.world("outcomes").random((n, months, 6))
    created_mask = (world.has_plan[:, None] & (dyn.active.T > 0)) & (u[:, :, 0] < cfg.outcome_rate)
    acc, month = np.nonzero(created_mask)
    uu = u[acc, month]
    ms, me = cal.month_starts[month], cal.month_starts[month + 1]
    lo = np.maximum(ms, world.first_start[acc])
    hi = np.minimum(me, dyn.customer_until[acc])
    created = lo + np.floor(uu[:, 1] * (hi - lo)).astype(np.int64)
    q_lo, q_hi = cfg.outcome_months
    q = q_lo + np.floor(uu[:, 2] * (q_hi - q_lo + 1)).astype(np.int64)
    target = created + np.round(q * 30.4375).astype(np.int64)

    # mean roi latent over the months from creation to target (clipped to the panel)
    zr = dyn.z[:, :, _R]
    cum = np.vstack([np.zeros((1, n)), np.cumsum(zr, axis=0)])
    m2 = np.minimum(cal.month_of(target), months - 1)
    mean_roi = (cum[m2 + 1, acc] - cum[month, acc]) / (m2 + 1 - month)
    p_verify = logistic(cfg.verify_intercept + cfg.verify_slope * mean_roi)
    a, b = cfg.verify_timing
    verified_day = created + np.round((a + (b - a) * uu[:, 4]) * (target - created)).astype(
        np.int64
    )
    verified = (uu[:, 3] < p_verify) & (verified_day < dyn.customer_until[acc])
    done = verified & (verified_day < cal.end)
    past = target < cal.end
    abandoned = (uu[:, 5] < cfg.abandon_share) | (dyn.customer_until[acc] <= target)
    status = np.where(
        done,
        "verified",
        np.where(verified | ~past, "open", np.where(abandoned, "abandoned", "missed")),
    )
    return {
        "account": acc,
        "month": month,
        "created": created,
        "target": target,
        "verified_day": np.where(done, verified_day, -1),
        "status": status.astype(object),
        "p_verify": p_verify,
        "mean_roi": mean_roi,
    }
