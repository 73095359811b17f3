"""Shared plumbing of the experiments: the book, canonical result files, provenance.

Reproducibility contract
------------------------
An experiment writes two kinds of files into its folder:

* **results** (CSV, JSON, Markdown, the exported scorecard): a pure function of the
  configuration, the seed and the data. They never hold a timestamp, a duration, a path
  or a host name, so the same configuration and seed give byte-identical files.
  Floats in CSV and JSON are written with 10 significant digits: enough for any reported
  number, and it keeps the files stable should a floating sum ever be added up in a
  different order (DuckDB aggregates in parallel).
* ``provenance.json``: everything about the run — configuration, seed, package versions,
  a hash of the data, the sha256 of every results file, start and end timestamps,
  duration, git commit, Python and platform. Only this file differs between two runs.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata as _md
import json
import math
import platform
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = Path("reports/experiments")
DEMO_DIR = Path("data/demo")
DEMO_BOOK = {"n_accounts": 2000, "years": 6, "random_seed": 0}  # = `nox -s data`
SMALL_BOOK = {"n_accounts": 300, "years": 5, "random_seed": 0}
SIG_DIGITS = 10
PACKAGES = (
    "dearstats",
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
    "pymc",
    "pytensor",
    "nutpie",
    "arviz",
    "duckdb",
    "narwhals",
    "polars",
    "pyarrow",
)
HASH_METHOD = (
    "sha256 over the tables in data-contract order; per table: its name, column names and "
    "row count, then the sorted 64-bit row hashes (pandas.util.hash_pandas_object) of the "
    "canonical columns (dates as int64 ns, numbers as float64, strings as str, nulls as "
    "null): independent of row order and of the engine or file format the book came from"
)


# ---------------------------------------------------------------------------------------
# the book
@dataclass
class BookInfo:
    """How the book of an experiment was obtained (goes into provenance)."""

    source: str
    settings: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            **self.settings,
            "sha256": self.sha256,
            "hash_method": HASH_METHOD,
            "tables": self.tables,
        }


def load_book(data: str | None, *, small: bool, book_seed: int) -> tuple[Any, BookInfo]:
    """The experiment's book: ``data`` (a folder or ``.duckdb`` file) when given; else the
    small simulated book (``small``); else the demo book — ``data/demo`` when it holds a
    book, otherwise ``ds.simulate`` with the demo settings (the same book, seed 0)."""
    import dearstats as ds

    if data is not None:
        book = ds.read_book(data)
        info = BookInfo(source=f"read_book({data!r})")
    elif small or book_seed != DEMO_BOOK["random_seed"]:
        settings = {**(SMALL_BOOK if small else DEMO_BOOK), "random_seed": book_seed}
        book = ds.simulate(**settings)
        info = BookInfo(source="simulate", settings=settings)
    elif (DEMO_DIR / "contracts.parquet").exists():
        book = ds.read_book(DEMO_DIR)
        info = BookInfo(source=f"read_book({str(DEMO_DIR)!r}) (the demo book)")
    else:
        book = ds.simulate(**DEMO_BOOK)
        info = BookInfo(source="simulate (the demo book)", settings=dict(DEMO_BOOK))
    info.sha256, info.tables = book_hash(book)
    return book, info


def _canonical_column(s: pd.Series) -> np.ndarray:
    """One column as plain numpy: dates → int64 ns (NaT = min int), bool and numbers →
    float64 (null = NaN), everything else → str objects (null = None)."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return s.to_numpy(dtype="datetime64[ns]").view("int64")
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        return s.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    return s.astype("string").to_numpy(dtype=object, na_value=None)


def book_hash(book: Any) -> tuple[str, dict[str, dict[str, Any]]]:
    """(sha256 of the whole book, per-table rows and sha256) — see :data:`HASH_METHOD`."""
    whole = hashlib.sha256()
    per_table: dict[str, dict[str, Any]] = {}
    for name in book.tables:  # data-contract order
        df = book.frame(name)
        canon = pd.DataFrame({c: _canonical_column(df[c]) for c in df.columns})
        rows = pd.util.hash_pandas_object(canon, index=False, categorize=True).to_numpy()
        h = hashlib.sha256()
        h.update(json.dumps([name, list(map(str, canon.columns)), len(canon)]).encode())
        h.update(np.sort(rows).astype("<u8").tobytes())
        per_table[name] = {"rows": len(canon), "sha256": h.hexdigest()}
        whole.update(h.digest())
    return whole.hexdigest(), per_table


# ---------------------------------------------------------------------------------------
# canonical result files
def _round(x: float) -> float:
    return float(f"{x:.{SIG_DIGITS}g}")


def clean(obj: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python, floats to 10 significant digits,
    non-finite floats to None, tuples to lists, keys to str."""
    if isinstance(obj, Mapping):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, bool) or obj is None or isinstance(obj, int | str):
        return obj
    if isinstance(obj, float):
        return _round(obj) if math.isfinite(obj) else None
    if isinstance(obj, pd.Timestamp | _dt.date):
        return obj.isoformat()
    return str(obj)


def write_json(path: Path, obj: Any) -> Path:
    text = json.dumps(clean(obj), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    """CSV with a fixed float format, ``\\n`` line ends and no index (a named index is
    written as columns)."""
    if any(n is not None for n in frame.index.names):
        frame = frame.reset_index()
    frame.to_csv(
        path, index=False, float_format=f"%.{SIG_DIGITS}g", lineterminator="\n", encoding="utf-8"
    )
    return path


def write_text(path: Path, text: str) -> Path:
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return path


def markdown_table(frame: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A small pipe table (no extra dependency)."""
    cols = [str(c) for c in frame.columns]

    def fmt(v: Any) -> str:
        if isinstance(v, float | np.floating):
            return "" if not math.isfinite(v) else format(float(v), floatfmt)
        return str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# provenance
def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = _md.version(name)
        except _md.PackageNotFoundError:
            out[name] = None
    if out["dearstats"] is None:  # running from a source tree without an install
        import dearstats

        out["dearstats"] = getattr(dearstats, "__version__", None)
    return out


def git_info() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            res = subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status)}


def now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def file_digests(paths: Sequence[Path], root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(paths)
    }


def environment() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }


# ---------------------------------------------------------------------------------------
# the output folder
def prepare_folder(out: Path, name: str) -> Path:
    """A fresh, empty staging folder next to ``out``; refuses to replace a folder that is
    not an earlier result of the same experiment."""
    if out.exists():
        prov = out / "provenance.json"
        mine = False
        if prov.is_file():
            try:
                mine = json.loads(prov.read_text(encoding="utf-8")).get("experiment") == name
            except (OSError, ValueError):
                mine = False
        if not mine and any(out.iterdir()):
            raise SystemExit(
                f"experiments: {out} exists and is not an earlier result of {name!r} "
                "(no provenance.json naming it); pass another --out or remove it."
            )
    stage = out.with_name(f".{out.name}.partial")
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    return stage


def publish(stage: Path, out: Path) -> None:
    """Replace ``out`` by the finished staging folder (no stale files survive)."""
    if out.exists():
        shutil.rmtree(out)
    stage.rename(out)
