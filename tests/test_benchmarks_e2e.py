"""The end-to-end benchmark's quick variant (issue 7), so it never rots.

``benchmarks.e2e`` on a 300-account book over two fiscal years, both the colour-rate
baseline and the hierarchical model with short chains: the book is written to Parquet,
read back with DuckDB in a fresh process where ``ds.backtest`` runs, and the JSON and
Markdown reports are written. Asserts the report's fields and that the hierarchical fits
went through the fused log density with the sampler settings asked for; never on time.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:  # benchmarks/ is not part of the installed package
    sys.path.insert(0, str(_REPO))
e2e = importlib.import_module("benchmarks.e2e")


@pytest.mark.slow  # a book, a feature panel and two short Bayesian fits: about 2 minutes
def test_e2e_quick_variant_writes_its_report(tmp_path: Path) -> None:
    payload = e2e.run(
        accounts=300,
        years=[2022, 2023],
        models=["colour_rate", "hierarchical"],
        draws=150,
        tune=150,
        seed=0,
        out=tmp_path,
        data_dir=tmp_path / "data",
    )
    r = payload["result"]
    assert r["total_s"] > 0
    assert r["peak_rss_bytes"] > 0
    fits = {(f["fiscal_year"], f["model"]): f for f in r["fits"]}
    assert set(fits) == {(y, m) for y in (2022, 2023) for m in ("colour_rate", "hierarchical")}
    for y in (2022, 2023):
        h = fits[(y, "hierarchical")]
        assert h["log_density"] == "fused"
        assert h["sampler"].startswith("150 + 150 × 4")
        assert h["gate_passed"] in (True, False)  # 150 draws: not asked to pass
    metrics = {(m["fiscal_year"], m["model"], m["metric"]) for m in r["metrics"]}
    assert (2023, "hierarchical", "nrr") in metrics
    assert (2022, "colour_rate", "grr") in metrics
    saved = json.loads((tmp_path / "e2e-a300.json").read_text())
    assert saved["draws"] == 150
    md = (tmp_path / "e2e-a300.md").read_text()
    assert "End-to-end backtest — 300 accounts, FY2022–2023" in md
    assert "| 2023 | hierarchical |" in md
