"""The feature registry: name → dimension, dtype, window and definition of every column.

The registry is the single place where features are documented; :func:`features_markdown`
renders it (the docs and ``dearstats features --help`` use it), and a test checks that the
frame :func:`dearstats.build_features` returns has exactly these columns, in this order,
with these dtypes.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from dearstats.features._config import FeatureConfig

__all__ = ["DIMENSIONS", "FEATURES", "FeatureSpec", "feature_specs", "features_markdown"]

#: dimensions in display order (``context`` and ``activities`` are not DEAR dimensions)
DIMENSIONS: tuple[str, ...] = (
    "context",
    "deployment",
    "engagement",
    "adoption",
    "roi",
    "activities",
)


@dataclass(frozen=True)
class FeatureSpec:
    """One output column of the feature builder.

    ``window`` says which dates relative to ``as_of`` the feature reads, ``dtype`` is the
    pandas dtype of the column (``float64`` columns use NaN for null), ``null`` says when
    the value is null (empty: never).
    """

    name: str
    dimension: str
    dtype: str
    window: str
    description: str
    null: str = ""


def _w(days: int) -> str:
    return f"[as_of − {days} d, as_of)"


def feature_specs(config: FeatureConfig | None = None) -> tuple[FeatureSpec, ...]:
    """The specs of every column for ``config`` (windows rendered with its values)."""
    c = config or FeatureConfig()
    live = "contracts live on as_of − 1 d"
    sla = ", ".join(f"{r} {d} d" for r, d in c.role_sla.items())
    specs = [
        FeatureSpec(
            "as_of",
            "context",
            "datetime64[us]",
            "—",
            "The evaluation date. Every feature reads only records dated strictly before it "
            "(the cut of Book.as_of).",
        ),
        FeatureSpec(
            "arr",
            "context",
            "float64",
            live,
            "ARR on the last day before the cut: Σ arr of contracts with start_date < as_of "
            "≤ end_date. Rows exist only for accounts with arr > 0.",
        ),
        FeatureSpec("segment", "context", "str", "undated", "accounts.segment."),
        FeatureSpec(
            "csm_id",
            "context",
            "str",
            "undated",
            "accounts.csm_id.",
            "null: tech-touch account",
        ),
        FeatureSpec(
            "tenure_days",
            "context",
            "int64",
            "created_date < as_of",
            "Days from accounts.created_date to as_of.",
        ),
        FeatureSpec(
            "days_to_renewal",
            "context",
            "int64",
            live,
            "Days from as_of to the earliest end_date of the live contracts (≥ 0; 0 when a "
            "contract ends on as_of).",
        ),
        FeatureSpec(
            "n_products", "context", "int64", live, "Distinct products of the live contracts."
        ),
        FeatureSpec("licensed_seats", "context", "int64", live, "Σ seats of the live contracts."),
        FeatureSpec(
            "deployment_activation",
            "deployment",
            "float64",
            f"snapshots in {_w(c.snapshot_max_age_days)}; {live}",
            "ARR-weighted mean over the live products of min(1, seats_active / seats), "
            "seats_active from the product's latest seat snapshot in the window (plain mean "
            "when those products carry no ARR). A product with no recent snapshot or 0 "
            "licensed seats has no activation and is left out.",
            "no live product has an activation",
        ),
        FeatureSpec(
            "deployment_activation_trend",
            "deployment",
            "float64",
            f"as deployment_activation, at as_of and at as_of − {c.activation_trend_days} d",
            f"deployment_activation now minus deployment_activation as of as_of − "
            f"{c.activation_trend_days} d (same definition at that date).",
            "either activation is null",
        ),
        FeatureSpec(
            "deployment_days_since_start",
            "deployment",
            "int64",
            live,
            "Days since the earliest start_date of the live contracts.",
        ),
        FeatureSpec(
            "deployment_shelfware",
            "deployment",
            "boolean",
            "as deployment_activation",
            f"deployment_activation < {c.shelfware_threshold}.",
            "deployment_activation is null",
        ),
        FeatureSpec(
            "engagement_key_coverage",
            "engagement",
            "float64",
            f"activities in [as_of − SLA(role), as_of); SLA: {sla}, other key roles "
            f"{c.other_key_sla_days} d",
            "Share of the account's key contacts (is_key) who took part in an activity "
            "within their role's SLA.",
            "the account has no key contact",
        ),
        FeatureSpec(
            "engagement_key_contacts",
            "engagement",
            "int64",
            "undated",
            "Number of key contacts (is_key) of the account.",
        ),
        FeatureSpec(
            "engagement_days_since_sponsor",
            "engagement",
            "float64",
            "activities before as_of",
            f"Days since the latest activity in which a contact with role "
            f"'{c.sponsor_role}' took part.",
            "never",
        ),
        FeatureSpec(
            "engagement_contacts_90d",
            "engagement",
            "int64",
            _w(c.contacts_window_days),
            "Distinct contacts (non-null contact_id) who took part in the account's "
            "activities in the window.",
        ),
        FeatureSpec(
            "engagement_sla_compliance",
            "engagement",
            "float64",
            f"{c.sla_periods} periods of {c.sla_period_days} d: "
            f"{_w(c.sla_periods * c.sla_period_days)}",
            f"Share of the last {c.sla_periods} periods of {c.sla_period_days} days "
            f"([as_of − k·{c.sla_period_days} d, as_of − (k−1)·{c.sla_period_days} d), "
            "k = 1, 2, …) with at least one activity involving a key contact: the touch "
            "cadence was kept.",
            "the account has no key contact",
        ),
        FeatureSpec(
            "engagement_days_since_ebr",
            "engagement",
            "float64",
            "activities before as_of",
            f"Days since the latest activity of type '{c.ebr_type}'.",
            "never",
        ),
        FeatureSpec(
            "adoption_users_30d",
            "adoption",
            "int64",
            _w(c.adoption_window_days),
            "Distinct active users (usage rows with events > 0, non-null user_id).",
        ),
        FeatureSpec(
            "adoption_breadth",
            "adoption",
            "float64",
            _w(c.adoption_window_days),
            "min(1, adoption_users_30d / licensed_seats). 0 for an account with no usage.",
            "licensed_seats is 0",
        ),
        FeatureSpec(
            "adoption_dau_mau",
            "adoption",
            "float64",
            _w(c.adoption_window_days),
            f"Mean daily active users over the {c.adoption_window_days} days (days without "
            "use count as 0) divided by adoption_users_30d. 0 for an account with no usage.",
        ),
        FeatureSpec(
            "adoption_sticky_share",
            "adoption",
            "float64",
            _w(c.adoption_window_days),
            "Share of the active users who used a sticky feature (feature_catalog.sticky) in "
            "the window. 0 for an account with no usage.",
        ),
        FeatureSpec(
            "adoption_workflow_share",
            "adoption",
            "float64",
            _w(c.adoption_window_days),
            "Share of the catalogue's workflows used end to end: every feature of the "
            "workflow used by the account (any user) in the window. 0 for no usage.",
            "the catalogue has no workflow",
        ),
        FeatureSpec(
            "adoption_trend",
            "adoption",
            "float64",
            _w(c.adoption_trend_days),
            f"Mean daily active users in the last {c.adoption_window_days} days divided by "
            f"the mean daily active users in the {c.adoption_trend_days - c.adoption_window_days}"
            f" days before them ([as_of − {c.adoption_trend_days} d, as_of − "
            f"{c.adoption_window_days} d)); 1 = flat.",
            "no usage in the earlier period",
        ),
        FeatureSpec(
            "roi_verified_90d",
            "roi",
            "int64",
            _w(c.roi_verified_days),
            "Outcomes verified (status verified, verified_date in the window).",
        ),
        FeatureSpec(
            "roi_verified_share_due",
            "roi",
            "float64",
            f"target_date in {_w(c.roi_window_days)}",
            "Of the outcomes due in the window (target_date before as_of), the share "
            "verified before as_of (any status counts in the denominator).",
            "no outcome due in the window",
        ),
        FeatureSpec(
            "roi_on_time_share_due",
            "roi",
            "float64",
            f"target_date in {_w(c.roi_window_days)}",
            "As roi_verified_share_due, counting only verifications on or before the target_date.",
            "no outcome due in the window",
        ),
        FeatureSpec(
            "roi_overdue",
            "roi",
            "int64",
            "outcomes created before as_of",
            "Outcomes still open at as_of whose target_date is before as_of.",
        ),
        FeatureSpec(
            "roi_open",
            "roi",
            "int64",
            "outcomes created before as_of",
            "Outcomes open at as_of (status as it stood then: see Book.as_of).",
        ),
        FeatureSpec(
            "roi_days_since_verified",
            "roi",
            "float64",
            "verified_date before as_of",
            "Days since the latest verification.",
            "never verified",
        ),
        FeatureSpec(
            "roi_has_plan",
            "roi",
            "bool",
            f"created_date in {_w(c.roi_window_days)}, or open at as_of",
            "The account has a success plan: an outcome created in the window or still open.",
        ),
    ]
    for t in c.activity_types:
        specs.append(
            FeatureSpec(
                f"act_{t}",
                "activities",
                "int64",
                _w(c.activity_window_days),
                f"Activities of type '{t}' in the window.",
            )
        )
    specs.append(
        FeatureSpec(
            "act_other",
            "activities",
            "int64",
            _w(c.activity_window_days),
            "Activities of any other type (null included) in the window.",
        )
    )
    return tuple(specs)


#: the registry for the default :class:`FeatureConfig` (read-only mapping name → spec)
FEATURES: MappingProxyType[str, FeatureSpec] = MappingProxyType(
    {s.name: s for s in feature_specs()}
)


def features_markdown(config: FeatureConfig | None = None) -> str:
    """The registry as a Markdown table, grouped by dimension."""
    lines = [
        "| feature | dimension | dtype | reads | definition | null when |",
        "|---|---|---|---|---|---|",
    ]
    specs = sorted(feature_specs(config), key=lambda s: DIMENSIONS.index(s.dimension))
    for s in specs:
        lines.append(
            f"| `{s.name}` | {s.dimension} | {s.dtype} | {s.window} | {s.description} | "
            f"{s.null or 'never'} |"
        )
    return "\n".join(lines)
