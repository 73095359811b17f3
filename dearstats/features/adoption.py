"""Adoption: how broadly and deeply is the product used?

Telemetry is the big table, so it is read only where a window can reach it (a filter on
the raw ``date``, pushed into the scan) and pre-aggregated before any date logic: usage
rows with ``events > 0`` become one row per (account, user, day) (with a flag "used a
sticky feature that day"); only those get day numbers and are joined (an equi-join on the
day) to the calendar of evaluation dates. Workflows join the active rows to the calendar
directly (dense contexts; one row per (account, feature, day) first in sparse ones).
A user is *active* on a day when it has a usage row with ``events > 0`` that day; rows
with ``events == 0`` and null ``user_id`` are ignored.
"""

from __future__ import annotations

import narwhals as nw

from dearstats.features._config import FeatureConfig
from dearstats.features._core import KEYS, Context, day_number, distinct, flag, window_join

__all__ = ["adoption_counts", "workflow_counts"]


def _active_usage(ctx: Context, depth: int) -> nw.LazyFrame:
    """Usage rows with ``events > 0`` (and a user and account) dated where a window of
    ``depth`` days can reach them; ``date`` stays a raw ``Date`` (filtered in the scan):
    day numbers are derived after the pre-aggregation, for far fewer rows."""
    usage = ctx.recent_table(
        "usage", ["account_id", "user_id", "date", "feature", "events"], depth, raw_dates=True
    )
    return usage.filter(
        (nw.col("events") > 0) & ~nw.col("user_id").is_null() & ~nw.col("account_id").is_null()
    )


def _catalog(ctx: Context) -> nw.LazyFrame:
    return ctx.table("feature_catalog", ["feature", "sticky", "workflow"])


def adoption_counts(ctx: Context, config: FeatureConfig) -> nw.LazyFrame:
    """Per pair: ``_users_30`` (distinct active users in the adoption window),
    ``_sticky_users`` (of whom used a sticky feature there), ``_user_days_30`` (Σ over
    days of active users) and ``_user_days_prior`` (same over the preceding days of the
    trend window).

    Reads ``usage`` dated in ``[as_of − adoption_trend_days, as_of)``.
    """
    sticky = _catalog(ctx).select("feature", flag(nw.col("sticky")).alias("_sticky"))
    user_days = (
        _active_usage(ctx, config.adoption_trend_days)
        .join(sticky, on="feature", how="left")
        .with_columns(nw.col("_sticky").fill_null(0))
        .group_by("account_id", "user_id", "date")
        .agg(nw.col("_sticky").max())
        .select("account_id", "user_id", day_number("date").alias("_day"), "_sticky")
    )
    w = config.adoption_window_days
    per_user = (
        window_join(ctx, user_days, config.adoption_trend_days, prune=False, by_day=True)
        .with_columns(
            flag(nw.col("_age") <= w).alias("_d30"),
            flag(nw.col("_age") > w).alias("_dprior"),
        )
        .with_columns((nw.col("_d30") * nw.col("_sticky")).alias("_st"))
        .group_by(*KEYS, "user_id")
        .agg(
            nw.col("_d30").max().alias("_in"),
            nw.col("_st").max().alias("_st"),
            nw.col("_d30").sum().alias("_d30"),
            nw.col("_dprior").sum().alias("_dprior"),
        )
    )
    return per_user.group_by(*KEYS).agg(
        nw.col("_in").sum().alias("_users_30"),
        nw.col("_st").sum().alias("_sticky_users"),
        nw.col("_d30").sum().alias("_user_days_30"),
        nw.col("_dprior").sum().alias("_user_days_prior"),
    )


def workflow_counts(ctx: Context, config: FeatureConfig) -> nw.LazyFrame:
    """Per pair: ``_workflows_done``, the catalogue workflows all of whose features the
    account used (any user, ``events > 0``) in the adoption window.

    Reads ``usage`` dated in ``[as_of − adoption_window_days, as_of)``.
    """
    members = distinct(
        _catalog(ctx).filter(~nw.col("workflow").is_null() & ~nw.col("feature").is_null()),
        "feature",
        "workflow",
    )
    sizes = members.group_by("workflow").agg(nw.len().alias("_size"))
    active = _active_usage(ctx, config.adoption_window_days)
    if not ctx.dense:
        # sparse contexts read the whole table and join it per account to every date of
        # the account: de-duplicate (account, feature, day) first
        active = distinct(active, "account_id", "feature", "date")
    # dense contexts: the distinct below (over far fewer groups) de-duplicates alone;
    # a distinct (account, feature, day) first costs a hash aggregate over ~all rows
    feature_days = active.select("account_id", "feature", day_number("date").alias("_day")).join(
        members, on="feature", how="inner"
    )
    used = (
        distinct(
            window_join(ctx, feature_days, config.adoption_window_days, prune=False, by_day=True),
            *KEYS,
            "workflow",
            "feature",
        )
        .group_by(*KEYS, "workflow")
        .agg(nw.len().alias("_used"))
        .join(sizes, on="workflow", how="inner")
    )
    return (
        used.filter(nw.col("_used") >= nw.col("_size"))
        .group_by(*KEYS)
        .agg(nw.len().alias("_workflows_done"))
    )


def n_workflows(ctx: Context) -> nw.LazyFrame:
    """One row: ``_n_workflows``, the distinct non-null workflows of the catalogue."""
    return distinct(_catalog(ctx).filter(~nw.col("workflow").is_null()), "workflow").select(
        nw.len().alias("_n_workflows")
    )
