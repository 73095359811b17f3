"""Feature construction at scale: dearstats' DuckDB path against the alternatives.

Implementations, each run in a fresh process on the same Parquet book:

``dearstats``
    ``ds.read_book(folder, engine="duckdb", validate=False)`` then ``ds.build_features``
    (one ``as_of``) or ``ds.build_panel`` (12 month starts): the lazy narwhals queries on
    DuckDB relations reading the Parquet files.
``hand_sql``
    One hand-written DuckDB SQL statement over ``read_parquet`` computing the same feature
    definitions (:data:`dearstats.features.FEATURES`, :class:`FeatureConfig` windows) for
    every date at once: the practical limit of the engine.
``pandas``
    A straightforward pandas implementation: ``pd.read_parquet`` of every table, then
    boolean masks, ``groupby`` and ``merge``, one date at a time.
``spark``
    dearstats on PySpark ``local[2]``: ``spark.read.parquet`` per table, a book from the
    Spark frames, then the same ``build_features``/``build_panel`` (session start-up is
    timed separately).
``validate`` (informational, once)
    ``ds.read_book(folder)`` with validation on: not part of the comparison (the
    timed dearstats path reads with ``validate=False``, like the baselines, which validate
    nothing).

Every implementation's output is brought to the canonical form (``account_id``, ``as_of``,
then the registry's columns and dtypes, sorted by ``as_of``, ``account_id``) and compared
with dearstats' DuckDB output: integers and booleans exactly, floats to ``rtol=1e-9``.

Sizes (usage rows, from the simulator; the other tables scale with the accounts):
``smoke`` ~0.2 M (the CI test), ``quick`` ~10 M, ``full`` ~100 M. Books are generated once
with :func:`dearstats.simulation.write_book_parquet` (usage streamed to Parquet in
blocks of accounts) and cached under ``reports/bench/data/`` keyed by accounts, years and
seed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._common import (
    DEFAULT_OUT,
    cpu_seconds,
    machine_info,
    markdown_table,
    peak_rss_bytes,
    rss_now_bytes,
    run_child,
    write_report,
)

__all__ = [
    "IMPLEMENTATIONS",
    "SIZES",
    "WORKLOADS",
    "canonical",
    "compare",
    "duckdb_profile",
    "ensure_book",
    "hand_sql",
    "hand_sql_query",
    "pandas_features",
    "run",
]

MODULE = "benchmarks.features"


@dataclass(frozen=True)
class Size:
    """A benchmark book: ``n_accounts`` over ``years`` from ``start_year`` (about 5,000
    usage rows per account over six years with the default :class:`SimConfig`)."""

    name: str
    n_accounts: int
    years: int = 6
    start_year: int = 2020


SIZES: dict[str, Size] = {
    "smoke": Size("smoke", 40),
    "quick": Size("quick", 2_150),
    "full": Size("full", 21_500),
}

#: workload → the ``as_of`` dates (the book covers 2020-01-01 .. 2025-12-31)
WORKLOADS: dict[str, list[str]] = {
    "single": ["2025-07-01"],
    "panel12": [d.date().isoformat() for d in pd.date_range("2024-08-01", "2025-07-01", freq="MS")],
}

#: implementations in the comparison (``validate`` is reported apart)
IMPLEMENTATIONS = ("dearstats", "hand_sql", "pandas", "spark")
REFERENCE = "dearstats"
BASELINE = "hand_sql"

RTOL = 1e-9
ATOL = 1e-12


# ---------------------------------------------------------------------------------------
# the book


def ensure_book(size: Size, seed: int, data_dir: Path) -> tuple[Path, dict[str, int]]:
    """The cached Parquet book of ``size`` (generated on first use); its table row counts.

    The folder is ``data_dir/book-a<accounts>-y<years>-s<seed>``; ``_bench_book.json`` is
    written last, so an interrupted generation is redone.
    """
    folder = data_dir / f"book-a{size.n_accounts}-y{size.years}-s{seed}"
    marker = folder / "_bench_book.json"
    if marker.exists():
        return folder, json.loads(marker.read_text())["rows"]
    from dearstats.simulation import write_book_parquet

    start = time.perf_counter()
    book = write_book_parquet(
        folder,
        n_accounts=size.n_accounts,
        years=size.years,
        start_year=size.start_year,
        random_seed=seed,
    )
    info = {
        "rows": book.rows,
        "n_accounts": size.n_accounts,
        "years": size.years,
        "start_year": size.start_year,
        "random_seed": seed,
        "generate_s": time.perf_counter() - start,
        "generate_peak_rss_bytes": peak_rss_bytes(),
    }
    marker.write_text(json.dumps(info, indent=2) + "\n")
    return folder, book.rows


# ---------------------------------------------------------------------------------------
# the canonical output and the comparison


def _specs() -> list[Any]:
    from dearstats.features import feature_specs

    return list(feature_specs())


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """``account_id``, ``as_of`` and the registry's columns with its dtypes, sorted by
    (``as_of``, ``account_id``), fresh index. Accepts ``build_features`` output (indexed
    by ``account_id``) as well as flat frames."""
    if "account_id" not in frame.columns:
        frame = frame.reset_index()
    specs = _specs()
    order = ["account_id", *(s.name for s in specs)]
    out = frame[order].copy()
    out["account_id"] = out["account_id"].astype("str")
    out["as_of"] = pd.to_datetime(out["as_of"]).astype("datetime64[us]")
    for s in specs:
        if s.name == "as_of":
            continue
        col = out[s.name]
        if s.dtype == "str":
            out[s.name] = col.astype("str").where(col.notna())
        elif s.dtype == "bool":
            out[s.name] = col.astype("bool")
        elif s.dtype == "boolean":
            out[s.name] = col.astype("boolean")
        else:
            out[s.name] = col.astype(s.dtype)
    out = out.sort_values(["as_of", "account_id"], kind="stable").reset_index(drop=True)
    return out


def compare(ref: pd.DataFrame, got: pd.DataFrame) -> dict[str, Any]:
    """Equality of two canonical frames: ``equal``, ``max_abs_diff`` over float columns,
    and the columns that differ (with counts)."""
    out: dict[str, Any] = {"equal": False, "rows": len(got), "max_abs_diff": None}
    if list(ref.columns) != list(got.columns):
        out["detail"] = f"columns differ: {sorted(set(ref.columns) ^ set(got.columns))}"
        return out
    if len(ref) != len(got):
        out["detail"] = f"row count {len(got)} != {len(ref)}"
        return out
    keys_equal = ref["account_id"].equals(got["account_id"]) and ref["as_of"].equals(got["as_of"])
    if not keys_equal:
        out["detail"] = "the (as_of, account_id) keys differ"
        return out
    bad: dict[str, int] = {}
    max_diff = 0.0
    for col in ref.columns:
        a, b = ref[col], got[col]
        if pd.api.types.is_float_dtype(a.dtype):
            x, y = a.to_numpy(float), b.to_numpy(float)
            both = ~np.isnan(x) & ~np.isnan(y)
            if both.any():
                max_diff = max(max_diff, float(np.max(np.abs(x[both] - y[both]))))
            ok = np.isclose(x, y, rtol=RTOL, atol=ATOL, equal_nan=True)
            n_bad = int((~ok).sum())
        else:
            na_a, na_b = a.isna().to_numpy(), b.isna().to_numpy()
            same = na_a == na_b
            both = ~na_a & ~na_b
            same[both] &= a.to_numpy(object)[both] == b.to_numpy(object)[both]
            n_bad = int((~same).sum())
        if n_bad:
            bad[col] = n_bad
    out["max_abs_diff"] = max_diff
    out["mismatches"] = bad
    out["equal"] = not bad
    if bad:
        out["detail"] = "values differ: " + ", ".join(f"{c} ({n} rows)" for c, n in bad.items())
    return out


# ---------------------------------------------------------------------------------------
# the hand-written SQL


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def hand_sql_query(folder: Path, dates: list[str], config: Any = None) -> str:
    """One DuckDB statement computing every feature for every date in ``dates``.

    The definitions are those of :data:`dearstats.features.FEATURES` with the windows of
    ``config`` (:class:`FeatureConfig`, defaults if None): a record is visible as of ``t``
    when dated strictly before ``t``; "the last w days" is ``[t − w, t)``.
    """
    from dearstats.features import FeatureConfig

    c = config or FeatureConfig()
    src = {
        t: f"read_parquet({_q(str(folder / f'{t}.parquet'))})"
        for t in (
            "accounts",
            "contracts",
            "seat_snapshots",
            "contacts",
            "activities",
            "activity_contacts",
            "usage",
            "feature_catalog",
            "outcomes",
        )
    }
    values = ", ".join(f"(DATE {_q(d)})" for d in sorted(set(dates)))
    sla_case = (
        "CASE "
        + " ".join(f"WHEN role = {_q(r)} THEN {int(d)}" for r, d in sorted(c.role_sla.items()))
        + f" ELSE {int(c.other_key_sla_days)} END"
    )
    eng_depth = max(c.max_sla_days, c.contacts_window_days)
    per_depth = c.sla_period_days * c.sla_periods
    w, trend = c.adoption_window_days, c.adoption_trend_days
    types = ", ".join(_q(t) for t in c.activity_types)
    act_cols = ",\n        ".join(
        f"count(*) FILTER (WHERE activity_type = {_q(t)}) AS act_{t}" for t in c.activity_types
    )
    act_out = ",\n    ".join(f"coalesce(ac.act_{t}, 0) AS act_{t}" for t in c.activity_types)
    return f"""
WITH
dates(t) AS (VALUES {values}),
bounds AS (SELECT min(t) AS t0, max(t) AS t1 FROM dates),
-- evaluation dates of deployment: each t and t - activation_trend_days
sdates AS (
    SELECT DISTINCT s FROM (
        SELECT t AS s FROM dates UNION ALL SELECT t - {c.activation_trend_days} FROM dates)
),
pairs AS (
    SELECT a.account_id, d.t, a.segment, a.csm_id, a.created_date
    FROM {src["accounts"]} a JOIN dates d ON a.created_date < d.t
),
pop AS (
    SELECT p.account_id, p.t, any_value(p.segment) AS segment, any_value(p.csm_id) AS csm_id,
        any_value(p.created_date) AS created_date,
        sum(c.arr) AS arr, sum(c.seats) AS licensed_seats, min(c.start_date) AS first_start,
        min(c.end_date) AS next_end, count(DISTINCT c.product) AS n_products
    FROM pairs p JOIN {src["contracts"]} c
        ON c.account_id = p.account_id AND c.start_date < p.t AND c.end_date >= p.t
    GROUP BY p.account_id, p.t
    HAVING sum(c.arr) > 0
),
-- deployment: activation per live product from its latest recent seat snapshot
prod AS (
    SELECT c.account_id, d.s, c.product, sum(c.arr) AS arr_p, sum(c.seats) AS seats_p
    FROM {src["contracts"]} c JOIN sdates d ON c.start_date < d.s AND c.end_date >= d.s
    WHERE c.product IS NOT NULL
    GROUP BY ALL
),
snap AS (
    SELECT x.account_id, x.product, d.s, arg_max(x.seats_active, x.date) AS seats_active
    FROM {src["seat_snapshots"]} x
    JOIN sdates d ON x.date < d.s AND x.date >= d.s - {c.snapshot_max_age_days}
    GROUP BY ALL
),
pact AS (
    SELECT account_id, s, arr_p, CASE WHEN r > 1.0 THEN 1.0::DOUBLE ELSE r END AS activation
    FROM (
        SELECT p.account_id, p.s, p.arr_p,
            x.seats_active::DOUBLE / nullif(p.seats_p, 0)::DOUBLE AS r
        FROM prod p LEFT JOIN snap x USING (account_id, product, s)
    )
),
act AS (
    SELECT account_id, s,
        CASE WHEN sum(arr_p) > 0 THEN sum(arr_p * activation) / sum(arr_p)
             ELSE avg(activation) END AS activation
    FROM pact WHERE activation IS NOT NULL
    GROUP BY ALL
),
-- engagement
touches AS (
    SELECT DISTINCT a.account_id, l.contact_id, a.date
    FROM {src["activity_contacts"]} l JOIN {src["activities"]} a USING (activity_id)
    WHERE l.contact_id IS NOT NULL AND a.date < (SELECT t1 FROM bounds)
),
keyc AS (
    SELECT DISTINCT account_id, contact_id, {sla_case} AS sla
    FROM {src["contacts"]}
    WHERE coalesce(is_key, false) AND contact_id IS NOT NULL
),
nkey AS (SELECT account_id, count(*) AS n_key FROM keyc GROUP BY ALL),
eng AS (
    SELECT tc.account_id, d.t,
        count(DISTINCT tc.contact_id) FILTER (WHERE d.t - tc.date <= k.sla) AS touched,
        count(DISTINCT tc.contact_id)
            FILTER (WHERE d.t - tc.date <= {c.contacts_window_days}) AS contacts_90d
    FROM touches tc JOIN dates d ON tc.date < d.t AND tc.date >= d.t - {eng_depth}
    LEFT JOIN keyc k USING (account_id, contact_id)
    GROUP BY ALL
),
periods AS (
    SELECT kd.account_id, d.t,
        count(DISTINCT (d.t - kd.date - 1) // {c.sla_period_days}) AS periods
    FROM (SELECT DISTINCT account_id, date FROM touches JOIN keyc USING (account_id, contact_id)) kd
    JOIN dates d ON kd.date < d.t AND kd.date >= d.t - {per_depth}
    GROUP BY ALL
),
sponsor AS (
    SELECT p.account_id, p.t, p.t - max(x.date) AS sponsor_age
    FROM pop p JOIN (
        SELECT DISTINCT account_id, date FROM touches JOIN (
            SELECT DISTINCT account_id, contact_id FROM {src["contacts"]}
            WHERE role = {_q(c.sponsor_role)}) USING (account_id, contact_id)
    ) x ON x.account_id = p.account_id AND x.date < p.t
    GROUP BY p.account_id, p.t
),
ebr AS (
    SELECT p.account_id, p.t, p.t - max(x.date) AS ebr_age
    FROM pop p JOIN {src["activities"]} x
        ON x.account_id = p.account_id AND x.date < p.t AND x.activity_type = {_q(c.ebr_type)}
    GROUP BY p.account_id, p.t
),
-- adoption: usage pre-aggregated to (account, user, day) before the date join
user_days AS (
    SELECT u.account_id, u.user_id, u.date, max(coalesce(f.sticky, false)::INT) AS sticky
    FROM {src["usage"]} u LEFT JOIN {src["feature_catalog"]} f USING (feature)
    WHERE u.events > 0 AND u.user_id IS NOT NULL AND u.account_id IS NOT NULL
        AND u.date >= (SELECT t0 FROM bounds) - {trend} AND u.date < (SELECT t1 FROM bounds)
    GROUP BY ALL
),
per_user AS (
    SELECT ud.account_id, d.t, ud.user_id,
        max(CASE WHEN d.t - ud.date <= {w} THEN 1 ELSE 0 END) AS in30,
        max(CASE WHEN d.t - ud.date <= {w} THEN ud.sticky ELSE 0 END) AS st,
        sum(CASE WHEN d.t - ud.date <= {w} THEN 1 ELSE 0 END) AS d30,
        sum(CASE WHEN d.t - ud.date > {w} THEN 1 ELSE 0 END) AS dprior
    FROM user_days ud JOIN dates d ON ud.date < d.t AND ud.date >= d.t - {trend}
    GROUP BY ALL
),
adopt AS (
    SELECT account_id, t, sum(in30) AS users_30, sum(st) AS sticky_users,
        sum(d30) AS user_days_30, sum(dprior) AS user_days_prior
    FROM per_user GROUP BY ALL
),
members AS (
    SELECT DISTINCT feature, workflow FROM {src["feature_catalog"]}
    WHERE workflow IS NOT NULL AND feature IS NOT NULL
),
sizes AS (SELECT workflow, count(*) AS size FROM members GROUP BY ALL),
nwf AS (
    SELECT count(DISTINCT workflow) AS n_wf FROM {src["feature_catalog"]}
    WHERE workflow IS NOT NULL
),
wf AS (
    SELECT account_id, t, count(*) AS workflows_done FROM (
        SELECT fd.account_id, d.t, m.workflow, count(DISTINCT fd.feature) AS used
        FROM (
            SELECT DISTINCT account_id, feature, date FROM {src["usage"]}
            WHERE events > 0 AND user_id IS NOT NULL AND account_id IS NOT NULL
                AND date >= (SELECT t0 FROM bounds) - {w} AND date < (SELECT t1 FROM bounds)
        ) fd
        JOIN members m USING (feature)
        JOIN dates d ON fd.date < d.t AND fd.date >= d.t - {w}
        GROUP BY ALL
    ) JOIN sizes USING (workflow)
    WHERE used >= size
    GROUP BY ALL
),
-- ROI: outcomes as they stood at t
roi_rows AS (
    SELECT p.account_id, p.t, o.created_date, o.target_date, o.verified_date,
        CASE WHEN o.verified_date >= p.t
              OR (o.status IN ('missed', 'abandoned') AND o.target_date >= p.t)
             THEN 'open' ELSE o.status END AS st
    FROM pop p JOIN {src["outcomes"]} o ON o.account_id = p.account_id AND o.created_date < p.t
),
roi_flags AS (
    SELECT *,
        coalesce(st = 'verified' AND verified_date < t, false) AS v,
        coalesce(st = 'open', false) AS op,
        coalesce(target_date < t AND t - target_date <= {c.roi_window_days}, false) AS due
    FROM roi_rows
),
roi AS (
    SELECT account_id, t,
        count(*) FILTER (WHERE v AND t - verified_date <= {c.roi_verified_days}) AS verified_90d,
        count(*) FILTER (WHERE op AND target_date < t) AS overdue,
        count(*) FILTER (WHERE op) AS open,
        count(*) FILTER (WHERE due) AS due,
        count(*) FILTER (WHERE due AND v) AS due_verified,
        count(*) FILTER (WHERE due AND v AND verified_date <= target_date) AS due_on_time,
        min(t - verified_date) FILTER (WHERE v) AS verified_age,
        bool_or(coalesce(t - created_date <= {c.roi_window_days}, false) OR op) AS has_plan
    FROM roi_flags GROUP BY ALL
),
-- activities in the window, by type
acts AS (
    SELECT a.account_id, d.t,
        {act_cols},
        count(*) FILTER (WHERE activity_type IS NULL OR activity_type NOT IN ({types}))
            AS act_other
    FROM {src["activities"]} a
    JOIN dates d ON a.date < d.t AND a.date >= d.t - {c.activity_window_days}
    GROUP BY ALL
)
SELECT
    p.account_id,
    p.t AS as_of,
    p.arr::DOUBLE AS arr,
    p.segment,
    p.csm_id,
    p.t - p.created_date AS tenure_days,
    p.next_end - p.t AS days_to_renewal,
    p.n_products,
    p.licensed_seats,
    a0.activation AS deployment_activation,
    a0.activation - a1.activation AS deployment_activation_trend,
    p.t - p.first_start AS deployment_days_since_start,
    a0.activation < {float(c.shelfware_threshold)} AS deployment_shelfware,
    coalesce(e.touched, 0)::DOUBLE / nullif(nk.n_key, 0) AS engagement_key_coverage,
    coalesce(nk.n_key, 0) AS engagement_key_contacts,
    sp.sponsor_age::DOUBLE AS engagement_days_since_sponsor,
    coalesce(e.contacts_90d, 0) AS engagement_contacts_90d,
    CASE WHEN nk.n_key > 0 THEN coalesce(pe.periods, 0)::DOUBLE / {c.sla_periods} END
        AS engagement_sla_compliance,
    eb.ebr_age::DOUBLE AS engagement_days_since_ebr,
    coalesce(ad.users_30, 0) AS adoption_users_30d,
    CASE WHEN p.licensed_seats <> 0
        THEN least(1.0::DOUBLE, coalesce(ad.users_30, 0)::DOUBLE / p.licensed_seats) END
        AS adoption_breadth,
    CASE WHEN ad.users_30 > 0 THEN (ad.user_days_30::DOUBLE / {w}) / ad.users_30 ELSE 0.0 END
        AS adoption_dau_mau,
    CASE WHEN ad.users_30 > 0 THEN ad.sticky_users::DOUBLE / ad.users_30 ELSE 0.0 END
        AS adoption_sticky_share,
    coalesce(wf.workflows_done, 0)::DOUBLE / nullif((SELECT n_wf FROM nwf), 0)
        AS adoption_workflow_share,
    (coalesce(ad.user_days_30, 0)::DOUBLE / {w})
        / nullif(coalesce(ad.user_days_prior, 0)::DOUBLE / {trend - w}, 0) AS adoption_trend,
    coalesce(r.verified_90d, 0) AS roi_verified_90d,
    coalesce(r.due_verified, 0)::DOUBLE / nullif(r.due, 0) AS roi_verified_share_due,
    coalesce(r.due_on_time, 0)::DOUBLE / nullif(r.due, 0) AS roi_on_time_share_due,
    coalesce(r.overdue, 0) AS roi_overdue,
    coalesce(r.open, 0) AS roi_open,
    r.verified_age::DOUBLE AS roi_days_since_verified,
    coalesce(r.has_plan, false) AS roi_has_plan,
    {act_out},
    coalesce(ac.act_other, 0) AS act_other
FROM pop p
LEFT JOIN act a0 ON a0.account_id = p.account_id AND a0.s = p.t
LEFT JOIN act a1 ON a1.account_id = p.account_id AND a1.s = p.t - {c.activation_trend_days}
LEFT JOIN nkey nk ON nk.account_id = p.account_id
LEFT JOIN eng e ON e.account_id = p.account_id AND e.t = p.t
LEFT JOIN periods pe ON pe.account_id = p.account_id AND pe.t = p.t
LEFT JOIN sponsor sp ON sp.account_id = p.account_id AND sp.t = p.t
LEFT JOIN ebr eb ON eb.account_id = p.account_id AND eb.t = p.t
LEFT JOIN adopt ad ON ad.account_id = p.account_id AND ad.t = p.t
LEFT JOIN wf ON wf.account_id = p.account_id AND wf.t = p.t
LEFT JOIN roi r ON r.account_id = p.account_id AND r.t = p.t
LEFT JOIN acts ac ON ac.account_id = p.account_id AND ac.t = p.t
ORDER BY p.t, p.account_id
"""


def hand_sql(folder: Path, dates: list[str], *, explain: bool = False) -> pd.DataFrame:
    """Run :func:`hand_sql_query` on a fresh in-memory DuckDB connection (default settings,
    as ``read_book`` uses); the result as a pandas frame (not yet canonical)."""
    import duckdb

    con = duckdb.connect()
    try:
        query = hand_sql_query(folder, dates)
        return con.sql(query).to_arrow_table().to_pandas()
    finally:
        con.close()


# ---------------------------------------------------------------------------------------
# the straightforward pandas implementation


def _read_pandas(folder: Path) -> dict[str, pd.DataFrame]:
    dates = {
        "accounts": ["created_date"],
        "contracts": ["start_date", "end_date"],
        "seat_snapshots": ["date"],
        "activities": ["date"],
        "usage": ["date"],
        "outcomes": ["created_date", "target_date", "verified_date"],
    }
    columns = {"usage": ["account_id", "user_id", "date", "feature", "events"]}
    out = {}
    for name in (
        "accounts",
        "contracts",
        "seat_snapshots",
        "contacts",
        "activities",
        "activity_contacts",
        "usage",
        "feature_catalog",
        "outcomes",
    ):
        df = pd.read_parquet(folder / f"{name}.parquet", columns=columns.get(name))
        for col in dates.get(name, []):
            df[col] = pd.to_datetime(df[col])
        out[name] = df
    return out


def _days(delta: pd.Series) -> pd.Series:
    return delta.dt.days


def _pandas_activation(t: dict[str, pd.DataFrame], s: pd.Timestamp, c: Any) -> pd.Series:
    """ARR-weighted activation per account as of ``s``."""
    con = t["contracts"]
    live = con[(con["start_date"] < s) & (con["end_date"] >= s) & con["product"].notna()]
    prod = live.groupby(["account_id", "product"]).agg(
        arr_p=("arr", "sum"), seats_p=("seats", "sum")
    )
    sn = t["seat_snapshots"]
    sn = sn[(sn["date"] < s) & (sn["date"] >= s - pd.Timedelta(days=c.snapshot_max_age_days))]
    latest = (
        sn.sort_values("date")
        .groupby(["account_id", "product"])
        .tail(1)
        .set_index(["account_id", "product"])["seats_active"]
    )
    prod = prod.join(latest, how="left")
    ratio = prod["seats_active"].astype(float) / prod["seats_p"].where(prod["seats_p"] != 0)
    prod["activation"] = ratio.clip(upper=1.0)
    prod = prod.dropna(subset=["activation"])
    prod["w"] = prod["arr_p"] * prod["activation"]
    g = prod.groupby("account_id")
    wsum, wden = g["w"].sum(), g["arr_p"].sum()
    mean = g["activation"].sum() / g["activation"].count()
    return (wsum / wden.where(wden != 0)).where(wden > 0, mean)


def _pandas_one(t: dict[str, pd.DataFrame], extra: dict[str, Any], at: str, c: Any) -> pd.DataFrame:
    """Every feature as of one date, pandas only."""
    T = pd.Timestamp(at)
    day = pd.Timedelta(days=1)

    # population and context
    acc = t["accounts"][t["accounts"]["created_date"] < T].set_index("account_id")
    con = t["contracts"]
    live = con[(con["start_date"] < T) & (con["end_date"] >= T)]
    live = live[live["account_id"].isin(acc.index)]
    pop = live.groupby("account_id").agg(
        arr=("arr", "sum"),
        licensed_seats=("seats", "sum"),
        first_start=("start_date", "min"),
        next_end=("end_date", "min"),
        n_products=("product", "nunique"),
    )
    pop = pop[pop["arr"] > 0].join(acc[["segment", "csm_id", "created_date"]], how="inner")
    out = pd.DataFrame(index=pop.index)
    out["as_of"] = T
    out["arr"] = pop["arr"].astype(float)
    out["segment"] = pop["segment"]
    out["csm_id"] = pop["csm_id"]
    out["tenure_days"] = _days(T - pop["created_date"])
    out["days_to_renewal"] = _days(pop["next_end"] - T)
    out["n_products"] = pop["n_products"]
    seats = pop["licensed_seats"]
    out["licensed_seats"] = seats

    # deployment
    now = _pandas_activation(t, T, c).reindex(out.index)
    before = _pandas_activation(t, T - c.activation_trend_days * day, c).reindex(out.index)
    out["deployment_activation"] = now
    out["deployment_activation_trend"] = now - before
    out["deployment_days_since_start"] = _days(T - pop["first_start"])
    out["deployment_shelfware"] = (now < c.shelfware_threshold).astype("boolean").mask(now.isna())

    # engagement
    touches, key = extra["touches"], extra["key"]
    n_key = key.groupby("account_id").size().reindex(out.index).fillna(0)
    depth = max(c.max_sla_days, c.contacts_window_days)
    tw = touches[(touches["date"] < T) & (touches["date"] >= T - depth * day)].copy()
    tw["age"] = _days(T - tw["date"])
    tw = tw.merge(key, on=["account_id", "contact_id"], how="left")
    touched = tw[tw["age"] <= tw["sla"]].groupby("account_id")["contact_id"].nunique()
    c90 = tw[tw["age"] <= c.contacts_window_days].groupby("account_id")["contact_id"].nunique()
    touched = touched.reindex(out.index).fillna(0)
    out["engagement_key_coverage"] = touched / n_key.where(n_key != 0)
    out["engagement_key_contacts"] = n_key
    per = c.sla_period_days
    kd = extra["key_days"]
    kd = kd[(kd["date"] < T) & (kd["date"] >= T - per * c.sla_periods * day)]
    period = (_days(T - kd["date"]) - 1) // per
    periods = period.groupby(kd["account_id"]).nunique().reindex(out.index).fillna(0)
    sp = extra["sponsor_days"]
    sp = sp[sp["date"] < T].groupby("account_id")["date"].max()
    out["engagement_days_since_sponsor"] = _days(T - sp).reindex(out.index).astype(float)
    out["engagement_contacts_90d"] = c90.reindex(out.index).fillna(0)
    out["engagement_sla_compliance"] = (periods / c.sla_periods).where(n_key > 0)
    eb = extra["ebr_days"]
    eb = eb[eb["date"] < T].groupby("account_id")["date"].max()
    out["engagement_days_since_ebr"] = _days(T - eb).reindex(out.index).astype(float)

    # adoption
    w, trend = c.adoption_window_days, c.adoption_trend_days
    u = t["usage"]
    u = u[
        (u["date"] < T)
        & (u["date"] >= T - trend * day)
        & (u["events"] > 0)
        & u["user_id"].notna()
        & u["account_id"].notna()
    ]
    u = u.merge(extra["sticky"], on="feature", how="left")
    u["sticky"] = u["sticky"].fillna(0)
    ud = u.groupby(["account_id", "user_id", "date"], as_index=False)["sticky"].max()
    ud["age"] = _days(T - ud["date"])
    recent = ud[ud["age"] <= w]
    users = recent.groupby("account_id")["user_id"].nunique().reindex(out.index).fillna(0)
    sticky_users = (
        (recent[recent["sticky"] > 0].groupby("account_id")["user_id"].nunique())
        .reindex(out.index)
        .fillna(0)
    )
    ud30 = recent.groupby("account_id").size().reindex(out.index).fillna(0)
    prior = ud[ud["age"] > w].groupby("account_id").size().reindex(out.index).fillna(0)
    has = users > 0
    out["adoption_users_30d"] = users
    out["adoption_breadth"] = (users / seats.where(seats != 0)).clip(upper=1.0)
    out["adoption_dau_mau"] = ((ud30 / w) / users.where(has)).where(has, 0.0)
    out["adoption_sticky_share"] = (sticky_users / users.where(has)).where(has, 0.0)
    fd = u[u["date"] >= T - w * day][["account_id", "feature"]].drop_duplicates()
    fd = fd.merge(extra["members"], on="feature", how="inner")
    used = fd.groupby(["account_id", "workflow"])["feature"].nunique().rename("used").reset_index()
    used = used.merge(extra["sizes"], on="workflow", how="inner")
    done = used[used["used"] >= used["size"]].groupby("account_id").size()
    done = done.reindex(out.index).fillna(0)
    n_wf = extra["n_workflows"]
    out["adoption_workflow_share"] = done / n_wf if n_wf else np.nan
    prior_rate = prior / (trend - w)
    out["adoption_trend"] = (ud30 / w) / prior_rate.where(prior_rate != 0)

    # ROI: outcomes as they stood at T
    o = t["outcomes"]
    o = o[(o["created_date"] < T) & o["account_id"].isin(out.index)].copy()
    late = (o["verified_date"] >= T).fillna(False)
    pending = o["status"].isin(["missed", "abandoned"]) & (o["target_date"] >= T)
    status = o["status"].where(~(late | pending), "open")
    verified = (status == "verified") & (o["verified_date"] < T)
    is_open = status == "open"
    age_target = _days(T - o["target_date"])
    age_verified = _days(T - o["verified_date"])
    due = (o["target_date"] < T) & (age_target <= c.roi_window_days)
    flags = pd.DataFrame(
        {
            "account_id": o["account_id"],
            "roi_verified_90d": verified & (age_verified <= c.roi_verified_days),
            "roi_overdue": is_open & (o["target_date"] < T),
            "roi_open": is_open,
            "due": due,
            "due_verified": due & verified,
            "due_on_time": due & verified & (o["verified_date"] <= o["target_date"]),
            "plan": (_days(T - o["created_date"]) <= c.roi_window_days) | is_open,
        }
    )
    g = flags.groupby("account_id")
    sums = g.sum().reindex(out.index).fillna(0)
    v_age = age_verified.where(verified).groupby(o["account_id"]).min().reindex(out.index)
    out["roi_verified_90d"] = sums["roi_verified_90d"]
    out["roi_verified_share_due"] = sums["due_verified"] / sums["due"].where(sums["due"] != 0)
    out["roi_on_time_share_due"] = sums["due_on_time"] / sums["due"].where(sums["due"] != 0)
    out["roi_overdue"] = sums["roi_overdue"]
    out["roi_open"] = sums["roi_open"]
    out["roi_days_since_verified"] = v_age.astype(float)
    out["roi_has_plan"] = sums["plan"] > 0

    # activities
    a = t["activities"]
    a = a[(a["date"] < T) & (a["date"] >= T - c.activity_window_days * day)]
    kind = a["activity_type"].where(a["activity_type"].isin(list(c.activity_types)), "other")
    counts = pd.crosstab(a["account_id"], kind)
    for col in c.activity_columns:
        name = col.removeprefix("act_")
        series = counts[name] if name in counts else pd.Series(dtype=float)
        out[col] = series.reindex(out.index).fillna(0)
    return out.reset_index()


def pandas_features(folder: Path, dates: list[str]) -> pd.DataFrame:
    """The pandas baseline: read every table, then one date at a time."""
    from dearstats.features import FeatureConfig

    c = FeatureConfig()
    t = _read_pandas(folder)
    links = t["activity_contacts"]
    touches = (
        links[links["contact_id"].notna()]
        .merge(t["activities"][["activity_id", "account_id", "date"]], on="activity_id")[
            ["account_id", "contact_id", "date"]
        ]
        .drop_duplicates()
    )
    contacts = t["contacts"]
    key = contacts[contacts["is_key"].fillna(False).astype(bool) & contacts["contact_id"].notna()]
    sla = key["role"].map(c.role_sla).fillna(c.other_key_sla_days)
    key = key.assign(sla=sla)[["account_id", "contact_id", "sla"]].drop_duplicates()
    sponsors = contacts[contacts["role"] == c.sponsor_role][["account_id", "contact_id"]]
    acts = t["activities"]
    cat = t["feature_catalog"]
    members = cat[cat["workflow"].notna() & cat["feature"].notna()][["feature", "workflow"]]
    members = members.drop_duplicates()
    extra = {
        "touches": touches,
        "key": key,
        "key_days": touches.merge(key, on=["account_id", "contact_id"])[
            ["account_id", "date"]
        ].drop_duplicates(),
        "sponsor_days": touches.merge(sponsors.drop_duplicates(), on=["account_id", "contact_id"]),
        "ebr_days": acts[acts["activity_type"] == c.ebr_type][["account_id", "date"]],
        "sticky": cat[["feature"]].assign(sticky=cat["sticky"].fillna(False).astype(int)),
        "members": members,
        "sizes": members.groupby("workflow").size().rename("size").reset_index(),
        "n_workflows": int(cat["workflow"].dropna().nunique()),
    }
    frames = [_pandas_one(t, extra, d, c) for d in sorted(set(dates))]
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------
# dearstats on DuckDB and on PySpark


def dearstats_features(folder: Path, dates: list[str]) -> pd.DataFrame:
    import dearstats as ds

    book = ds.read_book(folder, engine="duckdb", validate=False)
    if len(dates) == 1:
        return ds.build_features(book, as_of=dates[0])
    return ds.build_panel(book, dates=dates)


def _spark_book(folder: Path) -> Any:
    import dearstats as ds
    from dearstats._schema import TABLE_NAMES
    from dearstats._spark import spark_session

    spark = spark_session()
    frames = {t: spark.read.parquet(str(folder / f"{t}.parquet")) for t in TABLE_NAMES}
    return ds.read_book(frames, validate=False)


def spark_features(book: Any, dates: list[str]) -> pd.DataFrame:
    import dearstats as ds

    if len(dates) == 1:
        return ds.build_features(book, as_of=dates[0])
    return ds.build_panel(book, dates=dates)


# ---------------------------------------------------------------------------------------
# profiling of the dearstats DuckDB path


def duckdb_profile(sql: str, top: int = 6) -> dict[str, Any]:
    """Run ``sql`` on a fresh DuckDB connection with the JSON profiler on: wall, CPU and
    planning time and the ``top`` most expensive operators (type, seconds, rows out,
    filters/conditions/groups)."""
    import tempfile

    import duckdb

    with tempfile.TemporaryDirectory(prefix="dearstats-prof-") as tmp:
        target = Path(tmp) / "profile.json"
        con = duckdb.connect()
        try:
            con.execute("SET enable_profiling = 'json'")
            con.execute(f"SET profiling_output = {_q(str(target))}")
            start = time.perf_counter()
            con.sql(sql).to_arrow_table()
            wall = time.perf_counter() - start
        finally:
            con.close()
        data = json.loads(target.read_text())
    ops: list[dict[str, Any]] = []
    keys = ("Function", "Filters", "Conditions", "Join Type", "Groups", "Aggregates", "Projections")

    def walk(node: dict[str, Any]) -> None:
        info = node.get("extra_info") or {}
        ops.append(
            {
                "operator": node.get("type"),
                "seconds": float(node.get("timing") or 0.0),
                "rows": node.get("intermediate_rows"),
                "rows_scanned": node.get("rows_scanned"),
                "detail": "; ".join(f"{k}: {str(info[k])[:160]}" for k in keys if info.get(k)),
            }
        )
        for child in node.get("children", []):
            walk(child)

    for node in data.get("operator", []):
        walk(node)
    ops.sort(key=lambda o: -o["seconds"])
    return {
        "wall_s": wall,
        "cpu_s": data.get("query", {}).get("cpu_time"),
        "plan_s": data.get("planner", {}).get("total_time", 0.0)
        + data.get("optimizer", {}).get("total_time", 0.0),
        "top_operators": ops[:top],
    }


def profile_dearstats(folder: Path, dates: list[str], out: Path | None = None) -> dict[str, Any]:
    """Where dearstats' DuckDB time goes: each lazy part of the build timed on its own
    (collected one by one, as ``build_features`` does), then the generated SQL of every
    part and the hand-written query profiled (DuckDB's JSON profiler: top operators).

    Uses dearstats internals (``dearstats.features.build._parts``), so it may need
    updating when those change; the benchmark proper does not depend on it.
    """
    import dearstats as ds
    from dearstats.book import to_date
    from dearstats.features import FeatureConfig
    from dearstats.features._core import dense_context
    from dearstats.features.build import _collect, _parts

    book = ds.read_book(folder, engine="duckdb", validate=False)
    cuts = sorted(to_date(d) for d in dates)
    ctx = dense_context(book.as_of(cuts[-1]), cuts)
    names = [
        "population",
        "deployment",
        "adoption",
        "workflows",
        "engagement_contacts",
        "engagement_periods",
        "engagement_latest",
        "roi",
        "activities",
    ]
    parts = []
    sqls = {}
    for name, lf in zip(names, _parts(ctx, FeatureConfig()), strict=False):
        cpu0, start = cpu_seconds(), time.perf_counter()
        frame = _collect(lf)
        elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu0
        sqls[name] = lf.to_native().sql_query()
        parts.append(
            {
                "part": name,
                "seconds": elapsed,
                "cpu_s": cpu,
                "rows": len(frame),
                "sql_chars": len(sqls[name]),
            }
        )
    result: dict[str, Any] = {
        "parts": parts,
        "total_s": sum(p["seconds"] for p in parts),
        "operators": {name: duckdb_profile(sql) for name, sql in sqls.items()},
    }
    result["operators"]["hand_sql"] = duckdb_profile(hand_sql_query(folder, dates))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name, sql in sqls.items():
            (out / f"part-{name}.sql").write_text(sql + "\n")
        (out / "hand_sql.sql").write_text(hand_sql_query(folder, dates) + "\n")
        (out / "operators.json").write_text(json.dumps(result["operators"], indent=2) + "\n")
    return result


# ---------------------------------------------------------------------------------------
# the child process: one implementation, one workload


def _child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE} child")
    parser.add_argument("--impl", required=True)
    parser.add_argument("--book", required=True, type=Path)
    parser.add_argument("--dates", required=True)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--profile-dir", type=Path)
    parser.add_argument("--result", required=True, type=Path)
    a = parser.parse_args(argv)
    dates = a.dates.split(",")
    t_import = time.perf_counter()
    # imports are not part of the measured time
    import duckdb  # noqa: F401

    import dearstats  # noqa: F401

    info: dict[str, Any] = {"impl": a.impl, "dates": dates}
    book = None
    if a.impl == "spark":
        start = time.perf_counter()
        book = _spark_book(a.book)
        info["spark_startup_s"] = time.perf_counter() - start
    info["import_s"] = time.perf_counter() - t_import
    info["rss_before_bytes"] = rss_now_bytes()
    cpu_start = cpu_seconds()
    start = time.perf_counter()
    frame: pd.DataFrame | None
    if a.impl == "dearstats":
        frame = dearstats_features(a.book, dates)
    elif a.impl == "hand_sql":
        frame = hand_sql(a.book, dates)
    elif a.impl == "pandas":
        frame = pandas_features(a.book, dates)
    elif a.impl == "spark":
        frame = spark_features(book, dates)
    elif a.impl == "validate":
        import dearstats as ds

        ds.read_book(a.book, engine="duckdb", validate=True)
        frame = None
    elif a.impl == "profile":
        info["profile"] = profile_dearstats(a.book, dates, a.profile_dir)
        frame = None
    else:
        raise SystemExit(f"unknown implementation {a.impl!r}")
    info["wall_s"] = time.perf_counter() - start
    # Spark: the work happens in the JVM, another process; the driver's CPU says nothing
    info["cpu_s"] = None if a.impl == "spark" else cpu_seconds() - cpu_start
    info["peak_rss_bytes"] = peak_rss_bytes()
    if frame is not None:
        frame = canonical(frame)
        info["rows_out"] = len(frame)
        if a.out is not None:
            a.out.parent.mkdir(parents=True, exist_ok=True)
            frame.to_parquet(a.out, index=False)
    if a.impl == "spark":
        from dearstats._spark import spark_session

        spark_session().stop()
    a.result.write_text(json.dumps(info))


# ---------------------------------------------------------------------------------------
# the parent: run, compare, report


def run(
    size: str = "quick",
    *,
    repeat: int = 3,
    impls: list[str] | None = None,
    workloads: list[str] | None = None,
    seed: int = 0,
    out_dir: Path = DEFAULT_OUT,
    data_dir: Path | None = None,
    profile: bool = False,
    validate: bool | None = None,
    timeout: float | None = 3600.0,
    log: Any = print,
) -> dict[str, Any]:
    """Run the features benchmark; write ``features-<size>.json``/``.md`` into ``out_dir``.

    ``impls`` defaults to every implementation (pandas is left out at ``full`` size: it
    reads the whole usage table into memory); ``repeat`` runs of each, interleaved, in
    fresh processes. The ratios use the best wall time of each implementation.
    """
    spec = SIZES[size]
    if validate is None:  # validation's key checks hash every usage row: not at full size
        validate = size != "full"
    impls = list(impls or [i for i in IMPLEMENTATIONS if not (size == "full" and i == "pandas")])
    unknown = sorted(set(impls) - set(IMPLEMENTATIONS))
    if unknown:
        raise ValueError(f"unknown implementations {unknown}; choose from {IMPLEMENTATIONS}")
    if REFERENCE not in impls:
        impls.insert(0, REFERENCE)
    workloads = list(workloads or WORKLOADS)
    data_dir = data_dir or out_dir / "data"
    name = f"features-{size}"
    work = out_dir / name
    machine_before = machine_info()

    start = time.perf_counter()
    folder, rows = ensure_book(spec, seed, data_dir)
    took = time.perf_counter() - start
    log(f"[{name}] book {folder} ({rows['usage']:,} usage rows), {took:.1f} s")
    n_usage = rows["usage"]

    runs: list[dict[str, Any]] = []
    for workload in workloads:
        dates = WORKLOADS[workload]
        for r in range(repeat):
            for impl in impls:
                if impl == "spark" and r > 0:
                    continue  # one Spark run: time reported, not the comparison's subject
                res = run_child(
                    MODULE,
                    [
                        "--impl",
                        impl,
                        "--book",
                        str(folder),
                        "--dates",
                        ",".join(dates),
                        "--out",
                        str(work / f"{workload}-{impl}.parquet"),
                    ],
                    timeout=timeout,
                )
                res.update(workload=workload, repeat=r)
                runs.append(res)
                log(
                    f"[{name}] {workload:8s} {impl:10s} run {r + 1}: {res['wall_s']:7.2f} s, "
                    f"peak RSS {res['peak_rss_bytes'] / 2**20:7.0f} MiB"
                )
    extra_runs: list[dict[str, Any]] = []
    if validate:
        res = run_child(
            MODULE,
            ["--impl", "validate", "--book", str(folder), "--dates", WORKLOADS["single"][0]],
            timeout=timeout,
        )
        extra_runs.append(res)
        log(f"[{name}] read_book(validate=True): {res['wall_s']:.2f} s")
    profile_result = None
    if profile:
        profile_result = {}
        for workload in workloads:
            res = run_child(
                MODULE,
                [
                    "--impl",
                    "profile",
                    "--book",
                    str(folder),
                    "--dates",
                    ",".join(WORKLOADS[workload]),
                    "--profile-dir",
                    str(out_dir / f"{name}-profile" / workload),
                ],
                timeout=timeout,
            )
            profile_result[workload] = res["profile"]
            log(
                f"[{name}] profile {workload}: "
                + ", ".join(f"{p['part']} {p['seconds']:.2f}s" for p in res["profile"]["parts"])
            )

    # summarise
    summary: list[dict[str, Any]] = []
    for workload in workloads:
        ref = pd.read_parquet(work / f"{workload}-{REFERENCE}.parquet")
        best: dict[str, float] = {}
        median: dict[str, float] = {}
        best_cpu: dict[str, float | None] = {}
        for impl in impls:
            mine = [x for x in runs if x["workload"] == workload and x["impl"] == impl]
            walls = [x["wall_s"] for x in mine]
            cpus = [x["cpu_s"] for x in mine if x.get("cpu_s") is not None]
            best[impl] = min(walls)
            median[impl] = statistics.median(walls)
            best_cpu[impl] = min(cpus) if cpus else None
            got = pd.read_parquet(work / f"{workload}-{impl}.parquet")
            cmp = compare(canonical(ref), canonical(got))
            row = {
                "workload": workload,
                "dates": len(WORKLOADS[workload]),
                "impl": impl,
                "runs": len(walls),
                "wall_best_s": min(walls),
                "wall_median_s": statistics.median(walls),
                "cpu_best_s": best_cpu[impl],
                "usage_rows": n_usage,
                "rows_per_s": n_usage / min(walls),
                "peak_rss_bytes": max(x["peak_rss_bytes"] for x in mine),
                "peak_rss_mib": max(x["peak_rss_bytes"] for x in mine) / 2**20,
                "rss_before_mib": (mine[0].get("rss_before_bytes") or 0) / 2**20,
                "import_s": mine[0].get("import_s"),
                "rows_out": cmp["rows"],
                "equal": cmp["equal"],
                "max_abs_diff": cmp["max_abs_diff"],
                "mismatch": cmp.get("detail"),
            }
            if impl == "spark":
                row["spark_startup_s"] = mine[0].get("spark_startup_s")
            summary.append(row)
        for row in summary:
            if row["workload"] != workload:
                continue
            row["ratio_vs_hand_sql"] = (
                row["wall_best_s"] / best[BASELINE] if BASELINE in best else None
            )
            row["dearstats_speedup"] = row["wall_best_s"] / best[REFERENCE]
            row["median_ratio_vs_hand_sql"] = (
                row["wall_median_s"] / median[BASELINE] if BASELINE in median else None
            )
            cpu, cpu_sql = best_cpu.get(row["impl"]), best_cpu.get(BASELINE)
            row["cpu_ratio_vs_hand_sql"] = cpu / cpu_sql if cpu and cpu_sql else None

    targets = _targets(summary, size)
    machine_after = machine_info()
    payload = {
        "benchmark": "features",
        "size": size,
        "book": {
            "path": str(folder),
            "rows": rows,
            "n_accounts": spec.n_accounts,
            "years": spec.years,
            "random_seed": seed,
        },
        "workloads": {w: WORKLOADS[w] for w in workloads},
        "repeat": repeat,
        "implementations": impls,
        "tolerance": {"rtol": RTOL, "atol": ATOL},
        "summary": summary,
        "targets": targets,
        "runs": runs,
        "validate": extra_runs,
        "profile": profile_result,
        "machine": machine_before,
        "load_average_after": machine_after["load_average"],
        "total_s": time.perf_counter() - start,
    }
    paths = write_report(name, payload, _markdown(payload), out_dir)
    log(f"[{name}] wrote " + ", ".join(str(p) for p in paths))
    return payload


def _targets(summary: list[dict[str, Any]], size: str) -> list[dict[str, Any]]:
    """The issue's acceptance targets, evaluated on this run (None: not measured)."""
    out = []
    by = {(r["workload"], r["impl"]): r for r in summary}
    for workload in sorted({r["workload"] for r in summary}):
        ds_row = by.get((workload, REFERENCE))
        sql = by.get((workload, BASELINE))
        pdr = by.get((workload, "pandas"))
        spark = by.get((workload, "spark"))
        if ds_row and sql:
            ratio = ds_row["wall_best_s"] / sql["wall_best_s"]
            out.append(
                {
                    "workload": workload,
                    "target": "dearstats within 1.25x of hand SQL",
                    "value": ratio,
                    "holds": ratio <= 1.25,
                }
            )
            med = ds_row.get("median_ratio_vs_hand_sql")
            if med is not None:
                out.append(
                    {
                        "workload": workload,
                        "target": "dearstats within 1.25x of hand SQL (median wall)",
                        "value": med,
                        "holds": med <= 1.25,
                    }
                )
            cpu = ds_row.get("cpu_ratio_vs_hand_sql")
            if cpu is not None:
                out.append(
                    {
                        "workload": workload,
                        "target": "dearstats within 1.25x of hand SQL (CPU time)",
                        "value": cpu,
                        "holds": cpu <= 1.25,
                    }
                )
        if ds_row and pdr:
            speed = pdr["wall_best_s"] / ds_row["wall_best_s"]
            out.append(
                {
                    "workload": workload,
                    "target": ">= 10x faster than pandas",
                    "value": speed,
                    "holds": speed >= 10.0,
                }
            )
        if ds_row:
            gib = ds_row["peak_rss_bytes"] / 2**30
            out.append(
                {
                    "workload": workload,
                    "target": "peak RSS <= 2 GiB (at >= 100M rows)",
                    "value": gib,
                    "holds": gib <= 2.0,
                }
            )
        if spark:
            out.append(
                {
                    "workload": workload,
                    "target": "PySpark results equal to DuckDB's",
                    "value": spark["max_abs_diff"],
                    "holds": bool(spark["equal"]),
                }
            )
        for impl in (BASELINE, "pandas"):
            row = by.get((workload, impl))
            if row:
                out.append(
                    {
                        "workload": workload,
                        "target": f"{impl} results equal to dearstats'",
                        "value": row["max_abs_diff"],
                        "holds": bool(row["equal"]),
                    }
                )
    return out


def _markdown(p: dict[str, Any]) -> str:
    rows = p["book"]["rows"]
    lines = [
        f"# Features benchmark — size `{p['size']}`",
        "",
        f"Book: {p['book']['n_accounts']:,} accounts, {p['book']['years']} years, seed "
        f"{p['book']['random_seed']}: **{rows['usage']:,} usage rows** (Parquet), "
        f"{rows['activities']:,} activities, {rows['seat_snapshots']:,} seat snapshots, "
        f"{rows['outcomes']:,} outcomes.",
        "Workloads: "
        + "; ".join(
            f"`{w}` = {len(d)} as_of date(s) {d[0]}{'…' + d[-1] if len(d) > 1 else ''}"
            for w, d in p["workloads"].items()
        )
        + ".",
        f"Each implementation ran {p['repeat']}× in a fresh process (Spark once), interleaved; "
        "wall and CPU time (user + system, all threads) exclude interpreter start and "
        "imports; rows/s = usage rows in the book / "
        "best wall time; peak RSS = the process's high-water mark (ru_maxrss). Ratios use the "
        "best wall times of this run. Machine: "
        f"{p['machine']['cpu_count']} CPUs, load average {p['machine']['load_average']} before, "
        f"{p['load_average_after']} after.",
        "",
        markdown_table(
            p["summary"],
            [
                ("workload", "workload"),
                ("impl", "implementation"),
                ("wall_best_s", "wall best (s)"),
                ("wall_median_s", "wall median (s)"),
                ("cpu_best_s", "CPU best (s)"),
                ("rows_per_s", "usage rows/s"),
                ("peak_rss_mib", "peak RSS (MiB)"),
                ("ratio_vs_hand_sql", "× hand SQL"),
                ("median_ratio_vs_hand_sql", "× hand SQL (median)"),
                ("cpu_ratio_vs_hand_sql", "× hand SQL (CPU)"),
                ("dearstats_speedup", "× dearstats"),
                ("rows_out", "feature rows"),
                ("equal", "equal to dearstats"),
                ("max_abs_diff", "max abs Δ"),
            ],
        ),
        "",
        "## Targets (issue 7)",
        "",
        markdown_table(
            p["targets"],
            [
                ("workload", "workload"),
                ("target", "target"),
                ("value", "measured"),
                ("holds", "holds"),
            ],
        ),
    ]
    if p.get("validate"):
        v = p["validate"][0]
        lines += [
            "",
            f"Informational: `read_book(folder)` with validation (not in the timed path): "
            f"{v['wall_s']:.2f} s, peak RSS {v['peak_rss_bytes'] / 2**20:.0f} MiB.",
        ]
    spark = [r for r in p["summary"] if r["impl"] == "spark"]
    if spark:
        lines += [
            "",
            "Spark session start-up (not in the wall time): "
            + ", ".join(f"{r['spark_startup_s']:.1f} s" for r in spark if r.get("spark_startup_s"))
            + ". Spark's peak RSS is the Python driver only (the JVM is a separate process).",
        ]
    bad = [r for r in p["summary"] if not r["equal"]]
    if bad:
        lines += ["", "## Mismatches", ""]
        lines += [f"- `{r['workload']}` {r['impl']}: {r['mismatch']}" for r in bad]
    if p.get("profile"):
        lines += ["", "## dearstats parts (DuckDB, collected one by one)", ""]
        for workload, prof in p["profile"].items():
            lines.append(f"`{workload}`: total {prof['total_s']:.2f} s")
            lines.append("")
            lines.append(
                markdown_table(
                    prof["parts"],
                    [
                        ("part", "part"),
                        ("seconds", "seconds"),
                        ("rows", "rows"),
                        ("sql_chars", "SQL chars"),
                    ],
                )
            )
            lines.append("")
            lines.append(
                "Most expensive DuckDB operators (JSON profiler; seconds are summed over threads):"
            )
            lines.append("")
            for part, prof_op in prof["operators"].items():
                ops = "; ".join(
                    f"{o['operator']} {o['seconds']:.2f}s ({o['rows']:,} rows"
                    + (f", {o['rows_scanned']:,} scanned" if o.get("rows_scanned") else "")
                    + ")"
                    for o in prof_op["top_operators"][:3]
                )
                lines.append(f"- `{part}` ({prof_op['wall_s']:.2f} s): {ops}")
            lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["child"]:
        _child(argv[1:])
        return 0
    from benchmarks.__main__ import main as cli

    return cli(["features", *argv])


if __name__ == "__main__":
    raise SystemExit(main())
