"""Tests of dearstats.retention: hand-computed cases, errors, and hypothesis properties."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dearstats.errors import DearstatsWarning, InputError
from dearstats.retention import (
    OUTCOMES,
    RetentionResult,
    arr_ledger,
    arr_on,
    fiscal_year_bounds,
    fiscal_year_of,
    renewal_events,
    retention,
)

D = pd.Timestamp
AS_OF = "2030-01-01"  # far after every hand-built contract: all figures final


def contracts(*rows: tuple) -> pd.DataFrame:
    """(account_id, product, start, end, arr) rows → a contracts frame with contract dtypes."""
    acc, prod, start, end, arr = (
        (list(col) for col in zip(*rows, strict=True)) if rows else [[]] * 5
    )
    return pd.DataFrame(
        {
            "contract_id": pd.array([f"C{i}" for i in range(len(rows))], dtype="str"),
            "account_id": pd.array(acc, dtype="str"),
            "product": pd.array(prod, dtype="str"),
            "start_date": np.array(start, dtype="datetime64[us]"),
            "end_date": np.array(end, dtype="datetime64[us]"),
            "arr": np.array(arr, dtype="float64"),
            "seats": np.ones(len(rows), dtype="int64"),
        }
    )


def accounts(**segments: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"account_id": list(segments), "segment": list(segments.values())}, dtype="str"
    )


def fy(c: pd.DataFrame, year: int = 2024, **kw) -> pd.Series:
    """The overall metrics row of one fiscal year (final unless as_of says otherwise)."""
    kw.setdefault("as_of", AS_OF)
    return retention(c, year, by=None, **kw).frame().iloc[0]


# -- fiscal years ----------------------------------------------------------------------
def test_fiscal_year_bounds_calendar_and_us_convention():
    assert fiscal_year_bounds(2025) == (D("2025-01-01"), D("2026-01-01"))
    assert fiscal_year_bounds(2026, 2) == (D("2025-02-01"), D("2026-02-01"))
    assert fiscal_year_bounds(2026, 7) == (D("2025-07-01"), D("2026-07-01"))


def test_fiscal_year_of_inverts_bounds():
    assert fiscal_year_of("2025-02-01", 2) == 2026
    assert fiscal_year_of("2025-01-31", 2) == 2025
    assert fiscal_year_of(D("2025-12-31")) == 2025
    s = pd.Series(pd.to_datetime(["2025-01-31", "2025-02-01"]), index=[7, 8])
    assert fiscal_year_of(s, 2).tolist() == [2025, 2026]
    assert list(fiscal_year_of(s, 2).index) == [7, 8]
    for m in range(1, 13):
        t0, t1 = fiscal_year_bounds(2024, m)
        assert fiscal_year_of(t0, m) == 2024
        assert fiscal_year_of(t1 - pd.Timedelta(days=1), m) == 2024


@pytest.mark.parametrize("bad", [0, 13, 1.0, True, "2"])
def test_bad_fy_start_month(bad):
    with pytest.raises(InputError, match="fy_start_month"):
        fiscal_year_bounds(2024, bad)


# -- ARR -------------------------------------------------------------------------------
def test_arr_on_end_exclusive_and_sums_products():
    c = contracts(
        ("a", "x", "2024-01-01", "2025-01-01", 100),
        ("a", "y", "2024-06-01", "2025-06-01", 50),
        ("b", "x", "2024-03-01", "2024-09-01", 7),
    )
    out = arr_on(c, ["2023-12-31", "2024-01-01", "2024-06-01", "2024-12-31", "2025-01-01"])
    assert out.index.tolist() == ["a", "b"]
    assert out.loc["a"].tolist() == [0.0, 100.0, 150.0, 150.0, 50.0]
    assert out.loc["b"].tolist() == [0.0, 0.0, 7.0, 0.0, 0.0]
    assert arr_on(c, "2024-06-01").shape == (2, 1)


def test_arr_ledger_rows_and_zero_when_inactive():
    c = contracts(
        ("a", "x", "2024-01-01", "2025-01-01", 0.1),
        ("a", "y", "2024-01-01", "2025-01-01", 0.2),
        ("a", "x", "2025-01-01", "2026-01-01", 0.3),
    )
    led = arr_ledger(c)
    assert led["date"].tolist() == [D("2024-01-01"), D("2025-01-01"), D("2026-01-01")]
    assert led["arr_change"].tolist() == pytest.approx([0.3, 0.0, -0.3])
    assert led["n_contracts"].tolist() == [2, 1, 0]
    assert led["arr"].iloc[-1] == 0.0  # exactly, whatever the rounding of the running sum


def test_grace_bridges_late_renewal_in_arr():
    c = contracts(
        ("a", "x", "2024-01-01", "2025-01-01", 100),
        ("a", "x", "2025-01-20", "2026-01-01", 120),
    )
    assert arr_on(c, "2025-01-01").iloc[0, 0] == 0.0
    assert arr_on(c, "2025-01-01", grace_days=30).iloc[0, 0] == 120.0
    assert arr_on(c, "2025-01-01", grace_days=10).iloc[0, 0] == 0.0


# -- hand-computed retention -------------------------------------------------------------
def test_full_churn():
    row = fy(contracts(("a", "x", "2024-01-01", "2025-01-01", 100)))
    assert (row.n_accounts, row.arr_start, row.arr_end) == (1, 100.0, 0.0)
    assert (row.churn, row.contraction, row.expansion) == (-100.0, 0.0, 0.0)
    assert (row.grr, row.nrr, row.n_churned) == (0.0, 0.0, 1)
    assert (row.arr_up_for_renewal, row.gross_renewal_rate, row.net_renewal_rate) == (
        100.0,
        0.0,
        0.0,
    )


def test_contraction():
    c = contracts(
        ("a", "x", "2024-01-01", "2025-01-01", 100),
        ("a", "x", "2025-01-01", "2026-01-01", 80),
    )
    row = fy(c)
    assert (row.grr, row.nrr, row.contraction, row.arr_end) == (0.8, 0.8, -20.0, 80.0)
    assert (row.gross_renewal_rate, row.net_renewal_rate, row.n_contracted) == (0.8, 0.8, 1)
    ev = renewal_events(c, as_of=AS_OF)
    assert ev["outcome"].tolist() == ["contraction", "churn"]
    assert ev["fiscal_year"].tolist() == [2024, 2025]  # a renewal on t1 belongs to the FY


def test_expansion_does_not_hide_another_accounts_churn():
    c = contracts(
        ("a", "x", "2024-01-01", "2025-01-01", 100),
        ("a", "x", "2025-01-01", "2026-01-01", 150),
        ("b", "x", "2024-01-01", "2025-01-01", 100),
    )
    row = fy(c)
    assert row.grr == 0.5  # Σ min(a1, a0) / Σ a0 = (100 + 0) / 200, not min(150, 200) / 200
    assert row.nrr == 0.75
    assert (row.churn, row.expansion, row.n_expanded, row.n_churned) == (-100.0, 50.0, 1, 1)
    assert (row.gross_renewal_rate, row.net_renewal_rate) == (0.5, 0.75)


def test_multi_product_account_nets_within_the_account():
    c = contracts(
        ("a", "x", "2024-01-01", "2025-01-01", 100),
        ("a", "y", "2024-01-01", "2025-01-01", 50),  # product y churns
        ("a", "x", "2025-01-01", "2026-01-01", 100),
        ("a", "z", "2025-01-10", "2026-01-01", 30),  # cross-sell at renewal, 9 days later
    )
    row = fy(c)
    assert (row.arr_start, row.arr_end) == (150.0, 130.0)
    assert row.grr == pytest.approx(130 / 150, rel=1e-15)
    assert row.nrr == pytest.approx(130 / 150, rel=1e-15)
    ev = renewal_events(c, as_of=AS_OF)
    first = ev.iloc[0]
    assert (first.n_contracts, first.arr_before, first.arr_after) == (2, 150.0, 130.0)
    assert first.outcome == "contraction"
    # expansion of x hides the churn of y inside one account: GRR caps per account
    c2 = c.copy()
    c2.loc[2, "arr"] = 200.0
    c2 = c2[c2["product"] != "z"]
    row2 = fy(c2)
    assert (row2.grr, row2.nrr) == (1.0, 200 / 150)


def test_multi_year_contract_carries_arr_and_is_not_up_for_renewal():
    c = contracts(
        ("m", "x", "2023-06-01", "2026-06-01", 300),
        ("a", "x", "2024-01-01", "2025-01-01", 100),
    )
    row = fy(c)
    assert (row.n_accounts, row.arr_start, row.arr_end) == (2, 400.0, 300.0)
    assert (row.grr, row.nrr) == (0.75, 0.75)
    assert (row.n_renewals, row.arr_up_for_renewal, row.gross_renewal_rate) == (1, 100.0, 0.0)


@pytest.mark.parametrize(
    ("renewal_start", "grace_days", "renewed"),
    [
        ("2025-01-20", 30, True),  # 19 days late, inside the grace period
        ("2025-01-31", 30, True),  # exactly 30 days: inside
        ("2025-02-01", 30, False),  # 31 days: outside
        ("2025-02-15", 30, False),  # 45 days: outside
        ("2025-02-15", 60, True),  # inside a longer grace period
        ("2025-01-20", 0, False),  # no grace at all
    ],
)
def test_late_renewal(renewal_start, grace_days, renewed):
    c = contracts(
        ("a", "x", "2024-01-01", "2025-01-01", 100),
        ("a", "x", renewal_start, "2026-02-01", 100),
    )
    row = fy(c, grace_days=grace_days)
    assert row.grr == (1.0 if renewed else 0.0)
    ev = renewal_events(c, grace_days=grace_days, as_of=AS_OF).iloc[0]
    assert ev.outcome == ("flat" if renewed else "churn")
    nxt = fy(c, 2025, grace_days=grace_days)
    assert (nxt.n_accounts, nxt.new_logo_arr) == ((1, 0.0) if renewed else (0, 100.0))


def test_renewal_beyond_grace_inside_the_year_is_retained_at_t1():
    c = contracts(
        ("a", "x", "2024-01-01", "2024-07-01", 100),
        ("a", "x", "2024-09-01", "2026-01-01", 100),  # 62 days late, active on t1
    )
    row = fy(c)
    assert (row.grr, row.nrr, row.n_renewals, row.gross_renewal_rate) == (1.0, 1.0, 1, 0.0)


def test_new_logo_outside_cohort_but_in_waterfall():
    c = contracts(
        ("a", "x", "2024-01-01", "2025-01-01", 100),
        ("a", "x", "2025-01-01", "2026-01-01", 100),
        ("n", "x", "2024-03-01", "2025-03-01", 40),
    )
    row = fy(c)
    assert (row.n_accounts, row.arr_start, row.arr_end, row.grr, row.nrr) == (
        1,
        100.0,
        100.0,
        1.0,
        1.0,
    )
    assert (row.n_new_logos, row.new_logo_arr, row.arr_end_total) == (1, 40.0, 140.0)


def test_fy_start_month_not_january():
    c = contracts(
        ("a", "x", "2025-02-01", "2026-02-01", 100),
        ("a", "x", "2026-02-01", "2027-02-01", 110),
    )
    row = fy(c, 2026, fy_start_month=2)
    assert (row.fy_start, row.fy_end) == (D("2025-02-01"), D("2026-02-01"))
    assert (row.grr, row.nrr, row.expansion) == (1.0, pytest.approx(1.1), 10.0)
    ev = renewal_events(c, fy_start_month=2, as_of=AS_OF)
    assert ev["fiscal_year"].tolist() == [2026, 2027]
    empty = fy(c, 2025)  # calendar FY2025: no cohort on 2025-01-01, only a new logo
    assert (empty.n_accounts, empty.new_logo_arr) == (0, 100.0)
    assert math.isnan(empty.grr)
    assert math.isnan(empty.nrr)


# -- grouping, adapters, selection, provisional figures ---------------------------------
def _segmented() -> tuple[pd.DataFrame, pd.DataFrame]:
    c = contracts(
        ("a", "x", "2024-01-01", "2025-01-01", 100),
        ("a", "x", "2025-01-01", "2026-01-01", 120),
        ("b", "x", "2024-01-01", "2025-01-01", 100),
        ("c", "x", "2023-06-01", "2026-06-01", 50),
        ("d", "y", "2024-05-01", "2025-05-01", 10),
    )
    return c, accounts(a="SMB", b="SMB", c="ENT", d="ENT")


def test_segments_and_overall_rows():
    c, acc = _segmented()
    res = retention({"contracts": c, "accounts": acc}, 2024, as_of=AS_OF)
    f = res.frame().set_index("segment")
    assert f.index.tolist() == ["All", "ENT", "SMB"]
    assert f.loc["SMB", "grr"] == 0.5
    assert f.loc["SMB", "nrr"] == 0.6
    assert (f.loc["ENT", "grr"], f.loc["ENT", "new_logo_arr"]) == (1.0, 10.0)
    assert f.loc["All", "arr_start"] == 250.0
    assert set(res.accounts["movement"]) <= {
        "churn",
        "contraction",
        "flat",
        "expansion",
        "new_logo",
    }
    assert set(res.events["segment"]) == {"SMB"}


def test_waterfall_by_hand():
    c, acc = _segmented()
    r = retention({"contracts": c, "accounts": acc}, 2024, as_of=AS_OF).frame().iloc[0]
    waterfall = (r.arr_start, r.churn, r.contraction, r.expansion, r.arr_end)
    assert waterfall == (250.0, -100.0, 0.0, 20.0, 170.0)
    assert (r.new_logo_arr, r.arr_end_total) == (10.0, 180.0)
    assert r.grr == (r.arr_start + r.churn + r.contraction) / r.arr_start == 0.6
    assert r.nrr == r.arr_end / r.arr_start == 0.68


class _BookLike:
    def __init__(self, tables):
        self._t = tables

    def frame(self, name):
        return self._t[name].copy()


def test_book_like_and_mapping_agree():
    c, acc = _segmented()
    a = retention(_BookLike({"contracts": c, "accounts": acc}), 2024, as_of=AS_OF).frame()
    b = retention({"contracts": c, "accounts": acc}, 2024, as_of=AS_OF).frame()
    pd.testing.assert_frame_equal(a, b)


def test_real_book(tiny_book):
    res = retention(tiny_book, 2024, as_of="2026-01-01")
    f = res.frame().set_index("segment")
    assert (f.loc["All", "arr_start"], f.loc["All", "grr"]) == (51200.0, 50000 / 51200)
    assert f.loc["SMB", "nrr"] == 0.0


def test_by_two_columns_crossed_and_missing_values():
    c, acc = _segmented()
    acc["region"] = pd.Series(["EU", None, "US", "US"], dtype="str")
    f = retention(
        {"contracts": c, "accounts": acc}, 2024, by=["segment", "region"], as_of=AS_OF
    ).frame()
    assert list(zip(f["segment"], f["region"], strict=True)) == [
        ("All", "All"),
        ("ENT", "US"),
        ("SMB", "(missing)"),
        ("SMB", "EU"),
    ]


def test_default_years_are_final_years_with_a_cohort():
    c, acc = _segmented()
    # FY2023 has no cohort (first contract 2023-06-01); FY2025 is not final before 2026-01-31
    res = retention({"contracts": c, "accounts": acc}, as_of="2025-06-01")
    assert res.fiscal_years == (2024,)
    assert retention({"contracts": c, "accounts": acc}, as_of="2026-02-01").fiscal_years == (
        2024,
        2025,
    )
    # a back-filled first contract gives FY2023 a cohort but no renewal: not a default year
    c2 = contracts(
        ("a", "x", "2022-06-01", "2024-06-01", 10), ("a", "x", "2024-06-01", "2025-06-01", 10)
    )
    assert retention(c2, by=None, as_of="2026-01-01").fiscal_years == (2024,)
    assert fy(c2, 2023).grr == 1.0  # still available on request
    assert not res.frame()["provisional"].any()


def test_provisional_year_warns_and_is_flagged():
    c, acc = _segmented()
    with pytest.warns(DearstatsWarning, match="provisional"):
        res = retention({"contracts": c, "accounts": acc}, 2024, as_of="2025-01-20")
    assert res.frame()["provisional"].all()
    ev = renewal_events(c, as_of="2025-01-20")
    final = ev.set_index(["account_id", "renewal_date"])["is_final"]
    assert not final[("a", D("2025-01-01"))]
    assert renewal_events(c, as_of=AS_OF)["is_final"].all()


def test_as_of_hides_later_contracts():
    c, _ = _segmented()
    # a's renewal starts 2025-01-01: invisible as of that day, so a churned (provisionally)
    with pytest.warns(DearstatsWarning):
        row = fy(c, as_of="2025-01-01")
    assert row.arr_end == 50.0


def test_renewal_events_columns_and_window():
    c, acc = _segmented()
    ev = renewal_events(c, acc, start="2025-01-01", end="2025-06-01", as_of=AS_OF)
    assert ev.columns.tolist() == [
        "account_id",
        "renewal_date",
        "fiscal_year",
        "segment",
        "n_contracts",
        "arr_before",
        "arr_after",
        "outcome",
        "is_final",
    ]
    assert ev["account_id"].tolist() == ["a", "b", "d"]
    assert ev["segment"].tolist() == ["SMB", "SMB", "ENT"]
    assert list(ev["outcome"].cat.categories) == list(OUTCOMES)
    assert renewal_events(c)["segment"].isna().all()


def test_summary_and_repr():
    c, acc = _segmented()
    res = retention({"contracts": c, "accounts": acc}, 2024, as_of=AS_OF)
    assert isinstance(res, RetentionResult)
    s = res.summary()
    assert s.loc[(2024, "SMB"), "GRR"] == "50.0%"
    assert s.loc[(2024, "All"), "ARR start"] == "250"
    assert s.loc[(2024, "ENT"), "Gross renewal rate"] == "–"
    assert "RetentionResult(fiscal_years=[2024]" in repr(res)
    assert "<table" in res._repr_html_()


# -- errors ----------------------------------------------------------------------------
def test_errors_name_the_problem():
    c, acc = _segmented()
    tables = {"contracts": c, "accounts": acc}
    with pytest.raises(InputError, match=r"fiscal_year=2031 .* no contract is active"):
        retention(tables, 2031, as_of=AS_OF)
    with pytest.raises(InputError, match="expected an integer year"):
        retention(tables, "2024")
    with pytest.raises(InputError, match="fy_start_month=13"):
        retention(tables, 2024, fy_start_month=13)
    with pytest.raises(InputError, match="grace_days=-1"):
        retention(tables, 2024, grace_days=-1)
    with pytest.raises(InputError, match="needs the accounts table"):
        retention(c, 2024)
    with pytest.raises(InputError, match=r"missing column.*tier"):
        retention(tables, 2024, by="tier")
    with pytest.raises(InputError, match=r"1 account_id.*not in accounts"):
        retention({"contracts": c, "accounts": acc.iloc[:3]}, 2024)
    with pytest.raises(InputError, match="expected a Book"):
        retention([c], 2024)
    bad = c.copy()
    bad.loc[0, "end_date"] = bad.loc[0, "start_date"]
    bad.loc[1, "arr"] = -1.0
    with pytest.raises(InputError, match=r"end_date <= start_date.*C0.*arr < 0") as err:
        retention(bad, 2024, by=None)
    assert "1 rows have arr < 0" in str(err.value)
    with pytest.raises(InputError, match=r"missing column.*arr"):
        arr_on(c.drop(columns="arr"), "2024-01-01")


# -- properties ------------------------------------------------------------------------
T0, T1 = fiscal_year_bounds(2023)
PROPS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: two retention runs per example: fewer examples keep the file well under 30 s
PAIRS = settings(PROPS, max_examples=30)


@st.composite
def books(draw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random small valid books: per account × product a run of non-overlapping contracts."""
    n_acc = draw(st.integers(1, 6))
    rows = []
    base, day = np.datetime64("2022-01-01", "D"), np.timedelta64(1, "D")
    for i in range(n_acc):
        for p in draw(st.sets(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=3)):
            start = base + day * draw(st.integers(0, 500))
            for _ in range(draw(st.integers(1, 3))):
                end = start + day * draw(st.sampled_from([90, 180, 365, 366, 730]))
                arr = draw(
                    st.one_of(
                        st.just(0.0),
                        st.integers(1, 10_000).map(float),
                        st.floats(0.01, 1e5, allow_nan=False),
                    )
                )
                rows.append((f"A{i}", p, start, end, arr))
                start = end + day * draw(st.sampled_from([0, 0, 5, 30, 31, 60]))
    segs = draw(st.lists(st.sampled_from(["SMB", "ENT"]), min_size=n_acc, max_size=n_acc))
    acc = pd.DataFrame(
        {"account_id": [f"A{i}" for i in range(n_acc)], "segment": segs}, dtype="str"
    )
    return contracts(*rows), acc


def _run(c: pd.DataFrame, acc: pd.DataFrame, **kw) -> pd.DataFrame:
    t0, t1 = D("2023-01-01"), D("2024-01-01")
    assume(((c["start_date"] < t1) & (c["end_date"] > t0)).any())  # FY2023 is in the data
    res = retention({"contracts": c, "accounts": acc}, 2023, as_of=AS_OF, **kw)
    assume(res.metrics["arr_start"].iloc[0] > 0)  # and has a cohort
    return res.frame()


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, abs(a), abs(b)))


@PROPS
@given(books(), st.sampled_from([0, 30]))
def test_one_year_bounds_identities_segments_and_naive_loop(book, grace):
    c, acc = book
    f = _run(c, acc, grace_days=grace)
    for _, r in f.iterrows():
        if r.arr_start > 0:
            assert 0.0 <= r.grr <= 1.0 + 1e-12
            assert r.nrr >= r.grr - 1e-12
            assert _close(r.arr_start + r.churn + r.contraction + r.expansion, r.arr_end)
            assert _close(r.grr, (r.arr_start + r.churn + r.contraction) / r.arr_start)
            assert _close(r.nrr, r.arr_end / r.arr_start)
        if r.arr_up_for_renewal > 0:
            assert 0.0 <= r.gross_renewal_rate <= 1.0 + 1e-12
            assert r.net_renewal_rate >= r.gross_renewal_rate - 1e-12
        assert max(r.churn, r.contraction) <= 0 <= r.expansion
    overall = f[f["segment"] == "All"].iloc[0]
    parts = f[f["segment"] != "All"]
    for col in f.columns:
        if col.startswith(("n_", "arr_")) or col in (
            "churn",
            "contraction",
            "expansion",
            "new_logo_arr",
        ):
            assert _close(parts[col].sum(), overall[col]), col
    for ratio, num, den in [
        ("grr", "arr_gross_retained", "arr_start"),
        ("nrr", "arr_end", "arr_start"),
        ("gross_renewal_rate", "arr_renewed_gross", "arr_up_for_renewal"),
        ("net_renewal_rate", "arr_renewed_net", "arr_up_for_renewal"),
    ]:
        if overall[den] > 0:
            assert _close(parts[num].sum() / parts[den].sum(), overall[ratio])
    if grace == 0:  # GRR/NRR by a plain loop over contracts: an independent implementation
        a0: dict[str, float] = {}
        a1: dict[str, float] = {}
        for r in c.itertuples():
            a0[r.account_id] = a0.get(r.account_id, 0.0) + (r.start_date <= T0 < r.end_date) * r.arr
            a1[r.account_id] = a1.get(r.account_id, 0.0) + (r.start_date <= T1 < r.end_date) * r.arr
        cohort = [a for a in a0 if a0[a] > 0]
        den = sum(a0[a] for a in cohort)
        assert _close(overall.grr, sum(min(a0[a], a1[a]) for a in cohort) / den)
        assert _close(overall.nrr, sum(a1[a] for a in cohort) / den)
        assert overall.n_accounts == len(cohort)


@PAIRS
@given(books(), st.randoms(use_true_random=False))
def test_invariant_to_row_order(book, rnd):
    c, acc = book
    order = list(range(len(c)))
    rnd.shuffle(order)
    a = _run(c, acc)
    b = _run(c.iloc[order], acc.sample(frac=1.0, random_state=rnd.randrange(2**31)))
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)


@PAIRS
@given(books(), st.sampled_from([1e-3, 0.5, 3.0, 1e6]))
def test_rates_invariant_to_scaling_arr(book, k):
    c, acc = book
    a = _run(c, acc)
    b = _run(c.assign(arr=c["arr"] * k), acc)
    rates = ["grr", "nrr", "gross_renewal_rate", "net_renewal_rate"]
    pd.testing.assert_frame_equal(a[rates], b[rates], rtol=1e-9)
    pd.testing.assert_series_equal(a["arr_start"] * k, b["arr_start"], rtol=1e-9)
    counts = [col for col in a.columns if col.startswith("n_")]
    pd.testing.assert_frame_equal(a[counts], b[counts])


@PAIRS
@given(
    books(),
    st.lists(
        st.tuples(
            st.integers(0, 5),
            st.sampled_from("xyzw"),
            st.one_of(st.integers(1, 10), st.integers(1, 400)),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_contracts_after_the_grace_window_do_not_change_the_year(book, extra):
    """FY figures read contracts starting up to t1 + grace_days only (here 30 days)."""
    c, acc = book
    n_acc = len(acc)
    late = [
        (f"A{i % n_acc}", p, T1 + pd.Timedelta(days=30 + k), T1 + pd.Timedelta(days=400 + k), 7.0)
        for i, p, k in extra
    ]
    a = _run(c, acc)
    b = _run(pd.concat([c, contracts(*late)], ignore_index=True), acc)
    pd.testing.assert_frame_equal(a, b)


@settings(PROPS, max_examples=40)
@given(books(), st.sampled_from([0, 30]))
def test_ledger_agrees_with_arr_on_and_a_naive_loop(book, grace):
    c, _ = book
    dates = pd.date_range("2021-12-31", "2026-01-01", freq="97D").append(pd.DatetimeIndex([T0, T1]))
    wide = arr_on(c, dates, grace_days=grace)
    led = arr_ledger(c, grace_days=grace)
    for acc_id, g in led.groupby("account_id"):
        pos = g["date"].searchsorted(dates, side="right") - 1
        via_ledger = np.where(pos >= 0, g["arr"].to_numpy()[np.maximum(pos, 0)], 0.0)
        np.testing.assert_allclose(
            via_ledger, wide.loc[acc_id].to_numpy(), rtol=1e-9, atol=1e-9 * max(1.0, c["arr"].max())
        )
        assert (wide.loc[acc_id].to_numpy() >= 0).all()
    if grace == 0:  # the raw definition, by broadcasting over contracts × dates
        d = dates.to_numpy()[None, :]
        on = (c["start_date"].to_numpy()[:, None] <= d) & (d < c["end_date"].to_numpy()[:, None])
        naive = pd.DataFrame(on * c["arr"].to_numpy()[:, None]).groupby(c["account_id"]).sum()
        np.testing.assert_allclose(wide.to_numpy(), naive.to_numpy(), rtol=1e-12)
