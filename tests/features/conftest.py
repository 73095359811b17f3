"""Fixtures for the feature tests: a hand-made book, a seeded random book, engine copies.

``feature_tables()`` is the hand-made book every per-feature test reads; its records are
dated relative to ``AS_OF`` with ``before(n)`` (``AS_OF − n days``) so the windows can be
checked by eye. ``random_tables(seed)`` draws a small valid book for parity and property
tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

from dearstats._schema import TABLE_NAMES, TABLES
from dearstats.book import Book, _empty_like, _to_arrow, read_book

D = pd.Timestamp
AS_OF = D("2024-07-01")
ENGINES = ("pandas", "polars", "duckdb", "pyspark")


def before(days: int) -> pd.Timestamp:
    """``AS_OF − days``."""
    return AS_OF - pd.Timedelta(days=days)


def frame(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A table from row dicts, with the contract's canonical dtypes."""
    if not rows:
        return _empty_like(name)
    df = pd.DataFrame(rows)
    for col in TABLES[name].columns:
        if col.name not in df:
            df[col.name] = None
        df[col.name] = df[col.name].astype(col.pandas_dtype)
    return df[list(TABLES[name].column_names)]


def make_book(tables: Mapping[str, pd.DataFrame], engine: str = "pandas") -> Book:
    """A book from (some of) the nine tables as pandas frames; missing ones are empty."""
    full = {n: tables.get(n, _empty_like(n)) for n in TABLE_NAMES}
    if engine == "pandas":
        return Book(full, source="test")
    if engine == "polars":
        return Book({n: pl.from_pandas(df) for n, df in full.items()}, source="test")
    if engine == "pyspark":
        from dearstats._spark import spark_session

        spark = spark_session()
        return Book({n: spark.createDataFrame(_to_arrow(n, df)) for n, df in full.items()})
    raise ValueError(engine)


def duckdb_book(tables: Mapping[str, pd.DataFrame], folder: Path) -> Book:
    """Write the tables with ``Book.to_parquet`` and read them back lazily on DuckDB."""
    make_book(tables).to_parquet(folder)
    return read_book(folder, validate=False)


def book_on(tables: Mapping[str, pd.DataFrame], engine: str, folder: Path) -> Book:
    return duckdb_book(tables, folder) if engine == "duckdb" else make_book(tables, engine)


# -- the hand-made book -------------------------------------------------------------------
def feature_tables() -> dict[str, pd.DataFrame]:
    """Accounts A1 (rich), A2 (licensed, nothing else) and four without a row at AS_OF.

    Hand-computed features of A1 and A2 as of AS_OF are asserted in the test modules;
    the comments say which record each number comes from.
    """
    t: dict[str, pd.DataFrame] = {}
    t["accounts"] = frame(
        "accounts",
        [
            {
                "account_id": "A1",
                "segment": "Enterprise",
                "csm_id": "C1",
                "created_date": D("2022-01-01"),
            },
            {"account_id": "A2", "segment": "SMB", "csm_id": None, "created_date": D("2024-01-15")},
            {
                "account_id": "A3",
                "segment": "SMB",
                "csm_id": "C1",
                "created_date": D("2023-01-01"),
            },  # churned before AS_OF
            {
                "account_id": "A4",
                "segment": "SMB",
                "csm_id": "C1",
                "created_date": D("2024-01-01"),
            },  # first contract starts on AS_OF
            {
                "account_id": "A5",
                "segment": "SMB",
                "csm_id": "C1",
                "created_date": D("2024-01-01"),
            },  # only a free (arr 0) contract
            {
                "account_id": "A6",
                "segment": "SMB",
                "csm_id": "C1",
                "created_date": AS_OF,
            },  # created on AS_OF: not visible
        ],
    )
    t["contracts"] = frame(
        "contracts",
        [
            # A1: K0 expired; K1 ends ON AS_OF (still live on AS_OF − 1); K2 0 seats
            {
                "contract_id": "K0",
                "account_id": "A1",
                "product": "Core",
                "start_date": D("2022-07-01"),
                "end_date": D("2023-07-01"),
                "arr": 8000.0,
                "seats": 8,
            },
            {
                "contract_id": "K1",
                "account_id": "A1",
                "product": "Core",
                "start_date": D("2023-07-01"),
                "end_date": AS_OF,
                "arr": 10000.0,
                "seats": 10,
            },
            {
                "contract_id": "K2",
                "account_id": "A1",
                "product": "Addon",
                "start_date": D("2024-01-01"),
                "end_date": D("2025-01-01"),
                "arr": 5000.0,
                "seats": 0,
            },
            {
                "contract_id": "K7",
                "account_id": "A1",
                "product": "Plus",
                "start_date": D("2024-03-01"),
                "end_date": D("2025-03-01"),
                "arr": 30000.0,
                "seats": 20,
            },
            # successor of K1 signed to start on AS_OF: invisible
            {
                "contract_id": "K8",
                "account_id": "A1",
                "product": "Core",
                "start_date": AS_OF,
                "end_date": D("2025-07-01"),
                "arr": 99000.0,
                "seats": 99,
            },
            {
                "contract_id": "K3",
                "account_id": "A2",
                "product": "Core",
                "start_date": D("2024-02-01"),
                "end_date": D("2025-02-01"),
                "arr": 1200.0,
                "seats": 5,
            },
            {
                "contract_id": "K4",
                "account_id": "A3",
                "product": "Core",
                "start_date": D("2023-01-01"),
                "end_date": D("2024-06-01"),
                "arr": 700.0,
                "seats": 2,
            },
            {
                "contract_id": "K5",
                "account_id": "A4",
                "product": "Core",
                "start_date": AS_OF,
                "end_date": D("2025-07-01"),
                "arr": 900.0,
                "seats": 3,
            },
            {
                "contract_id": "K6",
                "account_id": "A5",
                "product": "Core",
                "start_date": D("2024-01-01"),
                "end_date": D("2025-01-01"),
                "arr": 0.0,
                "seats": 3,
            },
        ],
    )
    snap = [
        ("A1", "Core", before(10), 6),  # latest Core → 6/10
        ("A1", "Core", before(40), 9),  # older, ignored
        ("A1", "Core", before(100), 4),  # latest before AS_OF − 90 → 4/10 (trend)
        ("A1", "Core", AS_OF, 10),  # on AS_OF: invisible
        ("A1", "Addon", before(5), 3),  # 0 licensed seats → no activation
        ("A1", "Plus", before(20), 25),  # 25/20 capped at 1
        ("A2", "Core", before(120), 2),  # older than snapshot_max_age_days: stale
    ]
    t["seat_snapshots"] = frame(
        "seat_snapshots",
        [{"account_id": a, "product": p, "date": d, "seats_active": s} for a, p, d, s in snap],
    )
    contacts = [
        ("P1", "A1", "executive_sponsor", True),
        ("P2", "A1", "champion", True),
        ("P3", "A1", "decision_maker", True),
        ("P4", "A1", "admin", True),  # other key role: 60-day SLA
        ("P5", "A1", "end_user", False),
    ]
    t["contacts"] = frame(
        "contacts",
        [{"contact_id": c, "account_id": a, "role": r, "is_key": k} for c, a, r, k in contacts],
    )
    acts = [
        ("X1", before(1), "training", ["P2", "P5"]),
        ("X2", before(45), "ebr", ["P1", "P3"]),
        ("X7", before(90), "check_in", []),  # first day of the 90-day window
        ("X8", before(91), "onboarding", []),  # one day too old
        ("X3", before(95), "health_check", []),
        ("X4", before(100), "check_in", ["P4"]),  # P4's last touch: outside its 60 d
        ("X5", before(200), "ebr", []),
        ("X6", AS_OF, "ebr", ["P4"]),  # on AS_OF: invisible
    ]
    t["activities"] = frame(
        "activities",
        [
            {"activity_id": i, "account_id": "A1", "date": d, "activity_type": k, "csm_id": "C1"}
            for i, d, k, _ in acts
        ],
    )
    t["activity_contacts"] = frame(
        "activity_contacts",
        [{"activity_id": i, "contact_id": c} for i, _, _, cs in acts for c in cs],
    )
    t["feature_catalog"] = frame(
        "feature_catalog",
        [
            {"feature": "f_sticky", "sticky": True, "workflow": "W1"},
            {"feature": "f_a", "sticky": False, "workflow": "W1"},
            {"feature": "f_b", "sticky": False, "workflow": "W2"},
            {"feature": "f_d", "sticky": False, "workflow": "W2"},  # never used: W2 incomplete
            {"feature": "f_c", "sticky": True, "workflow": None},
        ],
    )
    usage = [
        ("U1", before(1), "f_sticky", 3),
        ("U1", before(2), "f_a", 1),
        ("U2", before(30), "f_b", 2),  # first day of the 30-day window
        ("U3", before(5), "f_c", 0),  # 0 events: not active
        ("U4", before(31), "f_a", 5),  # prior period of the trend
        ("U5", before(89), "f_b", 1),  # prior period of the trend
        ("U6", before(91), "f_b", 1),  # outside every window
        ("U7", AS_OF, "f_sticky", 9),  # on AS_OF: invisible
    ]
    t["usage"] = frame(
        "usage",
        [
            {"account_id": "A1", "user_id": u, "date": d, "feature": f, "events": e}
            for u, d, f, e in usage
        ],
    )
    outcomes = [
        # id, created, target, verified, status
        ("O1", before(200), before(100), before(120), "verified"),  # on time, > 90 d ago
        ("O2", before(150), before(10), before(5), "verified"),  # late, 5 d ago
        ("O3", before(100), before(20), None, "open"),  # overdue
        ("O4", before(50), D("2024-09-01"), None, "open"),  # open, not due
        ("O5", before(60), before(30), None, "missed"),  # due, missed
        ("O6", before(30), before(15), AS_OF + pd.Timedelta(days=10), "verified"),  # open then
        ("O7", AS_OF, D("2024-08-01"), None, "open"),  # created on AS_OF: invisible
        ("O8", before(400), before(380), before(385), "verified"),  # due before the window
    ]
    t["outcomes"] = frame(
        "outcomes",
        [
            {
                "outcome_id": i,
                "account_id": "A1",
                "created_date": c,
                "target_date": g,
                "verified_date": v,
                "status": s,
            }
            for i, c, g, v, s in outcomes
        ],
    )
    return t


@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    return feature_tables()


@pytest.fixture
def book() -> Book:
    return make_book(feature_tables())


# -- random books --------------------------------------------------------------------------
ROLES = ("executive_sponsor", "champion", "decision_maker", "admin", "end_user")
TYPES = ("ebr", "training", "health_check", "onboarding", "check_in")
CATALOG = (("f1", True, "W1"), ("f2", False, "W1"), ("f3", False, "W2"), ("f4", True, None))
START = D("2023-01-01")
SPAN = 600  # days


def random_tables(seed: int, n_accounts: int = 4) -> dict[str, pd.DataFrame]:
    """A small valid book with records of every kind spread over ``SPAN`` days.

    Every record of an account is dated on or after its ``created_date``, so deleting an
    account created on or after a cut deletes only records dated after the cut.
    """
    rng = np.random.default_rng(seed)

    def day(lo: int = 0, hi: int = SPAN) -> pd.Timestamp:
        return START + pd.Timedelta(days=int(rng.integers(lo, max(hi, lo + 1))))

    rows: dict[str, list[dict[str, Any]]] = {n: [] for n in TABLE_NAMES}
    for i in range(n_accounts):
        acc = f"A{i}"
        c0 = int(rng.integers(0, SPAN // 2))
        created = START + pd.Timedelta(days=c0)
        rows["accounts"].append(
            {
                "account_id": acc,
                "segment": str(rng.choice(["SMB", "Enterprise"])),
                "csm_id": None if rng.random() < 0.3 else f"C{i % 2}",
                "created_date": created,
            }
        )
        products = ["Core", "Plus"][: int(rng.integers(1, 3))]
        for p in products:
            s = c0 + int(rng.integers(0, 60))
            while s < SPAN:
                length = int(rng.integers(60, 300))
                rows["contracts"].append(
                    {
                        "contract_id": f"{acc}-{p}-{s}",
                        "account_id": acc,
                        "product": p,
                        "start_date": START + pd.Timedelta(days=s),
                        "end_date": START + pd.Timedelta(days=s + length),
                        "arr": float(rng.choice([0.0, 1000.0, 2500.0, 4000.0])),
                        "seats": int(rng.integers(0, 12)),
                    }
                )
                s += length + int(rng.choice([0, 0, 30]))
            for d in sorted({int(x) for x in rng.integers(c0, SPAN, 6)}):
                rows["seat_snapshots"].append(
                    {
                        "account_id": acc,
                        "product": p,
                        "date": START + pd.Timedelta(days=d),
                        "seats_active": int(rng.integers(0, 14)),
                    }
                )
        contacts = [f"{acc}-P{j}" for j in range(int(rng.integers(0, 5)))]
        for cid in contacts:
            rows["contacts"].append(
                {
                    "contact_id": cid,
                    "account_id": acc,
                    "role": str(rng.choice(ROLES)),
                    "is_key": bool(rng.random() < 0.7),
                }
            )
        for j in range(int(rng.integers(0, 12))):
            aid = f"{acc}-X{j}"
            rows["activities"].append(
                {
                    "activity_id": aid,
                    "account_id": acc,
                    "date": day(c0),
                    "activity_type": str(rng.choice(TYPES)),
                    "csm_id": None,
                }
            )
            if contacts:
                for cid in rng.choice(
                    contacts, int(rng.integers(0, len(contacts) + 1)), replace=False
                ):
                    rows["activity_contacts"].append({"activity_id": aid, "contact_id": str(cid)})
        users = [f"{acc}-U{j}" for j in range(int(rng.integers(0, 5)))]
        seen = set()
        for _ in range(int(rng.integers(0, 40)) if users else 0):
            key = (str(rng.choice(users)), day(c0), str(rng.choice([f for f, _, _ in CATALOG])))
            if key not in seen:
                seen.add(key)
                rows["usage"].append(
                    {
                        "account_id": acc,
                        "user_id": key[0],
                        "date": key[1],
                        "feature": key[2],
                        "events": int(rng.integers(0, 4)),
                    }
                )
        for j in range(int(rng.integers(0, 5))):
            created_o = int(rng.integers(c0, SPAN))
            target = created_o + int(rng.integers(10, 200))
            status = str(rng.choice(["open", "verified", "missed", "abandoned"]))
            verified = (
                START + pd.Timedelta(days=created_o + int(rng.integers(1, 250)))
                if status == "verified"
                else None
            )
            rows["outcomes"].append(
                {
                    "outcome_id": f"{acc}-O{j}",
                    "account_id": acc,
                    "created_date": START + pd.Timedelta(days=created_o),
                    "target_date": START + pd.Timedelta(days=target),
                    "verified_date": verified,
                    "status": status,
                }
            )
    rows["feature_catalog"] = [{"feature": f, "sticky": s, "workflow": w} for f, s, w in CATALOG]
    return {n: frame(n, r) for n, r in rows.items()}


@pytest.fixture(scope="session")
def spark() -> Any:
    """One local Spark session for the test session (skips without PySpark/Java)."""
    pytest.importorskip("pyspark")
    from dearstats._spark import spark_session

    session = spark_session()
    session.sparkContext.setLogLevel("ERROR")
    return session
