"""Shared fixtures: a tiny valid book built by hand, and a seeded simulated book."""

from __future__ import annotations

import pandas as pd
import pytest

from dearstats._schema import TABLE_NAMES
from dearstats.book import Book, _empty_like

D = pd.Timestamp


def tiny_tables() -> dict[str, pd.DataFrame]:
    """Two accounts, one product each plus an add-on, every table non-empty and valid."""
    t = {n: _empty_like(n) for n in TABLE_NAMES}
    t["accounts"] = pd.DataFrame(
        {
            "account_id": ["A1", "A2"],
            "segment": ["SMB", "Enterprise"],
            "region": ["EMEA", None],
            "industry": ["Retail", "Finance"],
            "csm_id": ["CSM1", None],
            "created_date": [D("2023-01-01"), D("2023-06-01")],
        }
    )
    t["contracts"] = pd.DataFrame(
        {
            "contract_id": ["C1", "C2", "C3"],
            "account_id": ["A1", "A1", "A2"],
            "product": ["Core", "Core", "Core"],
            "start_date": [D("2023-01-01"), D("2024-01-01"), D("2023-06-01")],
            "end_date": [D("2024-01-01"), D("2025-01-01"), D("2026-06-01")],
            "arr": [1000.0, 1200.0, 50000.0],
            "seats": [10, 12, 200],
        }
    )
    t["seat_snapshots"] = pd.DataFrame(
        {
            "account_id": ["A1", "A2"],
            "product": ["Core", "Core"],
            "date": [D("2024-03-01"), D("2024-03-01")],
            "seats_active": [8, 150],
        }
    )
    t["contacts"] = pd.DataFrame(
        {
            "contact_id": ["P1", "P2", "P3"],
            "account_id": ["A1", "A1", "A2"],
            "role": ["executive_sponsor", "end_user", "champion"],
            "is_key": [True, False, True],
        }
    )
    t["activities"] = pd.DataFrame(
        {
            "activity_id": ["X1", "X2"],
            "account_id": ["A1", "A2"],
            "date": [D("2024-02-10"), D("2024-04-10")],
            "activity_type": ["ebr", "health_check"],
            "csm_id": ["CSM1", None],
        }
    )
    t["activity_contacts"] = pd.DataFrame({"activity_id": ["X1", "X2"], "contact_id": ["P1", "P3"]})
    t["usage"] = pd.DataFrame(
        {
            "account_id": ["A1", "A1", "A2"],
            "user_id": ["U1", "U2", "U9"],
            "date": [D("2024-03-01"), D("2024-03-02"), D("2024-04-05")],
            "feature": ["reports", "dashboards", "reports"],
            "events": [3, 1, 7],
        }
    )
    t["feature_catalog"] = pd.DataFrame(
        {
            "feature": ["reports", "dashboards"],
            "sticky": [True, False],
            "workflow": ["insight", None],
        }
    )
    t["outcomes"] = pd.DataFrame(
        {
            "outcome_id": ["O1", "O2", "O3"],
            "account_id": ["A1", "A1", "A2"],
            "created_date": [D("2024-01-15"), D("2024-02-01"), D("2024-02-01")],
            "target_date": [D("2024-04-01"), D("2024-06-01"), D("2024-03-01")],
            "verified_date": [D("2024-03-20"), None, None],
            "status": ["verified", "open", "missed"],
        }
    )
    return t


@pytest.fixture
def tiny() -> dict[str, pd.DataFrame]:
    return tiny_tables()


@pytest.fixture
def tiny_book() -> Book:
    return Book(tiny_tables(), source="tiny")
