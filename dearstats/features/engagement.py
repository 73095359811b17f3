"""Engagement: are we multithreaded to the people with influence, on cadence?

A *touch* is a contact taking part in an activity (``activity_contacts`` joined to
``activities``), dated by the activity's ``date`` and credited to the activity's account.
Contacts are undated: every contact of a visible account counts. Distinct counts ignore
null ``contact_id`` on every engine.
"""

from __future__ import annotations

import narwhals as nw

from dearstats.features._config import FeatureConfig
from dearstats.features._core import (
    KEYS,
    Context,
    before_join,
    distinct,
    flag,
    floor_div,
    window_join,
)

__all__ = ["engagement_parts", "key_contact_counts"]


def _touches(ctx: Context) -> nw.LazyFrame:
    """Distinct (account_id, contact_id, _day) of contacts in activities."""
    activities = ctx.table("activities", ["activity_id", "account_id", "date"])
    links = ctx.table("activity_contacts", ["activity_id", "contact_id"]).filter(
        ~nw.col("contact_id").is_null()
    )
    return distinct(
        links.join(activities, on="activity_id", how="inner"), "account_id", "contact_id", "_day"
    )


def _key_contacts(ctx: Context, config: FeatureConfig) -> nw.LazyFrame:
    """Key contacts with their role's SLA in days (``_sla``)."""
    contacts = ctx.table("contacts", ["contact_id", "account_id", "role", "is_key"])
    sla = nw.lit(config.other_key_sla_days, dtype=nw.Int64)
    for role, days in sorted(config.role_sla.items(), reverse=True):
        sla = nw.when(nw.col("role") == role).then(nw.lit(days, dtype=nw.Int64)).otherwise(sla)
    return distinct(
        contacts.filter(nw.col("is_key").fill_null(False) & ~nw.col("contact_id").is_null()).select(
            "account_id", "contact_id", sla.alias("_sla")
        )
    )


def key_contact_counts(ctx: Context, config: FeatureConfig) -> nw.LazyFrame:
    """Per account (undated): ``_n_key``, its number of key contacts."""
    return _key_contacts(ctx, config).group_by("account_id").agg(nw.len().alias("_n_key"))


def engagement_parts(ctx: Context, config: FeatureConfig) -> list[nw.LazyFrame]:
    """Per pair: the parts of the engagement features, as three queries.

    * ``_touched``: key contacts in an activity within their role's SLA, i.e. dated in
      ``[as_of − sla(role), as_of)``; ``engagement_contacts_90d``: distinct non-null
      contacts in activities dated in ``[as_of − contacts_window_days, as_of)``;
    * ``_periods``: of the last ``sla_periods`` periods of ``sla_period_days`` days
      before ``as_of`` (period *k* = ``[as_of − k·p, as_of − (k−1)·p)``), those with at
      least one key-contact touch;
    * ``_sponsor_age``: days since the latest activity (before ``as_of``) with a contact
      of role ``sponsor_role``; ``_ebr_age``: days since the latest activity of type
      ``ebr_type`` before ``as_of``.
    """
    touches = _touches(ctx)
    key = _key_contacts(ctx, config)
    depth = max(config.max_sla_days, config.contacts_window_days)
    per_contact = (
        window_join(ctx, touches.join(key, on=["account_id", "contact_id"], how="left"), depth)
        .with_columns(
            flag(nw.col("_age") <= nw.col("_sla")).alias("_in_sla"),  # null SLA: not key
            flag(nw.col("_age") <= config.contacts_window_days).alias("_in_window"),
        )
        .group_by(*KEYS, "contact_id")
        .agg(nw.col("_in_sla").max(), nw.col("_in_window").max())
    )
    contacts = per_contact.group_by(*KEYS).agg(
        nw.col("_in_sla").sum().alias("_touched"),
        nw.col("_in_window").sum().alias("engagement_contacts_90d"),
    )
    p = config.sla_period_days
    key_days = touches.join(key, on=["account_id", "contact_id"], how="inner").select(
        "account_id", "_day"
    )
    periods = (
        distinct(
            window_join(ctx, distinct(key_days), p * config.sla_periods).select(
                *KEYS, floor_div(nw.col("_age") - 1, p).alias("_period")
            )
        )
        .group_by(*KEYS)
        .agg(nw.len().alias("_periods"))
    )
    sponsors = distinct(
        ctx.table("contacts", ["contact_id", "account_id", "role"]).filter(
            nw.col("role") == config.sponsor_role
        ),
        "account_id",
        "contact_id",
    )
    sponsor_days = touches.join(sponsors, on=["account_id", "contact_id"], how="inner").select(
        "account_id", "_day", nw.lit("sponsor").alias("_kind")
    )
    ebr_days = (
        ctx.table("activities", ["account_id", "date", "activity_type"])
        .filter(nw.col("activity_type") == config.ebr_type)
        .select("account_id", "_day", nw.lit("ebr").alias("_kind"))
    )
    events = distinct(nw.concat([sponsor_days, ebr_days], how="vertical"))
    latest = (
        before_join(ctx, events)
        .with_columns(
            nw.when(nw.col("_kind") == "sponsor").then(nw.col("_age")).alias("_sponsor_age"),
            nw.when(nw.col("_kind") == "ebr").then(nw.col("_age")).alias("_ebr_age"),
        )
        .group_by(*KEYS)
        .agg(nw.col("_sponsor_age").min(), nw.col("_ebr_age").min())
    )
    return [contacts, periods, latest]
