"""The benchmarks' quick variant on a tiny book, so they never rot (issue 7).

Runs ``benchmarks.features`` at the ``smoke`` size (about 0.2 M usage rows) through the
same code path as ``nox -s bench``: every implementation in a fresh process, outputs
compared with dearstats', JSON and Markdown written. Asserts that the implementations give
equal results and that the reports carry the expected fields; never asserts on time.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:  # benchmarks/ is not part of the installed package
    sys.path.insert(0, str(_REPO))
features = importlib.import_module("benchmarks.features")

_SUMMARY_FIELDS = {
    "workload",
    "impl",
    "runs",
    "wall_best_s",
    "wall_median_s",
    "usage_rows",
    "rows_per_s",
    "peak_rss_bytes",
    "rows_out",
    "equal",
    "max_abs_diff",
    "ratio_vs_hand_sql",
    "dearstats_speedup",
}


def _quiet(*_args: object) -> None:
    pass


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("bench")
    payload = features.run(
        "smoke",
        repeat=1,
        impls=["dearstats", "hand_sql", "pandas"],
        out_dir=out,
        data_dir=out / "data",
        log=_quiet,
    )
    return payload, out


def test_implementations_agree(smoke: tuple[dict, Path]) -> None:
    payload, _ = smoke
    rows = payload["summary"]
    assert {(r["workload"], r["impl"]) for r in rows} == {
        (w, i) for w in features.WORKLOADS for i in ("dearstats", "hand_sql", "pandas")
    }
    for r in rows:
        assert r["equal"], f"{r['workload']} {r['impl']}: {r['mismatch']}"
        assert r["rows_out"] > 0
    # the panel really has several dates, each with accounts
    panel = [r for r in rows if r["workload"] == "panel12"]
    single = [r for r in rows if r["workload"] == "single"]
    assert panel[0]["rows_out"] > single[0]["rows_out"]


def test_reports_written_with_fields(smoke: tuple[dict, Path]) -> None:
    _, out = smoke
    data = json.loads((out / "features-smoke.json").read_text())
    assert data["benchmark"] == "features"
    assert data["size"] == "smoke"
    assert data["book"]["rows"]["usage"] > 10_000
    assert set(data["workloads"]) == set(features.WORKLOADS)
    for row in data["summary"]:
        assert set(row) >= _SUMMARY_FIELDS, _SUMMARY_FIELDS - set(row)
        assert row["wall_best_s"] > 0
        assert row["peak_rss_bytes"] > 0
    targets = {(t["workload"], t["target"]) for t in data["targets"]}
    assert ("single", "dearstats within 1.25x of hand SQL") in targets
    assert ("panel12", ">= 10x faster than pandas") in targets
    assert all(isinstance(t["holds"], bool) for t in data["targets"])
    assert data["validate"]
    assert data["validate"][0]["wall_s"] > 0
    assert data["machine"]["versions"]["duckdb"]
    md = (out / "features-smoke.md").read_text()
    assert "| workload | implementation | wall best (s)" in md
    assert "## Targets (issue 7)" in md
    assert "hand_sql" in md
    assert "pandas" in md


def test_compare_detects_a_difference(smoke: tuple[dict, Path]) -> None:
    _, out = smoke
    ref = features.canonical(pd.read_parquet(out / "features-smoke" / "single-dearstats.parquet"))
    assert features.compare(ref, ref.copy())["equal"]
    changed = ref.copy()
    changed.loc[0, "adoption_users_30d"] += 1
    i = changed.index[changed["adoption_breadth"].notna()][0]
    changed.loc[i, "adoption_breadth"] += 1e-6
    result = features.compare(ref, changed)
    assert not result["equal"]
    assert set(result["mismatches"]) == {"adoption_users_30d", "adoption_breadth"}


def test_hand_sql_follows_the_config() -> None:
    """The hand-written SQL reads its windows from FeatureConfig (not hard-coded)."""
    from dearstats.features import FeatureConfig

    query = features.hand_sql_query(
        Path("/nonexistent"), ["2025-01-01"], FeatureConfig(adoption_window_days=28)
    )
    assert "<= 28" in query
    assert "> 28" in query


@pytest.mark.spark
@pytest.mark.slow  # a JVM start and ~100 Spark stages: minutes on a busy 2-core machine
def test_spark_agrees(tmp_path: Path) -> None:
    payload = features.run(
        "smoke",
        repeat=1,
        impls=["dearstats", "spark"],
        workloads=["single"],
        out_dir=tmp_path,
        data_dir=tmp_path / "data",
        validate=False,
        log=_quiet,
    )
    spark = [r for r in payload["summary"] if r["impl"] == "spark"]
    assert len(spark) == 1
    assert spark[0]["equal"], spark[0]["mismatch"]
    assert spark[0]["spark_startup_s"] > 0
