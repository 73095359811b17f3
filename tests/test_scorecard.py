"""Tests of dearstats.scorecard: hand-computed transforms and scores, colours at the edges,
panels, JSON round trip and schema errors, and hypothesis properties."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from importlib import resources

import jsonschema
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dearstats.errors import InputError
from dearstats.scorecard import (
    COLOUR_DTYPE,
    DIMENSIONS,
    SCHEMA_ID,
    Boolean,
    Dimension,
    Linear,
    Log,
    Logistic,
    Measure,
    Provenance,
    ScoreCard,
    Thresholds,
    transform_from_dict,
)

NAN = float("nan")
DEFAULT = ScoreCard.default()


def identity_card(**dimension_weights: float) -> ScoreCard:
    """Dimensions 'a' and 'b', each one measure (x, y) scored as its value: easy arithmetic."""
    weights = {"a": 1.0, "b": 1.0, **dimension_weights}
    return ScoreCard(
        tuple(
            Dimension(dim, (Measure(col, Linear(lo=0, hi=100)),), weight=weights[dim])
            for dim, col in (("a", "x"), ("b", "y"))
        )
    )


def default_features(n: int = 3) -> pd.DataFrame:
    """A features-like frame for the default card: middling values plus context columns."""
    rng = np.random.default_rng(0)
    cols: dict[str, object] = {"account_id": [f"A{i}" for i in range(n)], "as_of": "2025-01-01"}
    for m in DEFAULT.measures:
        cols[m.name] = rng.uniform(0, 1, n) if not isinstance(m.transform, Boolean) else [True] * n
    cols.update(arr=np.linspace(1e3, 1e5, n), segment="SMB")
    return pd.DataFrame(cols)


# --------------------------------------------------------------------- transforms
@pytest.mark.parametrize(
    ("transform", "values", "expected"),
    [
        (Linear(lo=0, hi=10), [-5, 0, 2.5, 10, 20], [0, 0, 25, 100, 100]),
        (Linear(lo=10, hi=0), [-5, 0, 2.5, 10, 20], [100, 100, 75, 0, 0]),  # reversed
        (Linear(lo=0.3, hi=0.9), [0.6, math.inf, -math.inf], [50, 100, 0]),
        (Log(lo=0, hi=3), [-1, 0, 1, 3, 100], [0, 0, 50, 100, 100]),  # ln2/ln4 = 1/2
        (Log(lo=3, hi=0), [0, 1, 3, 7], [100, 50, 0, 0]),
        (Boolean(if_true=80, if_false=10), [1, 0], [80, 10]),
        (
            Logistic(center=10, scale=2),
            [10, 12, 8],
            [50, 100 / (1 + math.e**-1), 100 / (1 + math.e)],
        ),
        (Logistic(center=10, scale=-2), [12, 1e308, -1e308], [100 / (1 + math.e), 0, 100]),
    ],
)
def test_transforms_hand_computed(transform, values, expected):
    assert transform.apply(values) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("null", [0, 55.5, "ignore"])
def test_null_policy(null):
    for t in (
        Linear(lo=0, hi=1, null=null),
        Log(lo=0, hi=5, null=null),
        Boolean(null=null),
        Logistic(center=0, scale=1, null=null),
    ):
        out = t.apply([NAN, None])
        if null == "ignore":
            assert np.isnan(out).all()
        else:
            assert out.tolist() == [null, null]


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda: Linear(lo=1, hi=1), "lo and hi must differ"),
        (lambda: Log(lo=-1, hi=3), "log lo must be ≥ 0"),
        (lambda: Logistic(center=0, scale=0), "scale must be non-zero"),
        (lambda: Linear(lo=0, hi=1, null=150), "null must be in [0, 100]"),
        (lambda: Linear(lo=0, hi=1, null=True), "must be a number"),
        (lambda: Linear(lo=0, hi=math.nan), "must be finite"),
        (lambda: Boolean(if_true=101), "if_true must be in [0, 100]"),
        (lambda: Thresholds(70, 40), "thresholds must increase"),
        (lambda: Measure("bad name", Linear(lo=0, hi=1)), "identifier"),
        (lambda: Measure("m", Linear(lo=0, hi=1), weight=-1), "weight must be ≥ 0"),
        (lambda: Dimension("overall", (Measure("m", Linear(lo=0, hi=1)),)), "reserved"),
        (lambda: Dimension("d", (Measure("m", Linear(lo=0, hi=1), weight=0),)), "all 0"),
        (lambda: transform_from_dict({"kind": "sqrt"}), "kind must be one of"),
        (lambda: transform_from_dict({"kind": "linear", "lo": 0}), "linear transform"),
    ],
)
def test_invalid_configuration_is_refused(make, needle):
    with pytest.raises(InputError) as info:
        make()
    assert needle in str(info.value)


def test_boolean_refuses_non_boolean_values():
    with pytest.raises(InputError, match="boolean measure takes true/false"):
        Boolean().apply([1, 0.5], name="roi_has_plan")


def test_transform_dict_round_trip():
    for m in DEFAULT.measures:
        assert transform_from_dict(m.transform.to_dict()) == m.transform


# ------------------------------------------------------------------ weighted means
def test_measure_weights_renormalise_over_present_measures():
    dim = Dimension(
        "d",
        (
            Measure("p", Linear(lo=0, hi=100), weight=1),
            Measure("q", Linear(lo=0, hi=100, null="ignore"), weight=2),
            Measure("r", Linear(lo=0, hi=100, null=0), weight=3),
        ),
    )
    card = ScoreCard((dim,))
    f = pd.DataFrame({"p": [10.0, 10.0, NAN], "q": [40.0, NAN, NAN], "r": [70.0, 70.0, NAN]})
    out = card.score(f)
    expected = [
        (10 + 2 * 40 + 3 * 70) / 6,  # all present
        (10 + 3 * 70) / 4,  # q ignored: weights 1 and 3 renormalised
        (3 * 0) / 3,  # p, q ignored; r null → 0
    ]
    assert out["d_score"].tolist() == pytest.approx(expected)


def test_all_measures_ignored_gives_null_score_and_missing_colour():
    card = identity_card()
    out = card.score(pd.DataFrame({"x": [NAN, 80.0], "y": [20.0, NAN]}))
    assert np.isnan(out["a_score"].iloc[0])
    assert pd.isna(out["a_colour"].iloc[0])
    # overall renormalises over the known dimensions
    assert out["overall_score"].tolist() == [20.0, 80.0]
    assert out["overall_colour"].astype(str).tolist() == ["red", "green"]
    both = card.score(pd.DataFrame({"x": [NAN], "y": [NAN]}))
    assert np.isnan(both["overall_score"].iloc[0])
    assert pd.isna(both["overall_colour"].iloc[0])


def test_dimension_weights():
    out = identity_card(a=3, b=1).score(pd.DataFrame({"x": [100.0], "y": [0.0]}))
    assert out["overall_score"].iloc[0] == pytest.approx(75.0)


# --------------------------------------------------------------------- colours
def test_colours_at_threshold_edges():
    values = [0, 39.999, 40, 69.999, 70, 100]
    out = identity_card().score(pd.DataFrame({"x": values, "y": values}))
    expected = ["red", "red", "yellow", "yellow", "green", "green"]
    for col in ("a_colour", "b_colour", "overall_colour"):
        assert out[col].dtype == COLOUR_DTYPE
        assert out[col].astype(str).tolist() == expected
    assert out["a_colour"].cat.codes.tolist() == [0, 0, 1, 1, 2, 2]  # ordered red < yellow < green


def test_thresholds_are_configurable_per_dimension():
    card = identity_card().with_thresholds(a=(20, 50), overall=Thresholds(10, 90))
    out = card.score(pd.DataFrame({"x": [30.0], "y": [30.0]}))
    assert out["a_colour"].iloc[0] == "yellow"
    assert out["b_colour"].iloc[0] == "red"
    assert out["overall_colour"].iloc[0] == "yellow"


# --------------------------------------------------------------------- score()
def test_score_keeps_index_and_columns_and_does_not_mutate_input():
    feats = default_features(4).set_index(pd.Index(["k1", "k2", "k3", "k4"], name="key"))
    before = feats.copy()
    out = DEFAULT.score(feats)
    pd.testing.assert_frame_equal(feats, before)
    assert out.index.equals(feats.index)
    new = [f"{d}_{s}" for d in [*DIMENSIONS, "overall"] for s in ("score", "colour")]
    assert list(out.columns) == [*feats.columns, *new]
    pd.testing.assert_frame_equal(out[feats.columns], feats)
    for d in [*DIMENSIONS, "overall"]:
        assert out[f"{d}_score"].dtype == np.float64
        assert out[f"{d}_score"].between(0, 100).all()
    again = DEFAULT.score(out)  # re-scoring replaces the score columns
    pd.testing.assert_frame_equal(again, out)


def test_default_card_on_hand_values():
    f = default_features(1)
    f["deployment_activation"] = 0.45  # linear 0.3→0.9: 25 (weight 5)
    f["deployment_activation_trend"] = 0.05  # linear -0.2→0.2: 62.5 (weight 0.5)
    f["deployment_shelfware"] = True  # 0 (weight 1)
    out = DEFAULT.score(f)
    assert out["deployment_score"].iloc[0] == pytest.approx((5 * 25 + 0.5 * 62.5 + 1 * 0) / 6.5)
    assert out["deployment_colour"].iloc[0] == "red"  # 24.0 < 40


def test_score_accepts_nullable_and_object_columns():
    f = default_features(3)
    f["deployment_shelfware"] = pd.array([True, None, False], dtype="boolean")
    f["roi_has_plan"] = pd.Series([True, None, False], dtype=object)
    f["roi_verified_90d"] = pd.array([1, None, 3], dtype="Int64")
    f["engagement_days_since_sponsor"] = pd.to_timedelta([10, 100, None], unit="D")
    out = DEFAULT.score(f)
    assert out["roi_score"].notna().all()


def test_missing_measure_columns_are_listed():
    f = default_features().drop(columns=["adoption_breadth", "roi_has_plan"])
    with pytest.raises(InputError) as info:
        DEFAULT.score(f)
    msg = str(info.value)
    assert "missing 2 measure columns" in msg
    assert "adoption_breadth (adoption)" in msg
    assert "roi_has_plan (roi)" in msg
    assert "ds.build_features" in msg
    assert "optional" in msg


def test_optional_measure_may_be_absent():
    f = default_features()
    with_trend = DEFAULT.score(f)
    without = DEFAULT.score(f.drop(columns=["adoption_trend"]))
    assert without["adoption_score"].notna().all()
    assert not np.allclose(without["adoption_score"], with_trend["adoption_score"])


def test_non_numeric_measure_column_is_refused():
    f = default_features()
    f["adoption_breadth"] = ["0.5", "high", "0.2"]
    with pytest.raises(InputError, match=r"'adoption_breadth' must be numeric.*'high'"):
        DEFAULT.score(f)


def test_score_on_empty_frame_and_repeated_columns():
    empty = DEFAULT.score(default_features(0))
    assert len(empty) == 0
    assert empty["overall_colour"].dtype == COLOUR_DTYPE
    f = default_features()
    with pytest.raises(InputError, match="repeated measure columns: adoption_breadth"):
        DEFAULT.score(pd.concat([f, f[["adoption_breadth"]]], axis=1))


def test_score_refuses_non_frame():
    with pytest.raises(InputError, match="pandas DataFrame"):
        DEFAULT.score({"x": [1]})


# --------------------------------------------------------------------- panels
@pytest.fixture
def panel() -> pd.DataFrame:
    """A1 goes red → yellow → green on 'a'; A2 green → red (and has no middle snapshot)."""
    return identity_card().score(
        pd.DataFrame(
            {
                "account_id": ["A1", "A1", "A1", "A2", "A2"],
                "as_of": pd.to_datetime(
                    ["2024-01-01", "2024-04-01", "2024-07-01", "2024-01-01", "2024-07-01"]
                ),
                "x": [10.0, 50.0, 90.0, 90.0, 10.0],
                "y": [50.0, 50.0, NAN, 50.0, 55.0],
            }
        )
    )


def test_colour_history_is_tidy(panel):
    hist = identity_card().colour_history(panel)
    assert list(hist.columns) == ["account_id", "as_of", "dimension", "score", "colour"]
    assert len(hist) == 5 * 3
    row = hist[(hist.account_id == "A1") & (hist.dimension == "a")]
    assert row["colour"].astype(str).tolist() == ["red", "yellow", "green"]


def test_transitions_on_tiny_panel(panel):
    card = identity_card()
    tr = card.transitions(panel)
    a = tr[tr.dimension == "a"]
    assert a[["account_id", "previous_colour", "colour", "trend"]].astype(str).values.tolist() == [
        ["A1", "red", "yellow", "↑"],
        ["A1", "yellow", "green", "↑"],
        ["A2", "green", "red", "↓"],
    ]
    assert a["previous_as_of"].iloc[2] == pd.Timestamp("2024-01-01")  # A2 skips April
    assert a["score_change"].tolist() == [40.0, 40.0, -80.0]
    b = tr[tr.dimension == "b"]
    assert b["trend"].astype(object).where(b["trend"].notna(), None).tolist() == ["→", None, "→"]
    latest = card.transitions(panel, latest=True)
    assert len(latest) == 2 * 3
    assert (latest["as_of"] == pd.Timestamp("2024-07-01")).all()


def test_transition_matrix(panel):
    m = identity_card().transition_matrix(panel)
    assert m.index.names == ["dimension", "previous_colour"]
    assert list(m.columns) == ["red", "yellow", "green"]
    a = m.loc["a"]
    assert a.loc["red", "yellow"] == 1
    assert a.loc["yellow", "green"] == 1
    assert a.loc["green", "red"] == 1
    assert a.to_numpy().sum() == 3
    # b: A1 yellow → yellow, then yellow → unknown (not counted); A2 yellow → yellow
    assert m.loc["b"].loc["yellow", "yellow"] == 2
    assert m.loc["b"].to_numpy().sum() == 2
    shares = identity_card().transition_matrix(panel, normalize=True).loc["a"]
    assert shares.loc["red"].tolist() == [0.0, 1.0, 0.0]


def test_panel_errors(panel):
    card = identity_card()
    with pytest.raises(InputError, match="repeated"):
        card.transitions(pd.concat([panel, panel.iloc[:1]]))
    with pytest.raises(InputError, match=r"score it first with card.score"):
        card.transitions(panel.drop(columns=["a_colour"]))
    with pytest.raises(InputError, match="'as_of'"):
        card.colour_history(panel.drop(columns=["as_of"]))
    # keys may be index levels
    indexed = panel.set_index(["account_id", "as_of"])
    pd.testing.assert_frame_equal(card.transitions(indexed), card.transitions(panel))


# --------------------------------------------------------------------- immutability
def test_cards_are_immutable_and_with_methods_return_new_cards():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT.dimensions = ()  # type: ignore[misc]
    calibrated = DEFAULT.with_provenance(evaluation={"auc": 0.8})
    card = calibrated.with_weights(dimensions={"adoption": 0.5}, measures={"roi_has_plan": 0})
    assert card is not calibrated
    assert calibrated.provenance.evaluation["auc"] == 0.8
    assert card.provenance.evaluation == {}  # stale metrics dropped
    assert {d.name: d.weight for d in card.dimensions}["adoption"] == 0.5
    assert {m.name: m.weight for m in card.measures}["roi_has_plan"] == 0
    assert {d.name: d.weight for d in calibrated.dimensions}["adoption"] == 0.25
    with pytest.raises(InputError, match="unknown measure names"):
        DEFAULT.with_weights(measures={"nps": 1})
    with pytest.raises(InputError, match="unknown dimension names"):
        DEFAULT.with_thresholds(support=(40, 70))
    with pytest.raises(InputError, match="unknown provenance fields"):
        DEFAULT.with_provenance(author="me")
    user = {"adoption": 0.5}
    DEFAULT.with_weights(dimensions=user)
    assert user == {"adoption": 0.5}
    assert hash(card) != hash(calibrated)
    assert hash(DEFAULT) == hash(ScoreCard.default())


def test_card_level_checks():
    m = Measure("x", Linear(lo=0, hi=1))
    with pytest.raises(InputError, match="repeated: x"):
        ScoreCard((Dimension("a", (m,)), Dimension("b", (m,))))
    with pytest.raises(InputError, match="dimension weights are all 0"):
        ScoreCard((Dimension("a", (m,), weight=0),))
    with pytest.raises(InputError, match="clash with output columns"):
        ScoreCard((Dimension("a", (Measure("a_score", Linear(lo=0, hi=1)),)),))


# --------------------------------------------------------------------- JSON
def test_json_round_trip_is_exact(tmp_path):
    card = DEFAULT.with_provenance(
        created_at="2026-01-05T10:00:00",
        data_period=("2021-01-01", "2025-01-01"),
        n_accounts=1873,
        evaluation={
            "auc": 0.78,
            "brier": 0.11,
            "ece": 0.02,
            "renewal_rate_by_colour": {"red": 0.6, "yellow": 0.85, "green": 0.95},
            "log_loss": 0.41,
        },
        notes="calibrated on FY21-FY24",
    )
    text = card.to_json(tmp_path / "card.json")
    assert (tmp_path / "card.json").read_text("utf-8") == text == card.to_json()
    for source in (text, tmp_path / "card.json", str(tmp_path / "card.json")):
        back = ScoreCard.from_json(source)
        assert back == card
        assert back.to_json() == text
    assert ScoreCard.from_json(DEFAULT.to_json()) == DEFAULT
    doc = json.loads(DEFAULT.to_json())
    assert doc["$schema"] == SCHEMA_ID
    assert doc["schema_version"] == "1.0"
    assert "created_at" not in doc["provenance"]  # not invented: same card, same bytes


def test_shipped_schema_is_valid_and_accepts_default_document():
    text = resources.files("dearstats").joinpath("schemas/scorecard.schema.json").read_text()
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(DEFAULT.to_json()), schema)
    assert schema["$id"] == SCHEMA_ID


def test_from_dict_minimal():
    spec = {
        "overall": {"thresholds": {"yellow": 40, "green": 70}},
        "dimensions": [
            {
                "name": "a",
                "weight": 1,
                "thresholds": {"yellow": 40, "green": 70},
                "measures": [
                    {
                        "name": "x",
                        "weight": 1,
                        "transform": {"kind": "linear", "lo": 0, "hi": 100, "null": "ignore"},
                    }
                ],
            },
        ],
    }
    card = ScoreCard.from_dict(spec)
    assert card.dimensions[0].measures[0].transform == Linear(lo=0, hi=100)
    assert ScoreCard.from_json(card.to_json()) == card


def _bad(mutate) -> str:
    doc = json.loads(DEFAULT.to_json())
    mutate(doc)
    with pytest.raises(InputError) as info:
        ScoreCard.from_json(json.dumps(doc))
    return str(info.value)


def test_schema_rejects_negative_weight_with_path():
    msg = _bad(lambda d: d["dimensions"][0]["measures"][1].update(weight=-1))
    assert "$.dimensions[0].measures[1].weight: -1 is less than the minimum of 0" in msg


def test_schema_rejects_thresholds_not_increasing_with_path():
    msg = _bad(lambda d: d["dimensions"][1].update(thresholds={"yellow": 70, "green": 40}))
    assert "$.dimensions[1].thresholds: thresholds must increase" in msg


def test_schema_rejects_missing_field_with_path():
    msg = _bad(lambda d: d["dimensions"][2]["measures"][0].pop("transform"))
    assert "$.dimensions[2].measures[0]: 'transform' is a required property" in msg


def test_schema_reports_every_problem_at_once():
    def mutate(d):
        d["dimensions"][0]["weight"] = "heavy"
        d["dimensions"][3]["measures"][0]["transform"]["null"] = "zero"
        d["dimensions"][3]["measures"][1]["transform"]["gain"] = 2
        d["provenance"]["n_accounts"] = -3

    msg = _bad(mutate)
    assert "(4 problems)" in msg
    for path in (
        "$.dimensions[0].weight: 'heavy' is not of type 'number'",
        "$.dimensions[3].measures[0].transform.null",
        "ignore",  # the hint from the schema description
        "$.dimensions[3].measures[1].transform: Additional properties are not allowed",
        "$.provenance.n_accounts",
    ):
        assert path in msg


def test_semantic_problems_carry_paths():
    def mutate(d):
        d["dimensions"][0]["measures"][0]["transform"].update(lo=1, hi=1)
        d["overall"]["thresholds"] = {"yellow": 50, "green": 50}

    msg = _bad(mutate)
    assert "$.dimensions[0].measures[0].transform: linear lo and hi must differ" in msg
    assert "$.overall.thresholds: thresholds must increase" in msg


def test_unknown_major_version_and_bad_text_are_refused(tmp_path):
    doc = json.loads(DEFAULT.to_json())
    with pytest.raises(InputError, match=r"schema_version 2\.0 is not supported"):
        ScoreCard.from_json(json.dumps({**doc, "schema_version": "2.0"}))
    with pytest.raises(InputError, match="schema_version must be a string"):
        ScoreCard.from_json(json.dumps({k: v for k, v in doc.items() if k != "schema_version"}))
    newer = copy.deepcopy(doc) | {"schema_version": "1.3", "colour_palette": "brand"}
    with pytest.raises(InputError, match=r"newer than 1\.0"):
        ScoreCard.from_json(json.dumps(newer))
    with pytest.raises(InputError, match="not JSON"):
        ScoreCard.from_json('{"dimensions": [')
    with pytest.raises(InputError, match="not found"):
        ScoreCard.from_json(tmp_path / "nope.json")


def test_provenance_checks():
    with pytest.raises(InputError, match="must be before end"):
        Provenance(data_period=("2025-01-01", "2024-01-01"))
    with pytest.raises(InputError, match="finite JSON"):
        Provenance(evaluation={"auc": math.nan})
    assert Provenance(data_period=(pd.Timestamp("2021-01-01"), "2022-01-01")).data_period == (
        "2021-01-01",
        "2022-01-01",
    )


# --------------------------------------------------------------------- display
def test_summary_and_repr():
    s = DEFAULT.summary()
    assert s.index.names == ["dimension", "measure"]
    assert len(s) == len(DEFAULT.measures)
    assert s["overall_weight"].sum() == pytest.approx(1.0)
    assert s.groupby(level="dimension")["weight_in_dimension"].sum().tolist() == pytest.approx(
        [1.0] * 4
    )
    assert not s.loc[("roi", "roi_overdue"), "higher_is_better"]
    text = repr(DEFAULT)
    assert text.startswith("ScoreCard(4 dimensions, 19 measures")
    assert "roi_overdue" in text
    assert "red < 40 ≤ yellow < 70 ≤ green" in text


# --------------------------------------------------------------------- properties
_values = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, 0.5, 1.0, 3.0, 30.0, 365.0]),
)


@st.composite
def feature_rows(draw) -> pd.DataFrame:
    n = draw(st.integers(1, 4))
    cols = {}
    for m in DEFAULT.measures:
        if isinstance(m.transform, Boolean):
            cols[m.name] = pd.array(
                draw(st.lists(st.sampled_from([True, False, None]), min_size=n, max_size=n)),
                dtype="boolean",
            )
        else:
            cols[m.name] = pd.array(
                draw(st.lists(_values, min_size=n, max_size=n)), dtype="Float64"
            )
    return pd.DataFrame(cols)


@settings(max_examples=40, deadline=None)
@given(feature_rows())
def test_scores_always_within_0_100(frame):
    out = DEFAULT.score(frame)
    for d in [*DIMENSIONS, "overall"]:
        s = out[f"{d}_score"].dropna()
        assert ((s >= 0) & (s <= 100)).all()
    assert out["overall_score"].notna().all()  # the default never leaves every dimension unknown


@settings(max_examples=50, deadline=None)
@given(
    feature_rows(),
    st.sampled_from([m.name for m in DEFAULT.measures]),
    st.floats(-1e6, 1e6),
    st.floats(0, 1e6),
)
def test_scores_are_monotone_in_each_measure(frame, name, low, step):
    row = frame.iloc[:1].copy()
    measure = next(m for m in DEFAULT.measures if m.name == name)
    dim = next(d.name for d in DEFAULT.dimensions if measure in d.measures)
    lo_row, hi_row = row.copy(), row.copy()
    if isinstance(measure.transform, Boolean):
        lo_row[name], hi_row[name] = pd.array([False], "boolean"), pd.array([True], "boolean")
    else:
        lo_row[name], hi_row[name] = low, low + step
    sign = measure.transform.direction
    a, b = DEFAULT.score(lo_row), DEFAULT.score(hi_row)
    for d in (dim, "overall"):
        assert sign * (b[f"{d}_score"].iloc[0] - a[f"{d}_score"].iloc[0]) >= 0
        codes_a, codes_b = a[f"{d}_colour"].cat.codes.iloc[0], b[f"{d}_colour"].cat.codes.iloc[0]
        assert sign * (codes_b - codes_a) >= 0


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-1e3, 1e3),
    st.floats(-1e3, 1e3),
    st.lists(st.floats(allow_nan=False, allow_infinity=True), min_size=1, max_size=20),
)
def test_linear_and_logistic_bounded_and_monotone(a, b, xs):
    x = np.sort(np.array(xs))
    transforms = [Logistic(center=a, scale=b)] if b != 0 else []
    if a != b:
        transforms += [Linear(lo=a, hi=b), Log(lo=abs(a), hi=abs(b))] if abs(a) != abs(b) else []
    for t in transforms:
        s = t.apply(x)
        assert ((s >= 0) & (s <= 100)).all()
        assert (t.direction * np.diff(s) >= 0).all()
