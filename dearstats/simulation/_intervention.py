"""What-if hooks: :class:`Intervention` and its resolution against a simulated world."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dearstats.errors import InputError
from dearstats.simulation._config import ACTIVITY_TYPES, DIMENSIONS
from dearstats.simulation._world import Calendar, World

__all__ = ["Intervention", "ResolvedIntervention", "resolve_intervention"]


@dataclass(frozen=True)
class Intervention:
    """A what-if applied to the simulated world (same seed, common random numbers).

    ``force_green``: ``{dimension: account_ids}``; from ``from_date`` (until ``until_date``)
    the account's latent on that dimension is raised to at least ``SimConfig.green_at``
    every month (the raise enters the AR state, so it persists afterwards and decays).
    ``extra_activities``: ``{activity_type: {account_id: n_per_month}}``; that many extra
    activities of the type happen every month the account is a customer, with the usual
    causal effect (scaled by the account's CSM skill). Months are calendar months: the
    intervention starts with the first month that begins on or after ``from_date`` (None:
    the first simulated month) and stops before the first month that begins on or after
    ``until_date`` (None: never). Extra activities of a tech-touch account are automated
    (``csm_id`` null, effect scaled by ``automated_skill``). Every random number is drawn
    independently of the state, so accounts not named here are bit-identical to the world
    without the intervention, and named accounts are identical before ``from_date``.
    """

    force_green: Mapping[str, Sequence[str]] = field(default_factory=dict)
    extra_activities: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    from_date: _dt.date | str | None = None
    until_date: _dt.date | str | None = None

    @property
    def account_ids(self) -> frozenset[str]:
        """Every account the intervention touches."""
        ids: set[str] = set()
        for accounts in self.force_green.values():
            ids.update(accounts)
        for per_account in self.extra_activities.values():
            ids.update(per_account)
        return frozenset(ids)


@dataclass(frozen=True)
class ResolvedIntervention:
    """An :class:`Intervention` as arrays: months ``[start, stop)``, masks and counts."""

    start: int
    stop: int
    force: np.ndarray  # (n, 4) bool
    extra: np.ndarray  # (n, n_types) int activities per month


def _to_day(value: _dt.date | str, name: str) -> int:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"Intervention.{name}: cannot read {value!r} as a date ({exc}).") from exc
    return int(np.datetime64(ts.date(), "D").astype(np.int64))


def resolve_intervention(
    iv: Intervention | None, world: World, cal: Calendar
) -> ResolvedIntervention | None:
    """Check an intervention against the world and turn it into arrays."""
    if iv is None:
        return None
    index = {a: i for i, a in enumerate(world.account_ids)}
    problems: list[str] = []
    force = np.zeros((world.n, len(DIMENSIONS)), dtype=bool)
    for dim, ids in iv.force_green.items():
        if dim not in DIMENSIONS:
            problems.append(f"force_green: unknown dimension {dim!r} (use {', '.join(DIMENSIONS)})")
            continue
        if isinstance(ids, str):
            problems.append(f"force_green[{dim!r}] must be a list of account ids, not a string")
            continue
        unknown = [a for a in ids if a not in index]
        if unknown:
            problems.append(
                f"force_green[{dim!r}]: {len(unknown)} unknown account(s), first {unknown[0]!r}"
            )
        force[[index[a] for a in ids if a in index], DIMENSIONS.index(dim)] = True
    extra = np.zeros((world.n, len(ACTIVITY_TYPES)), dtype=np.int64)
    for typ, per_account in iv.extra_activities.items():
        if typ not in ACTIVITY_TYPES:
            problems.append(
                f"extra_activities: unknown type {typ!r} (use {', '.join(ACTIVITY_TYPES)})"
            )
            continue
        for a, k in per_account.items():
            if a not in index:
                problems.append(f"extra_activities[{typ!r}]: unknown account {a!r}")
            elif isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
                problems.append(
                    f"extra_activities[{typ!r}][{a!r}] must be an integer >= 0; found {k!r}"
                )
            else:
                extra[index[a], ACTIVITY_TYPES.index(typ)] = int(k)
    if problems:
        raise InputError(
            f"Intervention: {len(problems)} problem(s): "
            + "; ".join(problems)
            + ". Account ids are those of the world without the intervention (A00001, ...)."
        )
    ms = cal.month_starts[:-1]
    start = (
        0 if iv.from_date is None else int(np.searchsorted(ms, _to_day(iv.from_date, "from_date")))
    )
    stop = cal.n_months
    if iv.until_date is not None:
        stop = int(np.searchsorted(ms, _to_day(iv.until_date, "until_date")))
    return ResolvedIntervention(start=start, stop=stop, force=force, extra=extra)
