"""ROI: is the customer achieving verified value?

Outcomes created before ``as_of`` are read as they stood at ``as_of`` — the same rule as
:meth:`dearstats.Book.as_of`, re-applied per evaluation date so panels need no per-date
cut: an outcome verified on or after ``as_of`` is still ``open`` (its ``verified_date``
unknown); one ``missed``/``abandoned`` with ``target_date ≥ as_of`` is still ``open``.
An outcome counts as *verified* when its status is ``verified`` and its ``verified_date``
is before ``as_of``.
"""

from __future__ import annotations

import narwhals as nw

from dearstats.features._config import FeatureConfig
from dearstats.features._core import KEYS, Context, before_join, flag

__all__ = ["roi_counts"]


def roi_counts(ctx: Context, config: FeatureConfig) -> nw.LazyFrame:
    """Per pair: the counts behind the ROI features.

    ``roi_verified_90d``, ``roi_overdue``, ``roi_open``, ``_due``, ``_due_verified``,
    ``_due_on_time``, ``_verified_age`` (days since the latest verification),
    ``_has_plan`` (0/1). Reads ``outcomes`` with ``created_date < as_of``; their
    ``target_date``; ``verified_date`` only when before ``as_of``.
    """
    outcomes = ctx.table(
        "outcomes",
        ["account_id", "created_date", "target_date", "verified_date", "status"],
    )
    t = nw.col("_t")
    target = nw.col("_target_date")
    verified_day = nw.col("_verified_date")
    late = (verified_day >= t).fill_null(False)
    pending = nw.col("status").is_in(["missed", "abandoned"]).fill_null(False) & (target >= t)
    status = nw.when(late | pending).then(nw.lit("open")).otherwise(nw.col("status"))
    is_verified = (nw.col("_status") == "verified") & (verified_day < t)
    is_open = nw.col("_status") == "open"
    due = (target < t) & (t - target <= config.roi_window_days)
    rows = (
        before_join(ctx, outcomes, day="_created_date")
        .with_columns(status.alias("_status"))
        .with_columns(
            flag(is_verified).alias("_is_verified"),
            flag(is_open).alias("_is_open"),
            flag(due).alias("_is_due"),
        )
        .with_columns(
            flag(
                (nw.col("_is_verified") == 1) & (t - verified_day <= config.roi_verified_days)
            ).alias("_v90"),
            flag((nw.col("_is_open") == 1) & (target < t)).alias("_overdue"),
            (nw.col("_is_due") * nw.col("_is_verified")).alias("_due_v"),
            flag(
                (nw.col("_is_due") == 1) & (nw.col("_is_verified") == 1) & (verified_day <= target)
            ).alias("_due_ot"),
            nw.when(nw.col("_is_verified") == 1).then(t - verified_day).alias("_v_age"),
            flag(
                ((t - nw.col("_created_date")) <= config.roi_window_days)
                | (nw.col("_is_open") == 1)
            ).alias("_plan"),
        )
    )
    return rows.group_by(*KEYS).agg(
        nw.col("_v90").sum().alias("roi_verified_90d"),
        nw.col("_overdue").sum().alias("roi_overdue"),
        nw.col("_is_open").sum().alias("roi_open"),
        nw.col("_is_due").sum().alias("_due"),
        nw.col("_due_v").sum().alias("_due_verified"),
        nw.col("_due_ot").sum().alias("_due_on_time"),
        nw.col("_v_age").min().alias("_verified_age"),
        nw.col("_plan").max().alias("_has_plan"),
    )
