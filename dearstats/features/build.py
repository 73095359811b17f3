"""Public entry points: features as of a date, panels over many dates, renewal snapshots.

How the pieces fit
------------------
1. Pick the evaluation pairs ``(account_id, as_of)``: every account at one date
   (:func:`build_features`), at many (:func:`build_panel`), or each renewal's account at
   ``end_date − days_before`` (:func:`renewal_snapshots`).
2. Cut: :func:`build_features` and :func:`build_panel` first apply
   ``book.as_of(max date)`` — records dated on or after the (last) date are gone before
   anything is computed. Within a panel every join also keeps only records dated before
   each row's own date (see :mod:`dearstats.features._core`), so a panel equals the stack
   of single-date frames; a test checks it.
3. Compute each part (population, deployment, adoption, workflows, engagement ×3, ROI,
   activities) as a lazy narwhals query on the book's engine (pandas, Polars, DuckDB,
   PySpark) covering all dates at once, collect each small pairs × counts result to
   pandas, merge them there and derive the ratios and dtypes once, identically for every
   engine. Nothing larger than pairs × a few counts is ever collected.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from typing import Any

import narwhals as nw
import pandas as pd

from dearstats.book import Book, to_date
from dearstats.errors import InputError
from dearstats.features._config import FeatureConfig
from dearstats.features._core import (
    KEYS,
    Context,
    Tables,
    day_numbers,
    dense_context,
    distinct,
    from_day_numbers,
    sparse_context,
)
from dearstats.features._population import population
from dearstats.features._registry import feature_specs
from dearstats.features.activities import activity_counts
from dearstats.features.adoption import adoption_counts, n_workflows, workflow_counts
from dearstats.features.deployment import deployment_features, product_activation
from dearstats.features.engagement import engagement_parts, key_contact_counts
from dearstats.features.roi import roi_counts

__all__ = ["build_features", "build_panel", "deployment_by_product", "renewal_snapshots"]

#: string columns of the parts; every other column leaves the engine as float64
_STR_RAW = ("account_id", "segment", "csm_id", "product")


# ---------------------------------------------------------------------------------------
# public API


def build_features(book: Book, as_of: Any, *, config: FeatureConfig | None = None) -> pd.DataFrame:
    """DEAR features of every account with ARR > 0, as of a date.

    Parameters
    ----------
    book
        A :class:`dearstats.Book` on any engine (pandas, Polars, DuckDB, PySpark).
    as_of
        The cut (``'2025-01-01'``, a ``date``...). The book is cut first with
        ``book.as_of(as_of)``: no record dated on or after ``as_of`` is read. Windows end
        just before it: "the last 30 days" is ``[as_of − 30 d, as_of)``.
    config
        Windows, SLAs and thresholds (:class:`FeatureConfig`; defaults if omitted).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``account_id`` (sorted), one row per account with ARR on
        ``as_of − 1 day`` > 0 (contracts with ``start_date < as_of ≤ end_date``), columns
        as documented in :data:`FEATURES` (``as_of`` first). ``.attrs`` holds ``as_of``
        and the config.
    """
    config = _check(book, config)
    cut = to_date(as_of)
    ctx = dense_context(book.as_of(cut), [cut])
    frame = _features(ctx, config)
    frame = frame.set_index("account_id")
    frame.attrs = {"as_of": cut.date().isoformat(), "feature_config": config.as_dict()}
    return frame


def build_panel(
    book: Book,
    dates: Iterable[Any] | None = None,
    *,
    freq: str = "MS",
    start: Any = None,
    end: Any = None,
    config: FeatureConfig | None = None,
) -> pd.DataFrame:
    """Features as of many dates, stacked: one row per (date, account with ARR > 0).

    Parameters
    ----------
    dates
        The ``as_of`` dates. If omitted, ``pd.date_range(start, end, freq=freq)`` (both
        ends included when they fall on the frequency; default month starts).
    freq, start, end
        Used only when ``dates`` is omitted.
    config
        As in :func:`build_features`.

    Returns
    -------
    pandas.DataFrame
        Columns ``account_id``, ``as_of`` and the features, sorted by ``as_of`` then
        ``account_id``; equal to stacking :func:`build_features` at each date. The book is
        cut at the last date first and each row reads only records dated before its own
        ``as_of``. All dates are computed in one lazy query (windows are joined through a
        small date calendar), so the cost grows with the records, not records × dates.
    """
    config = _check(book, config)
    cuts = _panel_dates(dates, freq=freq, start=start, end=end)
    ctx = dense_context(book.as_of(cuts[-1]), cuts)
    frame = _features(ctx, config)
    frame.attrs = {
        "dates": [d.date().isoformat() for d in cuts],
        "feature_config": config.as_dict(),
    }
    return frame


def renewal_snapshots(
    book: Book,
    *,
    days_before: int = 90,
    start: Any = None,
    end: Any = None,
    config: FeatureConfig | None = None,
) -> pd.DataFrame:
    """Features of each renewal event as of ``days_before`` days before it.

    A renewal event is an (account, ``end_date``) of its contracts (contracts of one
    account ending the same day form one event). Its snapshot is the account's features
    as of ``renewal_date − days_before`` — reading only records dated before that.

    Parameters
    ----------
    days_before
        Days between the snapshot and the renewal (≥ 1).
    start, end
        Keep events with ``start ≤ renewal_date < end`` (either may be omitted).
    config
        As in :func:`build_features`.

    Returns
    -------
    pandas.DataFrame
        Columns ``account_id``, ``renewal_date``, ``as_of``, ``renewal_arr`` (Σ ``arr`` of
        the account's contracts ending on ``renewal_date`` that had started before
        ``as_of``) and the features; sorted by ``renewal_date``, ``account_id``. Events
        whose account had no ARR at ``as_of`` (e.g. a first contract shorter than
        ``days_before``) or did not exist yet have no snapshot and are not returned; the
        count left out is in ``.attrs["events_without_snapshot"]``.
    """
    config = _check(book, config)
    if isinstance(days_before, bool) or not isinstance(days_before, int) or days_before < 1:
        raise InputError(f"days_before={days_before!r} must be a whole number of days ≥ 1.")
    tables = Tables(book)
    contracts = tables("contracts", ["account_id", "start_date", "end_date", "arr"])
    events = distinct(contracts.select("account_id", nw.col("_end_date").alias("_renewal")))
    if start is not None:
        events = events.filter(nw.col("_renewal") >= day_numbers([to_date(start, name="start")])[0])
    if end is not None:
        events = events.filter(nw.col("_renewal") < day_numbers([to_date(end, name="end")])[0])
    pairs = events.with_columns((nw.col("_renewal") - days_before).alias("_t"))
    ctx = sparse_context(book, pairs, tables)
    renewal_arr = (
        contracts.join(ctx.pairs.select(*KEYS, "_renewal"), on="account_id", how="inner")
        .filter(
            (nw.col("_end_date") == nw.col("_renewal")) & (nw.col("_start_date") < nw.col("_t"))
        )
        .group_by(*KEYS)
        .agg(nw.col("arr").sum().alias("renewal_arr"))
    )
    frame = _features(ctx, config, extra=["_renewal", "renewal_arr"], extra_parts=[renewal_arr])
    n_events = int(events.select(nw.len()).collect().item())
    frame.insert(1, "renewal_date", from_day_numbers(frame.pop("_renewal")))
    frame.insert(3, "renewal_arr", frame.pop("renewal_arr").fillna(0.0).astype("float64"))
    frame = frame.sort_values(["renewal_date", "account_id"], kind="stable").reset_index(drop=True)
    frame.attrs = {
        "days_before": days_before,
        "events_without_snapshot": n_events - len(frame),
        "feature_config": config.as_dict(),
    }
    return frame


def deployment_by_product(
    book: Book, as_of: Any, *, config: FeatureConfig | None = None
) -> pd.DataFrame:
    """Deployment per live product of each account with ARR > 0, as of a date (long form).

    Columns: ``account_id``, ``product``, ``as_of``, ``arr`` and ``seats`` (Σ over the
    product's live contracts), ``seats_active`` and ``snapshot_date`` (latest snapshot in
    ``[as_of − snapshot_max_age_days, as_of)``, null if none) and ``activation``
    (``min(1, seats_active / seats)``; null without a snapshot or with 0 seats).
    """
    config = _check(book, config)
    cut = to_date(as_of)
    ctx = dense_context(book.as_of(cut), [cut])
    accounts = population(ctx).select(*KEYS)
    raw = _collect(
        product_activation(ctx, config)
        .join(accounts, on=KEYS, how="inner")
        .select(
            "account_id", "product", "arr_p", "seats_p", "seats_active", "_snap_day", "activation"
        )
    )
    out = pd.DataFrame(
        {
            "account_id": raw["account_id"].astype("str"),
            "product": raw["product"].astype("str"),
            "as_of": pd.Series(pd.Timestamp(cut), index=raw.index).astype("datetime64[us]"),
            "arr": raw["arr_p"].astype("float64"),
            "seats": raw["seats_p"].astype("int64"),
            "seats_active": raw["seats_active"].astype("Int64"),
            "snapshot_date": from_day_numbers(raw["_snap_day"]),
            "activation": raw["activation"].astype("float64"),
        }
    )
    return out.sort_values(["account_id", "product"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------
# internals


def _check(book: Any, config: FeatureConfig | None) -> FeatureConfig:
    if not isinstance(book, Book):
        raise InputError(
            f"expected a dearstats.Book; found {type(book).__name__}. Load one with "
            "ds.read_book(folder_or_frames)."
        )
    if config is None:
        return FeatureConfig()
    if not isinstance(config, FeatureConfig):
        raise InputError(
            f"config must be a FeatureConfig; found {type(config).__name__}. Build one "
            "with ds.FeatureConfig(...)."
        )
    return config


def _panel_dates(
    dates: Iterable[Any] | None, *, freq: str, start: Any, end: Any
) -> list[_dt.datetime]:
    if dates is None:
        if start is None or end is None:
            raise InputError(
                "build_panel needs dates=[...] or both start= and end= (with freq=, default "
                "'MS': month starts)."
            )
        try:
            rng = pd.date_range(to_date(start, name="start"), to_date(end, name="end"), freq=freq)
        except ValueError as exc:
            raise InputError(f"freq={freq!r} is not a pandas frequency ({exc}).") from exc
        dates = list(rng)
    elif isinstance(dates, (str, _dt.date)):
        dates = [dates]
    cuts = sorted({to_date(d, name="dates") for d in dates})
    if not cuts:
        raise InputError(
            f"build_panel: no dates (start={start!r}, end={end!r}, freq={freq!r}); pass "
            "at least one date."
        )
    return cuts


def _parts(ctx: Context, config: FeatureConfig) -> list[nw.LazyFrame]:
    """The lazy per-pair parts (each keyed by ``account_id``, ``_t``), population first."""
    return [
        population(ctx),
        deployment_features(ctx, config),
        adoption_counts(ctx, config),
        workflow_counts(ctx, config),
        *engagement_parts(ctx, config),
        roi_counts(ctx, config),
        activity_counts(ctx, config),
    ]


def _collect(lf: nw.LazyFrame) -> pd.DataFrame:
    """Collect a small lazy part to pandas; numbers leave the engine as float64 (exact for
    counts and day numbers, no DuckDB decimals, NaN for null on every engine)."""
    schema = lf.collect_schema()
    exprs = [nw.col(c) if c in _STR_RAW else nw.col(c).cast(nw.Float64) for c in schema.names()]
    # via Arrow: PySpark's toPandas() is not ready for pandas 3; toArrow() is
    out = lf.select(*exprs).collect(backend="pyarrow").to_native().to_pandas()
    if "_t" in out:
        out["_t"] = out["_t"].astype("int64")
    return out


def _features(
    ctx: Context,
    config: FeatureConfig,
    *,
    extra: list[str] | None = None,
    extra_parts: list[nw.LazyFrame] | None = None,
) -> pd.DataFrame:
    """Compute every part on the engine, collect each (one query per part, all dates at
    once; each result is at most pairs-sized) and derive the features in pandas.

    Parts are collected one by one rather than joined into a single query: the joined
    plan repeats the shared sub-plans (pairs, calendars) in every branch and grows too
    large for the planners, while each part alone is a modest query.
    """
    frames = [_collect(lf) for lf in [*_parts(ctx, config), *(extra_parts or [])]]
    raw = frames[0]
    for part in frames[1:]:
        raw = raw.merge(part, on=KEYS, how="left")
    raw = raw.merge(_collect(key_contact_counts(ctx, config)), on="account_id", how="left")
    raw["_n_workflows"] = float(_collect(n_workflows(ctx))["_n_workflows"].iloc[0])
    out = _derive(raw, config)
    for name in extra or []:
        out[name] = raw[name].to_numpy()
    return out.sort_values(["as_of", "account_id"], kind="stable").reset_index(drop=True)


def _num(raw: pd.DataFrame, name: str) -> pd.Series:
    """A raw column as float64 (NaN for null)."""
    return pd.to_numeric(raw[name]).astype("float64")


def _count(raw: pd.DataFrame, name: str) -> pd.Series:
    """A raw count as int64 (null → 0: no record in the window)."""
    return pd.to_numeric(raw[name]).fillna(0).astype("int64")


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """num / den, NaN where den is 0 or NaN."""
    den = den.astype("float64")
    return num.astype("float64") / den.where(den != 0)


def _derive(raw: pd.DataFrame, c: FeatureConfig) -> pd.DataFrame:
    """The documented feature columns from the raw counts (pandas, engine-independent)."""
    t = _count(raw, "_t")
    w = c.adoption_window_days
    users = _count(raw, "_users_30")
    seats = _count(raw, "licensed_seats")
    has_users = users > 0
    activation = _num(raw, "deployment_activation")
    n_key = _count(raw, "_n_key")
    due = _count(raw, "_due")
    n_wf = _count(raw, "_n_workflows")
    prior_rate = _count(raw, "_user_days_prior") / (c.adoption_trend_days - w)
    cols: dict[str, Any] = {
        "account_id": raw["account_id"].astype("str"),
        "as_of": from_day_numbers(t),
        "arr": _num(raw, "arr"),
        "segment": raw["segment"].astype("str"),
        "csm_id": raw["csm_id"].astype("str"),
        "tenure_days": (t - _count(raw, "_created")).astype("int64"),
        "days_to_renewal": (_count(raw, "_next_end") - t).astype("int64"),
        "n_products": _count(raw, "n_products"),
        "licensed_seats": seats,
        "deployment_activation": activation,
        "deployment_activation_trend": activation - _num(raw, "_activation_before"),
        "deployment_days_since_start": (t - _count(raw, "_first_start")).astype("int64"),
        "deployment_shelfware": (activation < c.shelfware_threshold)
        .astype("boolean")
        .mask(activation.isna()),
        "engagement_key_coverage": _ratio(_count(raw, "_touched"), n_key),
        "engagement_key_contacts": n_key,
        "engagement_days_since_sponsor": _num(raw, "_sponsor_age"),
        "engagement_contacts_90d": _count(raw, "engagement_contacts_90d"),
        "engagement_sla_compliance": (_count(raw, "_periods") / c.sla_periods).where(n_key > 0),
        "engagement_days_since_ebr": _num(raw, "_ebr_age"),
        "adoption_users_30d": users,
        "adoption_breadth": _ratio(users, seats).clip(upper=1.0),
        "adoption_dau_mau": (_ratio(_count(raw, "_user_days_30") / w, users)).where(has_users, 0.0),
        "adoption_sticky_share": _ratio(_count(raw, "_sticky_users"), users).where(has_users, 0.0),
        "adoption_workflow_share": _ratio(_count(raw, "_workflows_done"), n_wf),
        "adoption_trend": _ratio(_count(raw, "_user_days_30") / w, prior_rate),
        "roi_verified_90d": _count(raw, "roi_verified_90d"),
        "roi_verified_share_due": _ratio(_count(raw, "_due_verified"), due),
        "roi_on_time_share_due": _ratio(_count(raw, "_due_on_time"), due),
        "roi_overdue": _count(raw, "roi_overdue"),
        "roi_open": _count(raw, "roi_open"),
        "roi_days_since_verified": _num(raw, "_verified_age"),
        "roi_has_plan": _count(raw, "_has_plan") > 0,
    }
    for col in c.activity_columns:
        cols[col] = _count(raw, col)
    out = pd.DataFrame(cols, index=raw.index)
    out["csm_id"] = out["csm_id"].where(raw["csm_id"].notna())
    order = [s.name for s in feature_specs(c)]
    out = out[["account_id", *order]]
    return out.astype({s.name: s.dtype for s in feature_specs(c)})
