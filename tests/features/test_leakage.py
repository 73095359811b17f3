"""No leakage, proven: records dated on or after ``as_of`` never move features as of
``as_of``; records dated just before it do.

Property tests run on Polars (the fastest engine here): the cut and every feature are the
same narwhals expressions on every engine, and test_engines proves the engines agree.
"""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import AS_OF, SPAN, START, before, feature_tables, frame, make_book, random_tables
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dearstats.features import build_features

ACTIONS = st.sampled_from(["keep", "delete", "alter", "add"])
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _features(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp) -> pd.DataFrame:
    return build_features(make_book(tables, engine="polars"), as_of)


def _days(n: int) -> pd.Timedelta:
    return pd.Timedelta(days=n)


def _future(
    tables: dict[str, pd.DataFrame], as_of: pd.Timestamp, plan: dict[str, str], offset: int
) -> dict[str, pd.DataFrame]:
    """Apply ``plan[table]`` to the records of ``tables`` dated on or after ``as_of``.

    delete: drop them; alter: change their values and push their dates later; add: new
    records dated ``as_of + offset`` (``offset`` may be 0: the boundary itself).
    """
    t = {k: v.copy() for k, v in tables.items()}
    when = as_of + _days(offset)
    accounts = list(t["accounts"]["account_id"])

    acc = t["accounts"]
    late = acc["created_date"] >= as_of
    if plan["accounts"] == "delete":
        gone = set(acc.loc[late, "account_id"])
        for name in (
            "accounts",
            "contracts",
            "seat_snapshots",
            "contacts",
            "activities",
            "usage",
            "outcomes",
        ):
            t[name] = t[name][~t[name]["account_id"].isin(gone)]
        t["activity_contacts"] = t["activity_contacts"][
            t["activity_contacts"]["activity_id"].isin(t["activities"]["activity_id"])
        ]
    elif plan["accounts"] == "alter":
        acc.loc[late, "segment"] = "Changed"
        acc.loc[late, "created_date"] = acc.loc[late, "created_date"] + _days(1)
    elif plan["accounts"] == "add":
        t["accounts"] = pd.concat(
            [
                acc,
                frame("accounts", [{"account_id": "NEW", "segment": "SMB", "created_date": when}]),
            ]
        )

    c = t["contracts"]
    late = c["start_date"] >= as_of
    if plan["contracts"] == "delete":
        t["contracts"] = c[~late]
    elif plan["contracts"] == "alter":
        c.loc[late, "arr"] = c.loc[late, "arr"] * 3 + 1
        c.loc[late, "seats"] = c.loc[late, "seats"] + 5
        c.loc[late, "end_date"] = c.loc[late, "end_date"] + _days(100)
    elif plan["contracts"] == "add":
        t["contracts"] = pd.concat(
            [
                c,
                frame(
                    "contracts",
                    [
                        {
                            "contract_id": f"NEW{i}",
                            "account_id": a,
                            "product": "Core",
                            "start_date": when,
                            "end_date": when + _days(365),
                            "arr": 777.0,
                            "seats": 3,
                        }
                        for i, a in enumerate(accounts)
                    ],
                ),
            ]
        )

    s = t["seat_snapshots"]
    late = s["date"] >= as_of
    if plan["seat_snapshots"] == "delete":
        t["seat_snapshots"] = s[~late]
    elif plan["seat_snapshots"] == "alter":
        s.loc[late, "seats_active"] = s.loc[late, "seats_active"] + 7
    elif plan["seat_snapshots"] == "add":
        new = frame(
            "seat_snapshots",
            [
                {"account_id": a, "product": p, "date": when, "seats_active": 99}
                for a in accounts
                for p in ("Core", "Plus")
            ],
        )
        keep = s.merge(new[["account_id", "product", "date"]], how="left", indicator=True)
        t["seat_snapshots"] = pd.concat([s[(keep["_merge"] == "left_only").to_numpy()], new])

    a = t["activities"]
    late = a["date"] >= as_of
    if plan["activities"] == "delete":
        t["activities"] = a[~late]
        t["activity_contacts"] = t["activity_contacts"][
            t["activity_contacts"]["activity_id"].isin(t["activities"]["activity_id"])
        ]
    elif plan["activities"] == "alter":
        a.loc[late, "activity_type"] = "ebr"
        a.loc[late, "date"] = a.loc[late, "date"] + _days(3)
        links = [
            {"activity_id": i, "contact_id": c}
            for i, acc_id in zip(a.loc[late, "activity_id"], a.loc[late, "account_id"], strict=True)
            for c in t["contacts"].loc[t["contacts"]["account_id"] == acc_id, "contact_id"]
        ]
        ac = pd.concat([t["activity_contacts"], frame("activity_contacts", links)])
        t["activity_contacts"] = ac.drop_duplicates()
    elif plan["activities"] == "add":
        t["activities"] = pd.concat(
            [
                a,
                frame(
                    "activities",
                    [
                        {
                            "activity_id": f"NEW{i}",
                            "account_id": x,
                            "date": when,
                            "activity_type": "ebr",
                        }
                        for i, x in enumerate(accounts)
                    ],
                ),
            ]
        )
        links = [
            {"activity_id": f"NEW{i}", "contact_id": c}
            for i, x in enumerate(accounts)
            for c in t["contacts"].loc[t["contacts"]["account_id"] == x, "contact_id"]
        ]
        t["activity_contacts"] = pd.concat(
            [t["activity_contacts"], frame("activity_contacts", links)]
        )

    u = t["usage"]
    late = u["date"] >= as_of
    if plan["usage"] == "delete":
        t["usage"] = u[~late]
    elif plan["usage"] == "alter":
        u.loc[late, "events"] = u.loc[late, "events"] + 3
        u.loc[late, "user_id"] = [f"Z{i}" for i in range(int(late.sum()))]
    elif plan["usage"] == "add":
        t["usage"] = pd.concat(
            [
                u,
                frame(
                    "usage",
                    [
                        {
                            "account_id": x,
                            "user_id": "NEWU",
                            "date": when,
                            "feature": f,
                            "events": 5,
                        }
                        for x in accounts
                        for f in ("f1", "f2", "f3")
                    ],
                ),
            ]
        )

    o = t["outcomes"]
    late = o["created_date"] >= as_of
    if plan["outcomes"] == "delete":
        t["outcomes"] = o[~late]
    elif plan["outcomes"] == "alter":
        o.loc[late, "status"] = "verified"
        o.loc[late, "verified_date"] = o.loc[late, "created_date"] + _days(1)
        # outcomes created before as_of but resolved on or after it
        resolved_late = ~late & (o["verified_date"] >= as_of)
        o.loc[resolved_late, "verified_date"] = o.loc[resolved_late, "verified_date"] + _days(9)
        pending = ~late & o["status"].isin(["missed", "abandoned"]) & (o["target_date"] >= as_of)
        o.loc[pending, "status"] = o.loc[pending, "status"].map(
            {"missed": "abandoned", "abandoned": "missed"}
        )
    elif plan["outcomes"] == "add":
        t["outcomes"] = pd.concat(
            [
                o,
                frame(
                    "outcomes",
                    [
                        {
                            "outcome_id": f"NEW{i}",
                            "account_id": x,
                            "created_date": when,
                            "target_date": when + _days(5),
                            "status": "open",
                        }
                        for i, x in enumerate(accounts)
                    ],
                ),
            ]
        )
    return t


@SETTINGS
@given(
    seed=st.integers(0, 10_000),
    cut=st.integers(20, SPAN),
    offset=st.sampled_from([0, 1, 45]),
    plan=st.fixed_dictionaries(
        {
            name: ACTIONS
            for name in (
                "accounts",
                "contracts",
                "seat_snapshots",
                "activities",
                "usage",
                "outcomes",
            )
        }
    ),
)
def test_records_dated_on_or_after_as_of_never_move_features(seed, cut, offset, plan):
    tables = random_tables(seed, n_accounts=4)
    as_of = START + _days(cut)
    expected = _features(tables, as_of)
    changed = _future(tables, as_of, plan, offset)
    pd.testing.assert_frame_equal(_features(changed, as_of), expected)


@SETTINGS
@given(seed=st.integers(0, 10_000), cut=st.integers(60, SPAN))
def test_records_the_day_before_as_of_do_count(seed, cut):
    tables = random_tables(seed, n_accounts=4)
    as_of = START + _days(cut)
    base = _features(tables, as_of)
    if base.empty:
        return
    target = base.index[0]
    t = {k: v.copy() for k, v in tables.items()}
    t["activities"] = pd.concat(
        [
            t["activities"],
            frame(
                "activities",
                [
                    {
                        "activity_id": "JUST",
                        "account_id": target,
                        "date": as_of - _days(1),
                        "activity_type": "training",
                    }
                ],
            ),
        ]
    )
    t["usage"] = pd.concat(
        [
            t["usage"],
            frame(
                "usage",
                [
                    {
                        "account_id": target,
                        "user_id": "JUST",
                        "date": as_of - _days(1),
                        "feature": "f1",
                        "events": 1,
                    }
                ],
            ),
        ]
    )
    moved = _features(t, as_of)
    assert moved.loc[target, "act_training"] == base.loc[target, "act_training"] + 1
    assert moved.loc[target, "adoption_users_30d"] == base.loc[target, "adoption_users_30d"] + 1
    assert moved.loc[target, "adoption_sticky_share"] > 0  # f1 is sticky
    others = base.index.drop(target)
    pd.testing.assert_frame_equal(moved.loc[others], base.loc[others])


def _drop(t: dict[str, pd.DataFrame], table: str, **match) -> dict[str, pd.DataFrame]:
    t = {k: v.copy() for k, v in t.items()}
    df = t[table]
    mask = pd.Series(True, index=df.index)
    for col, value in match.items():
        mask &= df[col] == value
    assert mask.sum() == 1, match
    t[table] = df[~mask]
    return t


@pytest.mark.parametrize(
    ("table", "match", "feature"),
    [
        # the latest usage row before AS_OF (U1, 1 day before)
        ("usage", {"user_id": "U1", "date": before(1)}, "adoption_dau_mau"),
        # the latest Core snapshot (10 days before)
        ("seat_snapshots", {"product": "Core", "date": before(10)}, "deployment_activation"),
        # the latest activity (1 day before)
        ("activities", {"activity_id": "X1"}, "act_training"),
        # the latest verification (5 days before)
        ("outcomes", {"outcome_id": "O2"}, "roi_days_since_verified"),
        # the oldest record still inside a window (the 90th day of the activity window)
        ("activities", {"activity_id": "X7"}, "act_other"),
    ],
)
def test_deleting_a_record_just_before_as_of_moves_its_feature(table, match, feature):
    tables = feature_tables()
    base = _features(tables, AS_OF)
    moved = _features(_drop(tables, table, **match), AS_OF)
    assert moved.loc["A1", feature] != base.loc["A1", feature]


def test_the_record_on_as_of_itself_is_invisible():
    # conftest dates U7, X6, O7, K8 and a Core snapshot exactly on AS_OF; without them
    # nothing changes
    tables = feature_tables()
    base = _features(tables, AS_OF)
    t = _drop(tables, "usage", user_id="U7")
    t = _drop(t, "activities", activity_id="X6")
    t["activity_contacts"] = t["activity_contacts"][t["activity_contacts"]["activity_id"] != "X6"]
    t = _drop(t, "outcomes", outcome_id="O7")
    t = _drop(t, "contracts", contract_id="K8")
    t = _drop(t, "seat_snapshots", product="Core", date=AS_OF)
    pd.testing.assert_frame_equal(_features(t, AS_OF), base)
