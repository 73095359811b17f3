"""Deployment: is the customer activated on what it bought?

Per live product (contracts with ``start_date < as_of ≤ end_date``), activation is
``min(1, seats_active / seats)`` from the latest seat snapshot dated in
``[as_of − snapshot_max_age_days, as_of)``; null when there is no such snapshot or the
product has no licensed seats (never ``inf``). The account's activation is the ARR-weighted
mean over its products with a non-null activation (the plain mean if those products carry
no ARR).
"""

from __future__ import annotations

import narwhals as nw

from dearstats.features._config import FeatureConfig
from dearstats.features._core import KEYS, Context, safe_div, window_join
from dearstats.features._population import products

__all__ = ["account_activation", "deployment_features", "product_activation"]


def product_activation(ctx: Context, config: FeatureConfig) -> nw.LazyFrame:
    """Per pair and live product: ``arr_p``, ``seats_p``, ``seats_active``, ``_snap_day``,
    ``activation``.

    Reads contracts live on ``as_of − 1`` and ``seat_snapshots`` dated in
    ``[as_of − snapshot_max_age_days, as_of)``.
    """
    snaps = ctx.table("seat_snapshots", ["account_id", "product", "date", "seats_active"])
    recent = window_join(ctx, snaps, config.snapshot_max_age_days)
    latest = recent.group_by(*KEYS, "product").agg(nw.col("_age").min().alias("_age_min"))
    snapshot = (
        recent.join(latest, on=[*KEYS, "product"], how="inner")
        .filter(nw.col("_age") == nw.col("_age_min"))
        # the key (account, product, date) is unique in a valid book; max() keeps it so
        .group_by(*KEYS, "product")
        .agg(
            nw.col("seats_active").max().alias("seats_active"),
            nw.col("_day").max().alias("_snap_day"),
        )
    )
    ratio = safe_div(nw.col("seats_active"), nw.col("seats_p"))
    return (
        products(ctx)
        .join(snapshot, on=[*KEYS, "product"], how="left")
        .with_columns(nw.when(ratio > 1.0).then(nw.lit(1.0)).otherwise(ratio).alias("activation"))
    )


def account_activation(ctx: Context, config: FeatureConfig) -> nw.LazyFrame:
    """Per pair: ``deployment_activation`` (ARR-weighted mean over products)."""
    per_product = (
        product_activation(ctx, config)
        .filter(~nw.col("activation").is_null())
        .with_columns((nw.col("arr_p") * nw.col("activation")).alias("_w"))
    )
    agg = per_product.group_by(*KEYS).agg(
        nw.col("_w").sum().alias("_wsum"),
        nw.col("arr_p").sum().alias("_wden"),
        nw.col("activation").sum().alias("_asum"),
        nw.len().alias("_n"),
    )
    weighted = safe_div(nw.col("_wsum"), nw.col("_wden"))
    plain = safe_div(nw.col("_asum"), nw.col("_n"))
    return agg.select(
        *KEYS,
        nw.when(nw.col("_wden") > 0)
        .then(weighted)
        .otherwise(plain)
        .cast(nw.Float64)
        .alias("deployment_activation"),
    )


def deployment_features(ctx: Context, config: FeatureConfig) -> nw.LazyFrame:
    """Per pair: ``deployment_activation`` and ``_activation_before`` (as of
    ``as_of − activation_trend_days``, which reads only records before that date)."""
    now = account_activation(ctx, config)
    shift = config.activation_trend_days
    before = (
        account_activation(ctx.shifted(shift), config)
        .with_columns(nw.col("_t") + shift)
        .rename({"deployment_activation": "_activation_before"})
    )
    return now.join(before, on=KEYS, how="left")
