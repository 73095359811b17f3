"""Product telemetry: the daily (account, user, date, feature) roll-up, account by account.

An account's telemetry users on a day are ``min(usage_user_cap, round(Core seats *
activation ratio of the month))`` (users ``1..cap``; users beyond the cap are not
telemetered, so breadth should be measured against the users seen, not the seats). A user
is active on a day with ``P = logistic(active_intercept + active_slope * z_adoption +
a_account + v_user + weekend_shift * 1[weekend])`` (breadth; ``a ~ N(0, usage_account_sd^2)``,
``v ~ N(0, user_propensity_sd^2)``). An active user-day is a *workflow day*
(all features of one workflow) with ``P = logistic(workflow_intercept + workflow_slope *
z_adoption)``, else a browsing day of 1-3 features, each sticky with ``P =
logistic(sticky_intercept + sticky_slope * z_adoption)`` (depth). Events per user-day-
feature are geometric on 1, 2, ... with mean ``max(1.01, exp(events_log_mean + events_slope *
z_adoption))``.

Random numbers of account ``i`` come from its own streams (user propensities; the
day x user activity uniforms; 12 uniforms per active user-day), each read in time order.
Only days when a Core contract is active carry usage.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from dearstats.simulation._config import DIMENSIONS, FEATURE_CATALOG, SimConfig
from dearstats.simulation._dynamics import Dynamics
from dearstats.simulation._rng import Streams, logistic
from dearstats.simulation._world import Calendar, World

__all__ = ["USAGE_COLUMNS", "usage_blocks", "usage_for_account", "usage_shift"]

_A = DIMENSIONS.index("adoption")
USAGE_COLUMNS = ("account", "user", "day", "feature", "events")

_STICKY = np.array([i for i, f in enumerate(FEATURE_CATALOG) if f[1]])
_PLAIN = np.array([i for i, f in enumerate(FEATURE_CATALOG) if not f[1]])
_WORKFLOWS = sorted({f[2] for f in FEATURE_CATALOG if f[2] is not None})
_NONE = len(FEATURE_CATALOG)  # an empty feature slot (sorts after every feature)
_WF_MEMBERS = np.full((len(_WORKFLOWS), 3), _NONE)
for _w, _name in enumerate(_WORKFLOWS):
    _m = [i for i, f in enumerate(FEATURE_CATALOG) if f[2] == _name][:3]
    _WF_MEMBERS[_w, : len(_m)] = _m


class _Core:
    """Core contract intervals per account, for fast lookup."""

    def __init__(self, dyn: Dynamics) -> None:
        c = dyn.contracts
        core = c["product"] == 0
        self.account = c["account"][core]
        self.start = c["start"][core]
        self.end = c["end"][core]
        self.seats = c["seats"][core]
        self.bounds = np.searchsorted(self.account, np.arange(int(self.account.max(initial=0)) + 2))

    def of(self, i: int) -> slice:
        if i + 1 >= len(self.bounds):
            return slice(0, 0)
        return slice(self.bounds[i], self.bounds[i + 1])


def usage_shift(n: int, cfg: SimConfig, streams: Streams) -> np.ndarray:
    """The persistent account logit shift ``a[i]`` of daily activity (for the truth)."""
    return np.array(
        [
            cfg.usage_account_sd * streams.account("usage_users", i).standard_normal()
            for i in range(n)
        ]
    )


def usage_for_account(
    i: int,
    core: _Core,
    cal: Calendar,
    cfg: SimConfig,
    streams: Streams,
    dyn: Dynamics,
    ratio_core: np.ndarray,
) -> dict[str, np.ndarray] | None:
    """Usage rows of account ``i`` sorted by (user, day, feature), or None if it has none."""
    sl = core.of(i)
    days_parts, seats_parts = [], []
    for s, e, seats in zip(core.start[sl], core.end[sl], core.seats[sl], strict=True):
        d = np.arange(max(int(s), cal.start), min(int(e), cal.end), dtype=np.int64)
        days_parts.append(d)
        seats_parts.append(np.full(len(d), seats))
    if not days_parts or not sum(len(d) for d in days_parts):
        return None
    days = np.concatenate(days_parts)
    seats = np.concatenate(seats_parts)
    month = cal.month_of(days)
    cap = cfg.usage_user_cap
    n_users = np.minimum(cap, np.round(seats * ratio_core[month, i])).astype(np.int64)
    z = dyn.z[month, i, _A]
    weekend = (days + 3) % 7 >= 5  # 1970-01-01 was a Thursday

    ru = streams.account("usage_users", i)
    account_shift = cfg.usage_account_sd * ru.standard_normal()  # == usage_shift(...)
    v = account_shift + cfg.user_propensity_sd * ru.standard_normal(cap)
    u_act = streams.account("usage_active", i).random((len(days), cap), dtype=np.float32)
    width = int(n_users.max())  # users beyond every day's count are never active
    if width == 0:
        return None
    logit = (cfg.active_intercept + cfg.active_slope * z + cfg.weekend_shift * weekend)[:, None]
    p_active = logistic((logit + v[None, :width]).astype(np.float32))
    active = (u_act[:, :width] < p_active) & (np.arange(width)[None, :] < n_users[:, None])
    # number the active user-days in time order (day-major) for the detail stream...
    n_cells = int(active.sum())
    if not n_cells:
        return None
    ordinal = np.zeros(active.shape, dtype=np.int64)
    ordinal[active] = np.arange(n_cells)
    u = streams.account("usage_detail", i).random((n_cells, 12))
    # ...and emit them user-major (the key order): cell ordinals sorted by (user, day)
    cells = ordinal.T[active.T]
    user = np.nonzero(active.T)[0]
    day_idx = np.nonzero(active)[0][cells]
    u = u[cells]
    zc = z[day_idx]

    workflow_day = u[:, 0] < logistic(cfg.workflow_intercept + cfg.workflow_slope * zc)
    wf = np.minimum(np.floor(u[:, 1] * len(_WORKFLOWS)).astype(np.int64), len(_WORKFLOWS) - 1)
    p2, p3 = cfg.features_per_day
    n_feat = 1 + (u[:, 2] < p2) + (u[:, 2] < p3)
    p_sticky = logistic(cfg.sticky_intercept + cfg.sticky_slope * zc)
    feats = np.empty((n_cells, 3), dtype=np.int64)
    for j in range(3):
        sticky = u[:, 3 + 2 * j] < p_sticky
        pos_s = np.floor(u[:, 4 + 2 * j] * len(_STICKY)).astype(np.int64)
        pos_p = np.floor(u[:, 4 + 2 * j] * len(_PLAIN)).astype(np.int64)
        browse = np.where(sticky, _STICKY[pos_s], _PLAIN[pos_p])
        browse = np.where(j < n_feat, browse, _NONE)
        feats[:, j] = np.where(workflow_day, _WF_MEMBERS[wf, j], browse)
    mean = np.maximum(1.01, np.exp(cfg.events_log_mean + cfg.events_slope * zc))
    # geometric on 1, 2, ... by inversion of 1 - u (in (0, 1])
    events = 1 + np.floor(np.log1p(-u[:, 9:12]) / np.log1p(-1.0 / mean)[:, None]).astype(np.int64)
    # sort features within a cell; drop repeats and empty slots (_NONE sorts last)
    o = np.argsort(feats, axis=1, kind="stable")
    feats = np.take_along_axis(feats, o, axis=1)
    events = np.take_along_axis(events, o, axis=1)
    keep = feats != _NONE
    keep[:, 1:] &= feats[:, 1:] != feats[:, :-1]
    cell, slot = np.nonzero(keep)
    return {
        "account": np.full(len(cell), i, dtype=np.int64),
        "user": user[cell],
        "day": days[day_idx[cell]],
        "feature": feats[cell, slot],
        "events": events[cell, slot],
    }


def usage_blocks(
    world: World,
    cal: Calendar,
    cfg: SimConfig,
    streams: Streams,
    dyn: Dynamics,
    ratio: np.ndarray,
    *,
    block_accounts: int = 250,
) -> Iterator[dict[str, np.ndarray]]:
    """Usage of ``block_accounts`` accounts at a time, in account order (sorted by key)."""
    core = _Core(dyn)
    ratio_core = ratio[:, :, 0]
    for lo in range(0, world.n, block_accounts):
        parts = []
        for i in range(lo, min(lo + block_accounts, world.n)):
            rows = usage_for_account(i, core, cal, cfg, streams, dyn, ratio_core)
            if rows is not None:
                parts.append(rows)
        if parts:
            yield {c: np.concatenate([p[c] for p in parts]) for c in USAGE_COLUMNS}
