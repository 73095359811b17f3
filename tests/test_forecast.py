"""Forecast, backtest and scenario: accounting identities, point in time, seeds, errors.

Statistical acceptance (coverage across seeds, re-simulated scenarios) is in
``test_forecast_slow.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import dearstats as ds
from dearstats.backtest import backtest, crps_ensemble
from dearstats.book import Book
from dearstats.errors import InputError
from dearstats.forecast import forecast, year_units
from dearstats.scenarios import scenario

YEAR = 2023


@pytest.fixture(scope="module")
def book() -> Book:
    return ds.simulate(n_accounts=700, years=5, random_seed=3)


@pytest.fixture(scope="module")
def fc(book: Book):
    return forecast(book, YEAR, model="logit", plan={"grr": 0.9, "nrr": 1.05}, n_draws=1000)


# -- the account decomposition ----------------------------------------------------------
def test_year_units_reproduce_retention_exactly(book: Book) -> None:
    r = ds.retention(book, [2021, 2022])
    for y in (2021, 2022):
        u = year_units(book.frame("contracts"), book.frame("accounts"), y, cut="2030-01-01")
        np.testing.assert_allclose(u["arr_start"], u["arr_carry"] + u["arr_up"])
        acc = r.accounts[(r.accounts["fiscal_year"] == y) & r.accounts["in_cohort"]]
        acc = acc.set_index("account_id").sort_index()
        assert list(u.index) == list(acc.index)
        np.testing.assert_allclose(u["arr_start"], acc["arr_start"])
        np.testing.assert_allclose(u["arr_end"], acc["arr_end"])
        m = r.frame().set_index(["fiscal_year", "segment"]).loc[(y, "All")]
        assert u["arr_end"].sum() / u["arr_start"].sum() == pytest.approx(m["nrr"], rel=1e-12)
        assert u["settled"].all()


def test_year_units_before_the_year_is_over_have_no_outcome(book: Book) -> None:
    u = year_units(book.frame("contracts"), book.frame("accounts"), 2023, cut="2023-06-01")
    assert u["arr_end"].isna().all()
    assert not u["settled"].any()
    assert (u["arr_start"] > 0).all()


# -- the forecast -----------------------------------------------------------------------
def test_forecast_draws_obey_the_accounting(fc) -> None:
    d = fc.draws
    assert set(d["segment"]) == {"All", "Enterprise", "Mid-Market", "SMB"}
    assert (d["grr"] <= 1 + 1e-12).all()
    assert (d["grr"] >= 0).all()
    assert (d["nrr"] >= 0).all()
    lhs = d["arr_start"] + d["churn"] + d["contraction"] + d["expansion"]
    np.testing.assert_allclose(lhs, d["arr_end"], rtol=1e-9)
    total = d[d["segment"] == "All"].set_index("draw")
    parts = d[d["segment"] != "All"].groupby("draw")[["arr_start", "arr_end"]].sum()
    np.testing.assert_allclose(total[["arr_start", "arr_end"]], parts, rtol=1e-9)
    # GRR ≤ NRR can fail per account but the cap makes GRR ≤ 1 and churn ≤ 0
    assert (d["churn"] <= 0).all()
    assert (d["contraction"] <= 0).all()
    assert (d["expansion"] >= 0).all()


def test_forecast_summary_and_plan(fc) -> None:
    f = fc.frame().set_index(["segment", "metric"])
    g = fc.draws.loc[fc.draws["segment"] == "All", "grr"].to_numpy()
    assert f.loc[("All", "grr"), "p_plan"] == pytest.approx(np.mean(g >= 0.9))
    assert fc.prob_at_least(0.9) == pytest.approx(np.mean(g >= 0.9))
    lo, hi = fc.interval("grr", 0.8)
    assert f.loc[("All", "grr"), "lo80"] == pytest.approx(lo)
    assert f.loc[("All", "grr"), "lo95"] <= lo <= f.loc[("All", "grr"), "mean"] <= hi
    assert "80% interval" in fc.summary().columns
    assert repr(fc).startswith("Forecast(fiscal_year=2023")


def test_forecast_account_table(fc) -> None:
    a = fc.accounts
    assert a.index.is_unique
    assert a.index.name == "account_id"
    np.testing.assert_allclose(a["arr_start"], a["arr_carry"] + a["arr_up"])
    up = a["arr_up"] > 0
    assert a.loc[up, "p_renew"].between(0, 1).all()
    assert a.loc[~up, "p_renew"].isna().all()
    assert a["arr_at_risk"].is_monotonic_decreasing
    assert (a["arr_at_risk"] >= -1e-9).all()
    # only ARR up for renewal can be lost this year
    assert (a["arr_at_risk"] <= a["arr_up"] + 1e-6).all()
    assert fc.account_draws.shape == (1000, len(a))
    np.testing.assert_allclose(fc.account_draws.mean(axis=0), a["expected_arr_end"])
    total = fc.draws.loc[fc.draws["segment"] == "All", "arr_end"].to_numpy()
    np.testing.assert_allclose(fc.account_draws.sum(axis=1), total)


def test_same_seed_same_numbers_other_seed_other_numbers(book: Book, fc) -> None:
    again = forecast(book, YEAR, model="logit", plan={"grr": 0.9, "nrr": 1.05}, n_draws=1000)
    pd.testing.assert_frame_equal(again.draws, fc.draws)
    other = forecast(book, YEAR, model="logit", n_draws=1000, random_seed=1)
    assert not np.allclose(other.draws["grr"], fc.draws["grr"])


def _append_after(book: Book, cut: pd.Timestamp) -> Book:
    """The book plus records dated on or after ``cut`` in every dated table (copies of
    existing rows moved later, new ids) and a new account created after ``cut``."""
    t = {name: book.frame(name) for name in ds.book.TABLE_NAMES}
    shift = pd.Timedelta(days=400)
    c = t["contracts"].head(300).copy()
    c["contract_id"] = "late-" + c["contract_id"]
    c["start_date"] = np.maximum(c["start_date"] + shift, cut)
    c["end_date"] = c["start_date"] + pd.Timedelta(days=365)
    c["arr"] = c["arr"] * 3
    t["contracts"] = pd.concat([t["contracts"], c], ignore_index=True)
    a = t["activities"].head(2000).copy()
    a["activity_id"] = "late-" + a["activity_id"]
    a["date"] = np.maximum(a["date"] + shift, cut)
    t["activities"] = pd.concat([t["activities"], a], ignore_index=True)
    u = t["usage"].tail(50_000).copy()
    u["date"] = np.maximum(u["date"] + shift, cut)
    u["user_id"] = "late-" + u["user_id"]
    t["usage"] = pd.concat([t["usage"], u], ignore_index=True)
    s = t["seat_snapshots"].tail(500).copy()
    s["date"] = s["date"] + pd.Timedelta(days=10_000)
    t["seat_snapshots"] = pd.concat([t["seat_snapshots"], s], ignore_index=True)
    acc = t["accounts"].head(1).copy()
    acc["account_id"] = "NEW-LOGO"
    acc["created_date"] = cut
    t["accounts"] = pd.concat([t["accounts"], acc], ignore_index=True)
    return Book(t)


def test_records_dated_after_as_of_change_nothing(book: Book, fc) -> None:
    cut = pd.Timestamp(f"{YEAR}-01-01")
    later = _append_after(book, cut)
    assert len(later.frame("contracts")) > len(book.frame("contracts"))
    again = forecast(later, YEAR, model="logit", plan={"grr": 0.9, "nrr": 1.05}, n_draws=1000)
    pd.testing.assert_frame_equal(again.draws, fc.draws)
    pd.testing.assert_frame_equal(again.accounts, fc.accounts)


def test_last_year_baseline_is_last_years_retention_as_of_planning_date(book: Book) -> None:
    ly = forecast(book, YEAR, model="last_year", n_draws=100)
    with pytest.warns(ds.errors.DearstatsWarning):
        r = ds.retention(book, YEAR - 1, as_of=f"{YEAR}-01-01").frame().set_index("segment")
    got = ly.draws.groupby("segment")[["grr", "nrr"]].first()
    for seg in got.index:
        assert got.loc[seg, "grr"] == pytest.approx(r.loc[seg, "grr"])
        assert got.loc[seg, "nrr"] == pytest.approx(r.loc[seg, "nrr"])


def test_colour_rate_reproduces_the_arr_weighted_rate_per_colour(book: Book) -> None:
    cr = forecast(book, YEAR, model="colour_rate", n_draws=4000)
    method = cr._state["method"]
    target = cr._state["target"]
    renew = cr._state["renew"]
    draws = method.draws(target[renew], 4000, 0)
    colour = target[renew]["overall_colour"].astype("str").to_numpy()
    up = target[renew]["arr_up"].to_numpy()
    for c, rate in method.rates_.items():
        m = colour == c
        if m.sum() < 20:
            continue
        got = draws[:, m].sum() / (4000 * up[m].sum())
        assert got == pytest.approx(rate, abs=0.03), c


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "magic"}, "model='magic'"),
        ({"as_of": "2020-06-01"}, "planning date must be"),
        ({"as_of": "2023-03-01"}, "planning date must be"),
        ({"training_years": 0}, "training_years"),
        ({"plan": {"arr": 1.0}}, "plan keys"),
    ],
)
def test_forecast_bad_input_is_one_clear_error(book: Book, kwargs, match) -> None:
    with pytest.raises(InputError, match=match):
        forecast(book, YEAR, **kwargs)


def test_forecast_refuses_features_from_after_the_planning_date(book: Book) -> None:
    panel = ds.build_panel(book, dates=["2022-01-01", "2023-06-01"])
    with pytest.raises(InputError, match="as of after the planning date"):
        forecast(book, YEAR, model="logit", features=panel)


def test_forecast_too_little_history_is_a_clear_error(book: Book) -> None:
    with pytest.raises(InputError, match="settled renewal accounts"):
        forecast(book, 2020, model="logit")


# -- scenarios --------------------------------------------------------------------------
def test_scenario_uses_common_random_numbers_and_ranks_targets(fc) -> None:
    sc = scenario(fc, turn_green={"adoption": 10})
    t = sc.targets
    assert len(t) == 10
    assert list(t["rank"]) == list(range(1, 11))
    assert t["arr_saved"].is_monotonic_decreasing
    assert (t["score_after"] >= t["score_before"]).all()
    before = fc.accounts.loc[t["account_id"], "adoption_colour"]
    assert (before == "red").all()
    d = sc.delta_draws
    # untreated accounts keep their exact draws, so the change is only the targets' change
    gain = sc.candidates.set_index("account_id").loc[t["account_id"], "arr_gain_net"].sum()
    assert d.loc[d["segment"] == "All", "arr_end"].mean() == pytest.approx(gain, rel=1e-9)
    e = sc.frame().set_index(["segment", "metric"])
    assert e.loc[("All", "grr"), "lo95"] <= e.loc[("All", "grr"), "mean"]
    by_arr = scenario(fc, turn_green={"adoption": 10}, select="arr")
    assert by_arr.targets["arr_up"].is_monotonic_decreasing
    assert "ΔGRR" in repr(sc)


def test_scenario_bad_input(book: Book, fc) -> None:
    with pytest.raises(InputError, match="expected some of"):
        scenario(fc, turn_green={"happiness": 3})
    with pytest.raises(InputError, match="int ≥ 1"):
        scenario(fc, turn_green={"adoption": 0})
    ly = forecast(book, YEAR, model="last_year", n_draws=100)
    with pytest.raises(InputError, match="no account model"):
        scenario(ly, turn_green={"adoption": 5})


# -- backtest ---------------------------------------------------------------------------
def test_crps_matches_the_closed_form_for_a_normal() -> None:
    rng = np.random.default_rng(0)
    mu, sd, y = 0.3, 1.7, 1.1
    z = (y - mu) / sd
    exact = sd * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))
    assert crps_ensemble(rng.normal(mu, sd, 200_000), y) == pytest.approx(exact, rel=0.01)
    assert crps_ensemble(np.full(10, 2.0), 0.5) == pytest.approx(1.5)


def test_backtest_table(book: Book) -> None:
    bt = backtest(book, [2022, 2023], models=["logit", "colour_rate", "last_year"], n_draws=500)
    m = bt.frame()
    assert set(m["model"]) == {"logit", "colour_rate", "last_year"}
    assert set(m["fiscal_year"]) == {2022, 2023}
    assert (m["covered80"] == ((m["lo80"] <= m["actual"]) & (m["actual"] <= m["hi80"]))).all()
    assert (m["covered95"] >= m["covered80"]).all()
    assert (m["covered80"] >= m["covered50"]).all()
    ly = m[m["model"] == "last_year"]
    np.testing.assert_allclose(ly["crps_pts"], ly["error_pts"].abs(), atol=1e-9)
    r = ds.retention(book, [2022, 2023]).frame().set_index(["fiscal_year", "segment"])
    for _, row in m.iterrows():
        assert row["actual"] == pytest.approx(
            r.loc[(row["fiscal_year"], row["segment"]), row["metric"]]
        )
    a = bt.accounts
    assert set(a["model"]) == {"logit", "colour_rate"}
    assert (a["n"] > 100).all()
    assert a["brier"].between(0, 1).all()
    assert a["auc"].between(0, 1).all()
    s = bt.summary().set_index("model")
    assert np.isnan(s.loc["last_year", "brier"])
    assert s.loc["logit", "coverage95"] >= s.loc["logit", "coverage50"]
    # health data start on 2020-01-01: the FY2020 snapshot (2020-01-01) has no history
    # behind it, so that year is skipped (and said so)
    tr = bt.forecasts[(2023, "logit")].training
    assert tr["fiscal_years"] == [2022, 2021]
    assert tr["skipped_years"] == [2020]
    assert book.health_start() == pd.Timestamp("2020-01-01")


def test_backtest_refuses_unsettled_years(book: Book) -> None:
    with pytest.raises(InputError, match="not final"):
        backtest(book, [2024], models=["last_year"])
