"""``FeatureConfig``: every window, SLA and threshold of the feature builder, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from dearstats.errors import InputError

__all__ = ["DEFAULT_ACTIVITY_TYPES", "DEFAULT_ROLE_SLA_DAYS", "FeatureConfig"]

#: activity types counted in their own ``act_<type>`` column by default
DEFAULT_ACTIVITY_TYPES: tuple[str, ...] = (
    "ebr",
    "stakeholder_alignment",
    "onboarding",
    "training",
    "success_plan_review",
    "health_check",
)

#: days within which a key contact of each role should have been in an activity
DEFAULT_ROLE_SLA_DAYS: tuple[tuple[str, int], ...] = (
    ("champion", 30),
    ("decision_maker", 60),
    ("executive_sponsor", 90),
)

_MAX_WINDOW_DAYS = 36_500  # a century: guards against typos (days vs. hours)


@dataclass(frozen=True)
class FeatureConfig:
    """Windows, SLAs and thresholds of :func:`dearstats.build_features` (all in days).

    Every window is a half-open range of calendar days ending just before ``as_of``:
    "the last *w* days" is ``[as_of − w days, as_of)``. The defaults are common CS practice,
    not estimates; change them with ``FeatureConfig(adoption_window_days=28, ...)`` or
    :meth:`replace`. The object is frozen and hashable, so it can be stored beside a
    fitted model and compared.

    Parameters
    ----------
    snapshot_max_age_days
        A seat snapshot counts for deployment only if taken within this many days before
        ``as_of`` (older snapshots are stale: activation is null).
    activation_trend_days
        ``deployment_activation_trend`` compares activation now with activation as of
        ``as_of`` minus this many days.
    shelfware_threshold
        ``deployment_shelfware`` is true when activation is below this share.
    role_sla_days
        Contact SLA per key-contact role: a key contact counts as covered when it took
        part in an activity within its role's SLA. A mapping ``role → days`` (stored as a
        sorted tuple of pairs so the config stays hashable).
    other_key_sla_days
        SLA of key contacts whose role is not in ``role_sla_days``.
    sponsor_role
        The role whose last touch gives ``engagement_days_since_sponsor``.
    contacts_window_days
        Window of ``engagement_contacts_90d`` (distinct contacts engaged).
    sla_period_days, sla_periods
        ``engagement_sla_compliance`` looks at the last ``sla_periods`` periods of
        ``sla_period_days`` days and counts those with at least one key-contact touch.
    ebr_type
        The ``activity_type`` of an executive business review.
    adoption_window_days
        The "30-day" adoption window (active users, DAU/MAU, sticky, workflows).
    adoption_trend_days
        ``adoption_trend`` compares the daily active users of the adoption window with
        those of the preceding ``adoption_trend_days − adoption_window_days`` days.
    roi_verified_days
        Window of ``roi_verified_90d`` (outcomes verified recently).
    roi_window_days
        Window of ``roi_verified_share_due`` (outcomes due) and ``roi_has_plan``
        (outcomes created).
    activity_window_days
        Window of the ``act_<type>`` counts.
    activity_types
        Activity types counted in their own ``act_<type>`` column; any other type is
        counted in ``act_other``. Each must be a lower-case identifier.
    """

    snapshot_max_age_days: int = 90
    activation_trend_days: int = 90
    shelfware_threshold: float = 0.3
    role_sla_days: Mapping[str, int] | tuple[tuple[str, int], ...] = field(
        default=DEFAULT_ROLE_SLA_DAYS
    )
    other_key_sla_days: int = 60
    sponsor_role: str = "executive_sponsor"
    contacts_window_days: int = 90
    sla_period_days: int = 30
    sla_periods: int = 3
    ebr_type: str = "ebr"
    adoption_window_days: int = 30
    adoption_trend_days: int = 90
    roi_verified_days: int = 90
    roi_window_days: int = 365
    activity_window_days: int = 90
    activity_types: tuple[str, ...] = DEFAULT_ACTIVITY_TYPES

    def __post_init__(self) -> None:
        problems: list[str] = []
        raw_sla = self.role_sla_days
        pairs = raw_sla.items() if isinstance(raw_sla, Mapping) else raw_sla
        try:
            sla = tuple(sorted((str(k), v) for k, v in pairs))
        except (TypeError, ValueError):
            sla = ()
            problems.append(
                f"role_sla_days={raw_sla!r} must be a mapping of role to days, such as "
                "{'champion': 30}"
            )
        object.__setattr__(self, "role_sla_days", sla)
        object.__setattr__(self, "activity_types", tuple(self.activity_types))
        days = {
            name: getattr(self, name)
            for name in (
                "snapshot_max_age_days",
                "activation_trend_days",
                "other_key_sla_days",
                "contacts_window_days",
                "sla_period_days",
                "sla_periods",
                "adoption_window_days",
                "adoption_trend_days",
                "roi_verified_days",
                "roi_window_days",
                "activity_window_days",
            )
        }
        days.update({f"role_sla_days[{r!r}]": d for r, d in sla})
        for name, value in days.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"{name}={value!r} must be a whole number of days ≥ 1")
            elif value > _MAX_WINDOW_DAYS:
                problems.append(f"{name}={value!r} must be at most {_MAX_WINDOW_DAYS} days")
        if self.sla_period_days * self.sla_periods > _MAX_WINDOW_DAYS:
            problems.append(
                f"sla_period_days × sla_periods must be at most {_MAX_WINDOW_DAYS} days"
            )
        trend, window = self.adoption_trend_days, self.adoption_window_days
        if isinstance(trend, int) and isinstance(window, int) and trend <= window:
            problems.append(
                f"adoption_trend_days={trend} must exceed adoption_window_days={window} (the "
                "trend compares the adoption window with the days before it)"
            )
        if not isinstance(self.shelfware_threshold, int | float) or not (
            0.0 <= float(self.shelfware_threshold) <= 1.0
        ):
            problems.append(
                f"shelfware_threshold={self.shelfware_threshold!r} must be a share in [0, 1]"
            )
        for t in self.activity_types:
            if not (isinstance(t, str) and t.isidentifier() and t == t.lower()):
                problems.append(
                    f"activity_types: {t!r} must be a lower-case identifier (it names the "
                    f"column act_{t})"
                )
        if "other" in self.activity_types:
            problems.append("activity_types must not contain 'other' (act_other is built in)")
        if len(set(self.activity_types)) != len(self.activity_types):
            problems.append("activity_types has duplicates")
        if problems:
            raise InputError("FeatureConfig: " + "; ".join(problems) + ".")

    # -- helpers -----------------------------------------------------------------------
    @property
    def role_sla(self) -> dict[str, int]:
        """``role_sla_days`` as a dict."""
        return dict(self.role_sla_days)  # type: ignore[arg-type]

    @property
    def max_sla_days(self) -> int:
        """The longest contact SLA (the engagement calendar's depth)."""
        return max([self.other_key_sla_days, *self.role_sla.values()])

    @property
    def activity_columns(self) -> tuple[str, ...]:
        """The ``act_*`` column names, in order (``act_other`` last)."""
        return (*(f"act_{t}" for t in self.activity_types), "act_other")

    def replace(self, **changes: Any) -> FeatureConfig:
        """A copy with some settings changed (validated again)."""
        current = self.as_dict()
        unknown = sorted(set(changes) - set(current))
        if unknown:
            raise InputError(
                f"FeatureConfig has no setting {', '.join(unknown)}; the settings are "
                f"{', '.join(current)}."
            )
        current.update(changes)
        return FeatureConfig(**current)

    def as_dict(self) -> dict[str, Any]:
        """Plain-Python settings (JSON-ready): ``role_sla_days`` as a dict."""
        out = asdict(self)
        out["role_sla_days"] = self.role_sla
        out["activity_types"] = list(self.activity_types)
        return out
