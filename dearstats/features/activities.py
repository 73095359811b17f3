"""Activities: what the CS team did with the account recently (``act_<type>`` counts)."""

from __future__ import annotations

import narwhals as nw

from dearstats.features._config import FeatureConfig
from dearstats.features._core import KEYS, Context, flag, window_join

__all__ = ["activity_counts"]


def activity_counts(ctx: Context, config: FeatureConfig) -> nw.LazyFrame:
    """Per pair: ``act_<type>`` for each configured type and ``act_other`` (every other
    type, null included).

    Reads ``activities`` dated in ``[as_of − activity_window_days, as_of)``; each activity
    counts once.
    """
    activities = ctx.table("activities", ["activity_id", "account_id", "date", "activity_type"])
    kind = nw.col("activity_type")
    known = kind.is_in(list(config.activity_types)).fill_null(False)
    flags = [flag(kind == t).alias(f"act_{t}") for t in config.activity_types]
    flags.append(flag(~known).alias("act_other"))
    return (
        window_join(ctx, activities, config.activity_window_days)
        .with_columns(*flags)
        .group_by(*KEYS)
        .agg(*(nw.col(c).sum() for c in config.activity_columns))
    )
