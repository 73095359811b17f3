"""Building contract-typed pandas columns from integer codes, fast."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = ["coded", "contract_ids", "dates", "numbered", "strings"]


def strings(values: Sequence[str | None] | np.ndarray) -> pd.Series:
    """A ``str`` column (``None`` = null)."""
    return pd.Series(np.asarray(values, dtype=object), dtype="str")


def coded(codes: np.ndarray, labels: Sequence[str]) -> pd.Series:
    """Labels by integer code (``-1`` = null) as a ``str`` column (via Arrow: fast)."""
    codes = np.asarray(codes)
    idx = pa.array(codes.astype(np.int32), mask=codes < 0)
    arr = pa.DictionaryArray.from_arrays(idx, pa.array(list(labels), pa.string()))
    return pd.Series(arr.cast(pa.large_string()).to_pandas(), dtype="str")


def dates(days: np.ndarray, null: np.ndarray | None = None) -> pd.Series:
    """Days since 1970-01-01 as a ``datetime64[us]`` column (``null`` = NaT)."""
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[us]")
    if null is not None:
        d = np.where(null, np.datetime64("NaT", "us"), d)
    return pd.Series(d, dtype="datetime64[us]")


def numbered(prefix: str, *parts: tuple[np.ndarray, int]) -> np.ndarray:
    """Vectorised ``prefix + zero-padded numbers``."""
    out = np.full(len(parts[0][0]), prefix, dtype=object)
    if not len(out):
        return out
    for values, width in parts:
        out = out + np.strings.zfill(np.asarray(values).astype(str), width).astype(object)
    return out


def contract_ids(width: int, acc: np.ndarray, prod: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``C<account><product><chain position>``, e.g. ``C00012102``."""
    return numbered("C", (acc + 1, width), (prod, 1), (k, 2))
