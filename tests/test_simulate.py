"""The simulated world: contract-valid tables, reproducibility, confounding by design,
plausible retention, common random numbers under interventions, and documented truth."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from dearstats._schema import OUTCOME_STATUSES, TABLE_NAMES, TABLES
from dearstats.book import Book, read_book
from dearstats.errors import InputError
from dearstats.simulation import (
    ACTIVITY_TYPES,
    DIMENSIONS,
    ActivityTargeting,
    Intervention,
    SegmentConfig,
    SimConfig,
    Truth,
    simulate,
    write_book_parquet,
)

SEED = 7
N, YEARS = 200, 4


@pytest.fixture(scope="module")
def world() -> Book:
    return simulate(N, YEARS, random_seed=SEED)


@pytest.fixture(scope="module")
def big_world() -> Book:
    """A default-ish book: 1000 accounts, 5 years."""
    return simulate(1000, 5, random_seed=SEED)


def _arr_on(contracts: pd.DataFrame, day: str) -> pd.Series:
    """ARR per account on ``day``: sum of arr of contracts with start <= day < end."""
    d = pd.Timestamp(day)
    live = contracts[(contracts["start_date"] <= d) & (contracts["end_date"] > d)]
    return live.groupby("account_id")["arr"].sum()


def _retention(
    contracts: pd.DataFrame, year: int, accounts: pd.Index | None = None
) -> tuple[float, float, float]:
    """(sum ARR(t0), sum min(ARR(t1), ARR(t0)), sum ARR(t1)) over accounts with ARR(t0) > 0."""
    a0 = _arr_on(contracts, f"{year}-01-01")
    a0 = a0[a0 > 0]
    if accounts is not None:
        a0 = a0[a0.index.isin(accounts)]
    a1 = _arr_on(contracts, f"{year + 1}-01-01").reindex(a0.index, fill_value=0.0)
    return float(a0.sum()), float(np.minimum(a0, a1).sum()), float(a1.sum())


# -- the data contract -----------------------------------------------------------------


def test_all_tables_with_contract_columns_and_dtypes(world: Book) -> None:
    assert list(world.tables) == list(TABLE_NAMES)
    for name, df in world.tables.items():
        spec = TABLES[name]
        assert tuple(df.columns) == spec.column_names, name
        for col in spec.columns:
            assert str(df[col.name].dtype) == col.pandas_dtype, (name, col.name, df[col.name].dtype)
        assert len(df) > 0, name
        assert isinstance(df.index, pd.RangeIndex)


def test_keys_unique_non_null_and_sorted(world: Book) -> None:
    for name, df in world.tables.items():
        key = list(TABLES[name].key)
        assert not df[key].isna().any().any(), name
        assert not df.duplicated(key).any(), name
        resorted = df.sort_values(key, kind="stable").reset_index(drop=True)
        pd.testing.assert_frame_equal(df, resorted, obj=name)
        required = [c.name for c in TABLES[name].columns if not c.nullable]
        assert not df[required].isna().any().any(), name


def test_foreign_keys_resolve(world: Book) -> None:
    t = world.tables
    for name in TABLE_NAMES:
        for fk in TABLES[name].foreign_keys:
            child = t[name][list(fk.columns)].dropna()
            parent = t[fk.table][list(fk.ref_columns)]
            parent.columns = list(fk.columns)
            merged = child.merge(parent.drop_duplicates(), how="left", indicator=True)
            assert (merged["_merge"] == "both").all(), (name, fk)
    csms = set(t["accounts"]["csm_id"].dropna())
    assert set(t["activities"]["csm_id"].dropna()) <= csms
    # participants belong to the activity's account
    ac = t["activity_contacts"].merge(t["activities"][["activity_id", "account_id"]])
    ac = ac.merge(t["contacts"][["contact_id", "account_id"]], on="contact_id", suffixes=("", "_c"))
    assert (ac["account_id"] == ac["account_id_c"]).all()


def test_values_dates_and_contracts_are_valid(world: Book) -> None:
    t = world.tables
    c = t["contracts"]
    assert (c["end_date"] > c["start_date"]).all()
    assert (c["arr"] >= 0).all()
    assert (c["seats"] >= 0).all()
    assert (t["usage"]["events"] >= 1).all()
    assert (t["seat_snapshots"]["seats_active"] >= 0).all()
    for name, df in t.items():
        for col in TABLES[name].columns:
            if col.kind == "date":
                s = df[col.name].dropna()
                assert (s == s.dt.normalize()).all(), (name, col.name)
    # no overlapping contracts of one account and product
    c = c.sort_values(["account_id", "product", "start_date"])
    prev_end = c.groupby(["account_id", "product"])["end_date"].shift(1)
    assert not (c["start_date"] < prev_end).any()
    # every account's first contract starts on or after its creation
    first = c.groupby("account_id")["start_date"].min()
    created = t["accounts"].set_index("account_id")["created_date"]
    assert (first >= created.reindex(first.index)).all()
    assert set(t["accounts"]["account_id"]) == set(first.index)


def test_records_fit_the_customer_lifecycle(world: Book) -> None:
    t, end = world.tables, world.truth.end_date
    accounts = t["accounts"].set_index("account_id")
    snap = t["seat_snapshots"].merge(t["contracts"], on=["account_id", "product"])
    snap = snap[(snap["start_date"] <= snap["date"]) & (snap["date"] < snap["end_date"])]
    assert len(snap) == len(t["seat_snapshots"])  # each snapshot lies in exactly one contract
    assert (snap["seats_active"] <= snap["seats"]).all()
    for name, col in (("activities", "date"), ("usage", "date"), ("outcomes", "created_date")):
        df = t[name]
        assert (df[col] < end).all(), name
        assert (
            df[col].to_numpy() >= accounts.loc[df["account_id"], "created_date"].to_numpy()
        ).all()
    tech = accounts.index[accounts["csm_id"].isna()]
    acts = t["activities"]
    tech_acts = acts[acts["account_id"].isin(tech)]
    assert tech_acts["csm_id"].isna().all()
    assert set(tech_acts["activity_type"]) <= {"health_check"}
    assert acts.loc[~acts["account_id"].isin(tech), "csm_id"].notna().all()
    o = t["outcomes"]
    assert set(o["status"]) <= set(OUTCOME_STATUSES)
    assert (o["verified_date"].notna() == (o["status"] == "verified")).all()
    # open: the target is near or after the end (or verification comes after it)
    assert (o.loc[o["status"] == "open", "target_date"] >= end - pd.Timedelta(days=45)).all()
    assert ((o["status"] != "missed") | (o["target_date"] < end)).all()
    roles = t["contacts"]
    assert (
        roles["is_key"] == roles["role"].isin(["executive_sponsor", "champion", "decision_maker"])
    ).all()
    fc = t["feature_catalog"]
    assert 8 <= len(fc) <= 12
    assert fc["sticky"].any()
    assert fc["workflow"].isna().any()
    assert 3 <= fc["workflow"].nunique() <= 4
    assert set(t["contracts"]["product"]) == {"Core", "Analytics", "Automation"}
    assert set(t["accounts"]["segment"]) == {"SMB", "Mid-Market", "Enterprise"}


def test_book_validates(world: Book) -> None:
    report = Book(world.tables).validate()
    assert report.ok, report.render()


# -- reproducibility -------------------------------------------------------------------


def test_same_seed_same_world_and_different_seed_differs(world: Book) -> None:
    again = simulate(N, YEARS, random_seed=SEED)
    for name in TABLE_NAMES:
        pd.testing.assert_frame_equal(world.tables[name], again.tables[name], check_exact=True)
    pd.testing.assert_frame_equal(world.truth.latent, again.truth.latent, check_exact=True)
    pd.testing.assert_frame_equal(world.truth.renewals, again.truth.renewals, check_exact=True)
    other = simulate(N, YEARS, random_seed=SEED + 1)
    for name in ("accounts", "contracts", "activities", "usage", "outcomes"):
        assert not world.tables[name].equals(other.tables[name]), name


def test_arguments_are_checked() -> None:
    with pytest.raises(InputError, match="n_accounts"):
        simulate(0, 2)
    with pytest.raises(InputError, match="random_seed"):
        simulate(10, 2, random_seed=-1)
    bad = dataclasses.replace(SimConfig(), red_below=1.0, green_at=0.0)
    with pytest.raises(InputError, match="red_below"):
        simulate(10, 2, config=bad)
    with pytest.raises(InputError, match="unknown dimension"):
        simulate(10, 2, intervention=Intervention(force_green={"happiness": ["A00001"]}))
    with pytest.raises(InputError, match="unknown account"):
        simulate(10, 2, intervention=Intervention(extra_activities={"ebr": {"A99999": 1}}))


# -- the truth ---------------------------------------------------------------------------


def test_truth_describe_covers_every_field_and_parameter(world: Book) -> None:
    truth = world.truth
    desc = truth.describe()
    assert list(desc.columns) == ["name", "kind", "value", "meaning"]
    assert (desc["meaning"].str.len() > 0).all(), desc[desc["meaning"].str.len() == 0]
    names = set(desc["name"])
    for f in dataclasses.fields(Truth):
        assert f.name in names or f.name == "config", f.name
    for f in dataclasses.fields(SimConfig):
        assert any(
            n == f"config.{f.name}"
            or n.startswith(f"config.{f.name}[")
            or n.startswith(f"config.{f.name}.")
            for n in names
        ), f.name
    for cls in (SimConfig, SegmentConfig, ActivityTargeting):
        for f in dataclasses.fields(cls):
            assert f.metadata.get("doc"), (cls.__name__, f.name)
    assert set(truth.csms.columns) >= {"csm_id", "skill"}
    assert truth.activity_effects.shape == (len(ACTIVITY_TYPES), len(DIMENSIONS))
    assert list(truth.latent.columns[:6]) == ["account_id", "month", *DIMENSIONS]
    r = truth.renewals
    probs = r[["p_churn", "p_contraction", "p_flat", "p_expansion"]].sum(axis=1)
    np.testing.assert_allclose(probs, 1.0)
    assert set(r["outcome"]) <= {"churn", "contraction", "flat", "expansion"}
    colours = truth.colours()
    assert set(np.unique(colours[list(DIMENSIONS)])) <= {"red", "yellow", "green"}


def test_renewal_truth_matches_the_contracts(world: Book) -> None:
    r, c = world.truth.renewals, world.tables["contracts"].set_index("contract_id")
    assert r["contract_id"].isin(c.index).all()
    ending = c.loc[r["contract_id"]]
    assert (ending["end_date"].to_numpy() == r["renewal_date"].to_numpy()).all()
    renewed = r[r["new_contract_id"].notna()]
    new = c.loc[renewed["new_contract_id"]]
    np.testing.assert_allclose(new["arr"].to_numpy(), renewed["arr_after"].to_numpy())
    gap = (new["start_date"].to_numpy() - renewed["renewal_date"].to_numpy()) / np.timedelta64(
        1, "D"
    )
    assert (gap >= 0).all()
    assert (gap <= SimConfig().late_renewal_max_days).all()
    assert (gap > 0).any()  # some renewals are late
    kind = renewed["outcome"].to_numpy()
    ratio = renewed["arr_after"].to_numpy() / renewed["arr_before"].to_numpy()
    assert (ratio[kind == "expansion"] > 1).all()
    assert (ratio[kind == "contraction"] < 1).all()
    assert (ratio[kind == "flat"] == 1).all()
    # churned chains end: no later contract of that account and product
    churned = r[r["outcome"] == "churn"]
    later = c.reset_index().merge(churned[["account_id", "product", "renewal_date"]])
    assert not (later["start_date"] >= later["renewal_date"]).any()


# -- what the world is for ---------------------------------------------------------------


def test_observables_track_the_latents(big_world: Book) -> None:
    """Simple per-account features over two years rank accounts like their mean latent
    (Spearman >= 0.6): seat activation, key-contact touches per customer-month, active
    user-days per user and month plus sticky share, share of due outcomes verified."""
    t, lat = big_world.tables, big_world.truth.latent
    y0, y1 = pd.Timestamp("2022-01-01"), pd.Timestamp("2024-01-01")
    panel = lat[(lat["month"] >= y0) & (lat["month"] < y1)].groupby("account_id")
    latent = panel[list(DIMENSIONS)].mean()
    months = panel["active_share"].sum()

    def within(df: pd.DataFrame, col: str) -> pd.DataFrame:
        return df[(df[col] >= y0) & (df[col] < y1)]

    core = t["contracts"][t["contracts"]["product"] == "Core"]
    snap = within(t["seat_snapshots"], "date")
    snap = snap[snap["product"] == "Core"].merge(core, on=["account_id", "product"])
    snap = snap[(snap["start_date"] <= snap["date"]) & (snap["date"] < snap["end_date"])]
    deployment = (snap["seats_active"] / snap["seats"]).groupby(snap["account_id"]).mean()

    acts = within(t["activities"], "date")
    part = t["activity_contacts"].merge(acts[["activity_id", "account_id"]])
    part = part.merge(t["contacts"][["contact_id", "is_key"]])
    key_touches = part[part["is_key"]].groupby("account_id").size()
    engagement = key_touches.reindex(latent.index, fill_value=0) / months

    use = within(t["usage"], "date").merge(t["feature_catalog"][["feature", "sticky"]])
    by_account = use.groupby("account_id")
    user_days = use[["account_id", "user_id", "date"]].drop_duplicates().groupby("account_id")
    breadth = user_days.size() / by_account["user_id"].nunique() / months
    adoption = breadth.rank() + by_account["sticky"].mean().rank()

    out = t["outcomes"]
    out = out[(out["target_date"] >= y0) & (out["target_date"] < y1) & (out["status"] != "open")]
    roi = (out["status"] == "verified").groupby(out["account_id"]).mean()

    for feature, dim in (
        (deployment, "deployment"),
        (engagement, "engagement"),
        (adoption, "adoption"),
        (roi, "roi"),
    ):
        both = pd.concat([feature.rename("feature"), latent[dim]], axis=1, join="inner").dropna()
        assert len(both) >= 200, dim
        rho = both.corr(method="spearman").iloc[0, 1]
        assert rho >= 0.6, (dim, rho)


def test_activities_are_aimed_at_low_health_but_help(world: Book) -> None:
    truth = world.truth
    lat = truth.latent.merge(truth.accounts[["account_id", "high_touch"]])
    lat = lat[lat["high_touch"]]
    targeted = [k for k in ACTIVITY_TYPES if k != "check_in"]
    n_targeted = lat[[f"n_{k}" for k in targeted]].sum(axis=1)
    health = lat[list(DIMENSIONS)].mean(axis=1)
    rho = pd.concat([health, n_targeted], axis=1).corr(method="spearman").iloc[0, 1]
    assert rho < -0.2
    low, high = health <= health.quantile(1 / 3), health >= health.quantile(2 / 3)
    assert n_targeted[low].mean() > 2 * n_targeted[high].mean()
    # ...and the truth says they causally help and are targeted on purpose
    effects = truth.activity_effects.loc[targeted]
    assert (effects.to_numpy() >= 0).all()
    assert (effects.sum(axis=1) > 0).all()
    tg = truth.targeting[truth.targeting["population"] == "high_touch"].set_index("activity_type")
    assert (tg.loc[targeted, [f"w_{d}" for d in DIMENSIONS]].sum(axis=1) < 0).all()


def test_naive_renewal_regression_is_confounded(big_world: Book) -> None:
    """Churners had more targeted activities before renewal than renewers: naive analysis
    makes activities look harmful although their true effect on health is positive."""
    w = big_world
    lat = w.truth.latent
    targeted = [f"n_{k}" for k in ACTIVITY_TYPES if k != "check_in"]
    lat = lat.assign(targeted=lat[targeted].sum(axis=1))[["account_id", "month", "targeted"]]
    r = w.truth.renewals.merge(w.truth.accounts[["account_id", "high_touch"]])
    r = r[(r["product"] == "Core") & r["high_touch"]]
    window = r[["contract_id", "account_id", "decision_month", "outcome"]].merge(
        lat, on="account_id"
    )
    lag = (window["decision_month"] - window["month"]).dt.days
    window = window[(lag >= 0) & (lag < 183)]
    per_event = window.groupby(["contract_id", "outcome"])["targeted"].sum().reset_index()
    churn = per_event.loc[per_event["outcome"] == "churn", "targeted"].mean()
    renew = per_event.loc[per_event["outcome"] != "churn", "targeted"].mean()
    assert churn > 1.2 * renew


def _pooled_retention(w: Book, years: range) -> pd.DataFrame:
    c, seg = w.tables["contracts"], w.tables["accounts"].set_index("account_id")["segment"]
    rows = []
    for segment in [*seg.unique(), "all"]:
        ids = seg.index if segment == "all" else seg.index[seg == segment]
        tot = np.sum([_retention(c, y, ids) for y in years], axis=0)
        rows.append((segment, tot[1] / tot[0], tot[2] / tot[0]))
    return pd.DataFrame(rows, columns=["segment", "grr", "nrr"]).set_index("segment")


def test_retention_is_plausible_and_segments_ordered(big_world: Book) -> None:
    w = big_world
    ret = _pooled_retention(w, range(2021, 2024))  # the middle fiscal years
    assert 0.85 <= ret.loc["all", "grr"] <= 0.95, ret
    assert 1.00 <= ret.loc["all", "nrr"] <= 1.15, ret
    assert (ret["grr"].between(0.78, 0.97)).all(), ret
    assert (ret["nrr"].between(0.88, 1.2)).all(), ret
    order = list(w.truth.config.segment_grr_order)
    assert list(ret.loc[order, "grr"]) == sorted(ret.loc[order, "grr"], reverse=True), ret
    assert list(w.truth.segments.sort_values("grr_rank").index) == order


# -- interventions ------------------------------------------------------------------------


def _untouched(w: Book, ids: set[str]) -> Callable[[str], pd.DataFrame]:
    t = w.tables

    def rows(name: str) -> pd.DataFrame:
        df = t[name]
        if name == "activity_contacts":
            keep = t["activities"].loc[~t["activities"]["account_id"].isin(ids), "activity_id"]
            return df[df["activity_id"].isin(keep)].reset_index(drop=True)
        if name == "feature_catalog":
            return df
        return df[~df["account_id"].isin(ids)].reset_index(drop=True)

    return rows


def test_intervention_changes_only_the_accounts_it_touches(world: Book) -> None:
    acc = world.tables["accounts"]
    forced = list(acc["account_id"].iloc[::5])
    extra = {"ebr": {a: 1 for a in acc["account_id"].iloc[1::7]}}
    iv = Intervention(
        force_green={"adoption": forced}, extra_activities=extra, from_date="2021-01-01"
    )
    what_if = simulate(N, YEARS, random_seed=SEED, intervention=iv)
    ids = set(iv.account_ids)
    base_rows, new_rows = _untouched(world, ids), _untouched(what_if, ids)
    for name in TABLE_NAMES:
        pd.testing.assert_frame_equal(base_rows(name), new_rows(name), check_exact=True, obj=name)
    # touched accounts differ, but not before the intervention starts
    assert not world.tables["usage"].equals(what_if.tables["usage"])
    start = pd.Timestamp("2021-01-01")
    for name, col in (("activities", "date"), ("usage", "date"), ("seat_snapshots", "date")):
        before = [
            w.tables[name][w.tables[name][col] < start].reset_index(drop=True)
            for w in (world, what_if)
        ]
        pd.testing.assert_frame_equal(*before, check_exact=True, obj=name)

    # forced accounts are green on adoption from the start month, and healthier
    lat0, lat1 = world.truth.latent, what_if.truth.latent
    after = lat1[(lat1["month"] >= start) & lat1["account_id"].isin(forced)]
    assert (after["adoption"] >= SimConfig().green_at - 1e-12).all()
    both = lat0.merge(lat1, on=["account_id", "month"], suffixes=("_0", "_1"))
    both = both[(both["month"] >= start) & both["account_id"].isin(forced)]
    assert (both["adoption_1"] - both["adoption_0"]).mean() > 0.3
    # their renewal probabilities rise (same contracts, decided after the start)
    r = world.truth.renewals.merge(what_if.truth.renewals, on="contract_id", suffixes=("_0", "_1"))
    r = r[r["account_id_0"].isin(forced) & (r["decision_month_0"] >= start)]
    assert len(r) >= 10
    assert (r["p_churn_1"] - r["p_churn_0"]).mean() < -0.02
    assert (r["p_expansion_1"] - r["p_expansion_0"]).mean() > 0.02
    # extra activities happen every customer month from the start (the usual, targeted ones
    # may become rarer: the extra ones raise health)
    n0 = lat0.set_index(["account_id", "month"])["n_ebr"]
    n1 = lat1.set_index(["account_id", "month"])["n_ebr"]
    n1 = n1[n1.index.get_level_values("account_id").isin(extra["ebr"])]
    months = n1.index.get_level_values("month")
    assert (n1[months >= start] >= 1).all()
    assert (n1[months < start] == n0.reindex(n1[months < start].index)).all()


# -- big books -----------------------------------------------------------------------------


def test_write_book_parquet_streams_usage(tmp_path: pytest.TempPathFactory) -> None:
    out = write_book_parquet(tmp_path / "book", 60, 2, random_seed=SEED, block_accounts=7)
    in_memory = simulate(60, 2, random_seed=SEED)
    for name in TABLE_NAMES:
        path = out.path / f"{name}.parquet"
        assert path.exists(), name
        assert pq.read_metadata(path).num_rows == out.rows[name] == len(in_memory.tables[name])
    meta = pq.read_metadata(out.path / "usage.parquet")
    assert meta.num_row_groups > 1
    usage = pq.read_table(out.path / "usage.parquet").to_pandas()
    usage["date"] = pd.to_datetime(usage["date"]).astype("datetime64[us]")
    pd.testing.assert_frame_equal(usage, in_memory.tables["usage"], check_dtype=False)
    assert read_book(out.path).validate().ok  # read back lazily (DuckDB) and valid
    sized = write_book_parquet(
        tmp_path / "sized", years=2, target_usage_rows=50_000, random_seed=SEED
    )
    assert 30_000 <= sized.rows["usage"] <= 80_000
    with pytest.raises(InputError, match="exactly one"):
        write_book_parquet(tmp_path / "x", 10, 2, target_usage_rows=10)
