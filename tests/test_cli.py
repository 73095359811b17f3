"""The command line: real runs on a small simulated book, exit codes and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dearstats.cli import main


@pytest.fixture(scope="module")
def book_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "book"
    assert main(["simulate", "--accounts", "80", "--years", "3", "--out", str(out)]) == 0
    return out


def test_validate_ok(book_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(book_dir)]) == 0
    assert "0 error(s)" in capsys.readouterr().out


def test_validate_fails_with_report(book_dir: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in book_dir.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    contracts = pd.read_parquet(bad / "contracts.parquet")
    contracts.loc[0, "arr"] = -1.0
    contracts.to_parquet(bad / "contracts.parquet")
    assert main(["validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "contracts.arr: negative values: 1 row" in out


def test_validate_as_of_flags_later_records(book_dir: Path, capsys) -> None:
    assert main(["validate", str(book_dir), "--as-of", "2021-01-01"]) == 1
    assert "dated on or after as_of 2021-01-01" in capsys.readouterr().out


def test_retention_prints_and_writes(book_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "ret.csv"
    assert main(["retention", str(book_dir), "--fiscal-year", "2021", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "GRR" in text
    assert "NRR" in text
    frame = pd.read_csv(out)
    assert set(frame["fiscal_year"]) == {2021}
    assert frame["grr"].between(0, 1).all()


def test_user_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "/nonexistent/book"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("dearstats: error: read_book: /nonexistent/book does not exist")


def test_features_then_score(book_dir: Path, tmp_path: Path) -> None:
    feats = tmp_path / "features.parquet"
    assert main(["features", str(book_dir), "--as-of", "2022-01-01", "--out", str(feats)]) == 0
    frame = pd.read_parquet(feats)
    assert len(frame) > 0
    assert frame["account_id"].is_unique
    assert (pd.to_datetime(frame["as_of"]) == pd.Timestamp("2022-01-01")).all()
    scored = tmp_path / "scored.csv"
    assert main(["score", str(feats), "--out", str(scored)]) == 0
    out = pd.read_csv(scored)
    assert len(out) == len(frame)
    assert out["account_id"].tolist() == frame["account_id"].tolist()
    for dim in ("deployment", "engagement", "adoption", "roi", "overall"):
        assert out[f"{dim}_score"].dropna().between(0, 100).all()
        assert set(out[f"{dim}_colour"].dropna()) <= {"red", "yellow", "green"}


@pytest.fixture(scope="module")
def larger_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "larger"
    args = ["simulate", "--accounts", "500", "--years", "4", "--random-seed", "2", "--out"]
    assert main([*args, str(out)]) == 0
    return out


def test_forecast_backtest_scenario_commands(larger_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "fc"
    args = ["forecast", str(larger_dir), "--fiscal-year", "2023", "--model", "logit"]
    assert main([*args, "--plan-grr", "0.9", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "GRR" in printed
    assert "P(≥ plan)" in printed
    fc = pd.read_csv(out / "forecast.csv")
    assert {"segment", "metric", "mean", "lo80", "hi80", "p_plan"} <= set(fc.columns)
    assert pd.read_csv(out / "accounts.csv")["account_id"].is_unique

    args = ["backtest", str(larger_dir), "--fiscal-year", "2022", "--model", "logit"]
    assert main([*args, "--model", "last_year", "--quiet", "--out", str(tmp_path / "bt")]) == 0
    bt = pd.read_csv(tmp_path / "bt" / "backtest.csv")
    assert set(bt["model"]) == {"logit", "last_year"}
    assert set(bt["fiscal_year"]) == {2022}

    args = ["scenario", str(larger_dir), "--fiscal-year", "2023", "--model", "logit"]
    assert main([*args, "--turn-green", "adoption=5", "--out", str(tmp_path / "sc")]) == 0
    assert "ΔGRR" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "sc" / "targets.csv")) == 5


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (
            ["scenario", "{book}", "--fiscal-year", "2023", "--turn-green", "adoption"],
            "DIMENSION=N",
        ),
        (["forecast", "{book}", "--fiscal-year", "2023", "--as-of", "2021-01-01"], "planning date"),
        (["backtest", "{book}", "--fiscal-year", "2023", "--model", "last_year"], "not final"),
    ],
)
def test_forecast_user_errors_are_one_line(larger_dir: Path, argv, needle, capsys) -> None:
    argv = [a.replace("{book}", str(larger_dir)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.slow
def test_demo_runs_the_whole_pipeline(larger_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    argv = ["demo", "--data", str(larger_dir), "--out", str(out), "--model", "logit"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for step in range(1, 9):
        assert f"[{step}/8]" in printed
    assert "share of ARR" in printed
    assert "renewal rate" in printed
    for name in ("report.html", "report.pdf", "scorecard.json"):
        assert (out / name).stat().st_size > 1000, name
    assert str(out / "report.html") in printed


@pytest.mark.slow
def test_report_and_calibrate_commands(larger_dir: Path, tmp_path: Path, capsys) -> None:
    card = tmp_path / "card.json"
    assert main(["calibrate", str(larger_dir), "--out", str(card)]) == 0
    assert card.stat().st_size > 500
    out = tmp_path / "rep"
    argv = ["report", str(larger_dir), "--fiscal-year", "2023", "--model", "logit", "--quiet"]
    assert main([*argv, "--out", str(out)]) == 0
    assert (out / "report.html").stat().st_size > 10_000
    assert str(out / "report.pdf") in capsys.readouterr().out


def test_fit_command_prints_and_writes_the_logit_summary(
    larger_dir: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "logit.csv"
    assert main(["fit", str(larger_dir), "--model", "logit", "--out", str(out)]) == 0
    assert "adoption_score" in capsys.readouterr().out
    table = pd.read_csv(out)
    assert {"term", "coef", "odds_ratio", "ame"} <= set(table.columns)


def test_every_command_has_help(capsys) -> None:
    commands = ["simulate", "validate", "retention", "features", "score", "fit", "forecast",
                "backtest", "scenario", "calibrate", "report", "demo"]  # fmt: skip
    for command in commands:
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        assert "usage: dearstats " + command in capsys.readouterr().out
