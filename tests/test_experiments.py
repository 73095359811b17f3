"""Experiments are reproducible: same seed → byte-identical results files (issue 6, item 5).

Each experiment runs twice in the small configuration (``--small``: a 300-account
simulated book, fewer draws), in fresh processes, into two temporary folders. Every
results file must be byte-identical between the runs; only ``provenance.json`` may differ
(its timestamps and durations), and it must carry the configuration, seed, package
versions, data hash and the sha256 of each results file. About 15–40 s per run, so the
runs are marked slow (CI runs them).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

EXPECTED = {
    "calibrate_scorecard": {
        "scorecard.json",
        "weights.csv",
        "thresholds.csv",
        "evaluation.json",
        "renewal_rate_by_colour.csv",
        "summary.md",
    },
    "compare_models": {
        "summary.csv",
        "metrics.csv",
        "accounts.csv",
        "reliability.csv",
        "forecasts.csv",
        "diagnostics.json",
        "summary.md",
    },
}


def _run(name: str, out: Path, *extra: str) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "OMP_NUM_THREADS": "1",
    }
    res = subprocess.run(
        [sys.executable, "-m", "experiments", name, "--small", "--out", str(out), *extra],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert res.returncode == 0, f"{name} failed:\n{res.stdout}\n{res.stderr}"


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_same_seed_gives_identical_results_files(name: str, tmp_path: Path) -> None:
    a, b = tmp_path / "a" / name, tmp_path / "b" / name
    _run(name, a)
    _run(name, b)
    files_a, files_b = _files(a), _files(b)
    assert set(files_a) == set(files_b) == EXPECTED[name] | {"provenance.json"}
    for fname in EXPECTED[name]:
        assert files_a[fname] == files_b[fname], f"{name}/{fname} differs between runs"

    prov_a = json.loads(files_a["provenance.json"])
    prov_b = json.loads(files_b["provenance.json"])
    for key in ("experiment", "config", "seed", "data", "packages", "results"):
        assert prov_a[key] == prov_b[key], key
    assert prov_a["experiment"] == name
    assert prov_a["seed"] == 0
    assert prov_a["config"]["seed"] == 0
    assert len(prov_a["data"]["sha256"]) == 64
    assert set(prov_a["data"]["tables"]) >= {"accounts", "contracts", "usage"}
    for pkg in ("dearstats", "numpy", "pandas", "pymc", "statsmodels", "duckdb"):
        assert prov_a["packages"][pkg], pkg
    assert prov_a["started_at"] <= prov_a["finished_at"]
    # provenance lists the sha256 of every results file, and they match the files
    assert prov_a["results"] == {
        f: hashlib.sha256(files_a[f]).hexdigest() for f in sorted(EXPECTED[name])
    }
    # timestamps live in provenance only
    for fname in EXPECTED[name]:
        assert prov_a["started_at"][:10].encode() not in files_a[fname], fname


@pytest.mark.slow
def test_scorecard_export_loads_and_the_seed_is_used(tmp_path: Path) -> None:
    import dearstats as ds

    a, b = tmp_path / "s0", tmp_path / "s1"
    _run("calibrate_scorecard", a)
    _run("calibrate_scorecard", b, "--seed", "1")
    card = ds.ScoreCard.from_json(a / "scorecard.json")
    assert abs(sum(d.weight for d in card.dimensions) - 1) < 1e-4
    # the point estimates do not depend on the seed; the bootstrap intervals do
    assert (a / "scorecard.json").read_bytes() != (b / "scorecard.json").read_bytes()
    assert (a / "weights.csv").read_bytes() != (b / "weights.csv").read_bytes()
    assert json.loads((b / "provenance.json").read_text())["seed"] == 1


def test_listing_and_unknown_experiment() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    ok = subprocess.run(
        [sys.executable, "-m", "experiments"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0
    assert all(n in ok.stdout for n in EXPECTED)
    bad = subprocess.run(
        [sys.executable, "-m", "experiments", "nope"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert "unknown experiment" in bad.stderr
