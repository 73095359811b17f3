"""Shared input checks for modelling frames, and the frozen design spec.

Every dearstats model takes an ordinary dataframe (one row per account × snapshot, or
per account × period for panels) with numeric predictor columns, an outcome and
optionally grouping columns. This module is the one place those inputs are checked, so
every model reports bad input the same way: what was expected, what was found (column
names, a count, the first offending row) and how to fix it. Rows are never dropped
silently: a missing value is an error unless the caller passes ``missing="drop"``, and
then the number of dropped rows is returned so the model can report it.

Public helpers (used by the statsmodels and the PyMC models alike)
-----------------------------------------------------------------
``as_pandas``          accept a pandas frame (or anything with ``to_pandas()``)
``require_columns``    the named columns exist
``check_numeric``      predictors are numeric (bool counts as 0/1)
``complete_rows``      rows without missing values; ±inf is always an error
``binary_outcome``     0/1 or bool outcome → float array
``binomial_outcome``   successes/trials columns → two int arrays
``ordinal_outcome``    labels with declared ordered levels → integer codes 0..K-1
``class_outcome``      labels from a declared (unordered) set → integer codes
``group_codes``        any hashable labels → integer codes, with an explicit null policy
``DesignSpec``         frozen encoding of predictors (standardisation), grouping columns
                       (indicator terms with a fixed reference level) and interactions,
                       learned on training data and re-applied unchanged to new data
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from dearstats.errors import InputError

__all__ = [
    "DesignSpec",
    "MissingPolicy",
    "NullPolicy",
    "UnseenPolicy",
    "as_pandas",
    "binary_outcome",
    "binomial_outcome",
    "check_numeric",
    "class_outcome",
    "complete_rows",
    "group_codes",
    "input_error",
    "ordinal_outcome",
    "require_columns",
]

MissingPolicy = Literal["raise", "drop"]
UnseenPolicy = Literal["error", "average"]
NullPolicy = Literal["error", "singleton", "level"]

#: label used for null group values under ``null="level"``
NULL_LEVEL = "<null>"


# -- messages ---------------------------------------------------------------------------
def input_error(
    subject: str, *, expected: str, found: str, fix: str, example: str | None = None
) -> InputError:
    """Build an :class:`InputError` in the house format.

    ``"<subject>: expected <expected>; found <found> (first: <example>). Fix: <fix>"``
    """
    msg = f"{subject}: expected {expected}; found {found}"
    if example:
        msg += f" (first: {example})"
    return InputError(f"{msg}. Fix: {fix}")


def _row_example(frame: pd.DataFrame, pos: int, columns: Sequence[str]) -> str:
    """``row 3 (index 'A-7'): x=nan, y=2.0`` for the row at position ``pos``."""
    label = frame.index[pos]
    values = ", ".join(f"{c}={_show(frame[c].iloc[pos])}" for c in columns)
    return f"row {pos} (index {_show(label)}): {values}"


def _show(value: Any) -> str:
    """repr of a cell without numpy's ``np.float64(...)`` wrapping."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _names(columns: Sequence[Hashable]) -> str:
    return ", ".join(repr(c) for c in columns)


# -- frames and columns -----------------------------------------------------------------
def as_pandas(frame: Any, *, name: str = "frame") -> pd.DataFrame:
    """Return ``frame`` as a pandas DataFrame (same object when it already is one).

    Objects with a ``to_pandas()`` method (Polars, Arrow, DuckDB relations) are converted;
    anything else is an :class:`InputError`.
    """
    if isinstance(frame, pd.DataFrame):
        return frame
    to_pandas = getattr(frame, "to_pandas", None)
    if callable(to_pandas):
        out = to_pandas()
        if isinstance(out, pd.DataFrame):
            return out
    raise input_error(
        name,
        expected="a pandas DataFrame (or an object with .to_pandas())",
        found=f"an object of type {type(frame).__name__}",
        fix="pass a DataFrame with one row per observation and the model's columns",
    )


def require_columns(frame: pd.DataFrame, columns: Sequence[str], *, role: str) -> None:
    """Raise if any of ``columns`` is absent, naming the missing and the available ones."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        avail = list(map(str, frame.columns))
        shown = ", ".join(avail[:20]) + (" …" if len(avail) > 20 else "")
        raise input_error(
            f"{role} columns",
            expected=f"columns {_names(columns)}",
            found=f"{len(missing)} missing: {_names(missing)} (available: {shown})",
            fix="rename the columns in the frame or pass the names it actually has",
        )


def check_numeric(frame: pd.DataFrame, columns: Sequence[str], *, role: str) -> None:
    """Raise if any column is not numeric (bool is accepted and read as 0/1)."""
    bad = [
        c
        for c in columns
        if not (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))
    ]
    if bad:
        c = bad[0]
        nonnull = frame[c].dropna()
        example = f"{c}={_show(nonnull.iloc[0])}" if len(nonnull) else f"{c} is empty"
        kinds = ", ".join(f"{b} ({frame[b].dtype})" for b in bad)
        raise input_error(
            f"{role} columns",
            expected="numeric (int, float or bool) columns",
            found=f"{len(bad)} non-numeric: {kinds}",
            example=example,
            fix=(
                "convert them to numbers (e.g. pd.to_numeric), or pass a categorical column"
                " through `groups=` so it is entered as indicator terms"
            ),
        )


def _float(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].to_numpy(dtype=float, na_value=np.nan)


def complete_rows(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    missing: MissingPolicy = "raise",
    numeric: Sequence[str] = (),
    role: str = "model",
    fix: str | None = None,
) -> tuple[np.ndarray, int]:
    """Rows usable for modelling: no missing value in ``columns``, no ±inf in ``numeric``.

    Returns ``(mask, n_dropped)``. With ``missing="raise"`` (the default) any missing
    value is an :class:`InputError` naming the columns, the count and the first row; with
    ``missing="drop"`` such rows are excluded and counted. Infinite values are always an
    error: they are not "missing" and dropping them would hide a data problem.
    """
    if missing not in ("raise", "drop"):
        raise input_error(
            "missing",
            expected='"raise" or "drop"',
            found=repr(missing),
            fix='pass missing="drop" to exclude incomplete rows (their count is reported)',
        )
    cols = list(dict.fromkeys(columns))
    for c in dict.fromkeys(numeric):
        vals = _float(frame, c)
        inf = np.isinf(vals)
        if inf.any():
            pos = int(np.flatnonzero(inf)[0])
            raise input_error(
                f"column {c!r}",
                expected="finite numbers",
                found=f"{int(inf.sum())} infinite values",
                example=_row_example(frame, pos, [c]),
                fix="replace ±inf (often a division by zero upstream) with a finite value",
            )
    if not cols:
        return np.ones(len(frame), dtype=bool), 0
    na = frame[cols].isna().to_numpy()
    bad_rows = na.any(axis=1)
    if not bad_rows.any():
        return ~bad_rows, 0
    if missing == "drop":
        return ~bad_rows, int(bad_rows.sum())
    counts = na.sum(axis=0)
    per_col = ", ".join(f"{c} ({int(k)})" for c, k in zip(cols, counts, strict=True) if k)
    pos = int(np.flatnonzero(bad_rows)[0])
    raise input_error(
        f"{role} frame",
        expected=f"no missing values in {_names(cols)}",
        found=f"{int(bad_rows.sum())} of {len(frame)} rows with missing values: {per_col}",
        example=_row_example(frame, pos, [c for c, k in zip(cols, na[pos], strict=True) if k]),
        fix=fix
        or (
            'impute or drop those rows explicitly before fitting, or pass missing="drop"'
            " to exclude them (the count is reported in the fitted summary)"
        ),
    )


# -- outcomes ---------------------------------------------------------------------------
def binary_outcome(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A 0/1 (or bool) outcome column as a float array; anything else is an InputError."""
    s = frame[column]
    if pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=float)
    ok = pd.api.types.is_numeric_dtype(s)
    if ok:
        vals = s.to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isin(vals, (0.0, 1.0))
        ok = not bad.any()
    else:
        bad = np.ones(len(s), dtype=bool)
    if not ok:
        found_vals = pd.unique(s[bad])[:5]
        pos = int(np.flatnonzero(bad)[0])
        raise input_error(
            f"outcome {column!r}",
            expected="a binary outcome: 0/1 or True/False",
            found=(
                f"{int(bad.sum())} rows with other values ({s.dtype}; e.g."
                f" {', '.join(_show(v) for v in found_vals)})"
            ),
            example=_row_example(frame, pos, [column]),
            fix=(
                "code the outcome as 1 = renewed, 0 = churned; for four renewal classes use"
                ' outcome_kind="classes", for counts use outcome_kind="binomial"'
            ),
        )
    return vals


def binomial_outcome(
    frame: pd.DataFrame, successes: str, trials: str
) -> tuple[np.ndarray, np.ndarray]:
    """Successes and trials columns as int arrays with ``0 ≤ successes ≤ trials``, trials > 0."""
    check_numeric(frame, [successes, trials], role="binomial outcome")
    s = _float(frame, successes)
    t = _float(frame, trials)
    bad = (s < 0) | (t <= 0) | (s > t) | (s != np.round(s)) | (t != np.round(t))
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise input_error(
            f"binomial outcome ({successes!r}, {trials!r})",
            expected="whole numbers with 0 ≤ successes ≤ trials and trials ≥ 1",
            found=f"{int(bad.sum())} rows violating it",
            example=_row_example(frame, pos, [successes, trials]),
            fix="check the counts; drop rows with no trials (nothing was up for renewal)",
        )
    return s.astype(np.int64), t.astype(np.int64)


def _coded(
    frame: pd.DataFrame, column: str, levels: Sequence[Hashable], *, what: str, fix: str
) -> np.ndarray:
    s = frame[column]
    lookup = {lv: i for i, lv in enumerate(levels)}
    raw = s.astype(object).to_numpy()
    codes = np.fromiter((lookup.get(v, -1) for v in raw), dtype=np.int64, count=len(raw))
    bad = codes < 0
    if bad.any():
        unseen = pd.unique(pd.Series(raw[bad], dtype=object))[:5]
        pos = int(np.flatnonzero(bad)[0])
        raise input_error(
            f"{what} {column!r}",
            expected=f"one of the declared levels {_names(levels)}",
            found=(
                f"{int(bad.sum())} rows with other values: {', '.join(_show(v) for v in unseen)}"
            ),
            example=_row_example(frame, pos, [column]),
            fix=fix,
        )
    return codes


def ordinal_outcome(frame: pd.DataFrame, column: str, levels: Sequence[Hashable]) -> np.ndarray:
    """Ordered labels → integer codes ``0..K-1`` following ``levels`` (lowest first)."""
    return _coded(
        frame,
        column,
        levels,
        what="ordinal column",
        fix=(
            "map the values onto the declared levels (check spelling and case), or declare"
            " the full ordered list of levels"
        ),
    )


def class_outcome(frame: pd.DataFrame, column: str, classes: Sequence[Hashable]) -> np.ndarray:
    """Unordered class labels → integer codes following ``classes``."""
    return _coded(
        frame,
        column,
        classes,
        what="class outcome",
        fix="map the values onto the declared classes (check spelling and case)",
    )


# -- groups -----------------------------------------------------------------------------
def group_codes(
    frame: pd.DataFrame, column: str, *, null: NullPolicy = "error"
) -> tuple[np.ndarray, tuple[Hashable, ...]]:
    """Integer codes for any hashable group labels, plus the levels in code order.

    ``null`` says what a missing label means:

    - ``"error"`` (default): an InputError naming the count and the first row;
    - ``"singleton"``: every null row is its own group (e.g. a tech-touch account with no
      CSM clusters with nobody else); these groups have no label in ``levels``;
    - ``"level"``: all null rows share one level, :data:`NULL_LEVEL`.

    Levels of the labelled rows are sorted when sortable, otherwise kept in order of
    first appearance.
    """
    s = frame[column]
    isnull = s.isna().to_numpy()
    if isnull.any() and null == "error":
        pos = int(np.flatnonzero(isnull)[0])
        raise input_error(
            f"group column {column!r}",
            expected="a label on every row",
            found=f"{int(isnull.sum())} rows with a missing label",
            example=_row_example(frame, pos, [column]),
            fix=("fill the missing labels explicitly (e.g. 'tech-touch'), or drop those rows"),
        )
    vals = s.astype(object).to_numpy()
    if null == "level":
        vals = np.where(isnull, NULL_LEVEL, vals)
        isnull = np.zeros(len(vals), dtype=bool)
    levels = _levels(vals[~isnull])
    lookup = {lv: i for i, lv in enumerate(levels)}
    codes = np.empty(len(vals), dtype=np.int64)
    codes[~isnull] = [lookup[v] for v in vals[~isnull]]
    codes[isnull] = len(levels) + np.arange(int(isnull.sum()))
    return codes, levels


def _levels(values: np.ndarray) -> tuple[Hashable, ...]:
    uniq = list(dict.fromkeys(values.tolist()))
    try:
        return tuple(sorted(uniq))
    except TypeError:
        return tuple(uniq)


# -- design spec ------------------------------------------------------------------------
INTERCEPT = "Intercept"


def indicator_name(column: str, level: Hashable) -> str:
    """Design column name of the indicator of ``level`` in grouping column ``column``."""
    return f"{column}[{level}]"


@dataclass(frozen=True)
class DesignSpec:
    """Frozen encoding of a modelling frame, learned once and re-applied to new data.

    The design matrix has, in order: ``Intercept`` (if ``fit_intercept``); the numeric
    ``predictors`` (standardised with the *training* means and standard deviations when
    ``standardize``); one indicator ``col[level]`` per non-reference level of each
    grouping column (the first level is the reference); and one product term
    ``predictor:col[level]`` per declared interaction.

    New data is encoded exactly like the training data: same columns, same order, same
    means/sds, same levels. A level never seen in training is handled by the explicit
    ``unseen`` policy of :meth:`transform`: ``"error"`` (default) or ``"average"``, which
    sets that row's indicators to the training level frequencies (the row is treated as a
    frequency-weighted average group on the linear-predictor scale).

    Build with :meth:`from_frame`; the constructor is for deserialisation.
    """

    predictors: tuple[str, ...]
    fit_intercept: bool = True
    standardize: bool = False
    means: tuple[float, ...] | None = None
    sds: tuple[float, ...] | None = None
    groups: tuple[str, ...] = ()
    group_levels: tuple[tuple[Hashable, ...], ...] = ()
    group_freqs: tuple[tuple[float, ...], ...] = ()
    interactions: tuple[tuple[str, str], ...] = ()
    columns: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        cols: list[str] = [INTERCEPT] if self.fit_intercept else []
        cols += list(self.predictors)
        for g, levels in zip(self.groups, self.group_levels, strict=True):
            cols += [indicator_name(g, lv) for lv in levels[1:]]
        for p, g in self.interactions:
            levels = self.group_levels[self.groups.index(g)]
            cols += [f"{p}:{indicator_name(g, lv)}" for lv in levels[1:]]
        object.__setattr__(self, "columns", tuple(cols))

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        predictors: Sequence[str],
        *,
        groups: Sequence[str] = (),
        levels: Mapping[str, Sequence[Hashable]] | None = None,
        interactions: Sequence[tuple[str, str]] = (),
        standardize: bool = False,
        fit_intercept: bool = True,
    ) -> DesignSpec:
        """Learn the encoding from a training frame already checked for missing values.

        ``levels`` declares the levels (reference first) of some grouping columns, e.g.
        ``{"adoption_colour": ["red", "yellow", "green"]}``; other grouping columns take
        their sorted observed levels. A declared level absent from the training frame is
        an error (its indicator would be all zeros and its effect not estimable).
        """
        predictors = tuple(predictors)
        groups = tuple(groups)
        levels = dict(levels or {})
        require_columns(frame, [*predictors, *groups], role="design")
        check_numeric(frame, predictors, role="predictor")
        for p, g in interactions:
            if p not in predictors or g not in groups:
                raise input_error(
                    "interactions",
                    expected="(predictor, grouping column) pairs among the model's columns",
                    found=repr((p, g)),
                    fix="list the predictor in `predictors` and the column in `groups`",
                )
        means = sds = None
        if standardize and predictors:
            x = frame[list(predictors)].to_numpy(dtype=float)
            m = x.mean(axis=0)
            sd = x.std(axis=0, ddof=1) if len(x) > 1 else np.zeros(len(predictors))
            const = [p for p, v in zip(predictors, sd, strict=True) if not v > 0]
            if const:
                raise input_error(
                    "standardize=True",
                    expected="predictors that vary in the training data",
                    found=f"{len(const)} constant predictors: {_names(const)}",
                    fix="drop constant predictors (they carry no information)",
                )
            means, sds = tuple(map(float, m)), tuple(map(float, sd))
        g_levels: list[tuple[Hashable, ...]] = []
        g_freqs: list[tuple[float, ...]] = []
        for g in groups:
            codes, observed = group_codes(frame, g, null="error")
            if g in levels:
                declared = tuple(levels[g])
                codes = _coded(
                    frame,
                    g,
                    declared,
                    what="grouping column",
                    fix="map the values onto the declared levels (check spelling and case)",
                )
                absent = [lv for i, lv in enumerate(declared) if not (codes == i).any()]
                if absent:
                    raise input_error(
                        f"grouping column {g!r}",
                        expected=f"every declared level {_names(declared)} in the training data",
                        found=f"{len(absent)} never observed: {_names(absent)}",
                        fix=(
                            "fit on data that covers every level, or declare only the levels"
                            " present"
                        ),
                    )
                observed = declared
            counts = np.bincount(codes, minlength=len(observed)).astype(float)
            g_levels.append(tuple(observed))
            g_freqs.append(tuple(map(float, counts / counts.sum())))
        return cls(
            predictors=predictors,
            fit_intercept=fit_intercept,
            standardize=bool(standardize and predictors),
            means=means,
            sds=sds,
            groups=groups,
            group_levels=tuple(g_levels),
            group_freqs=tuple(g_freqs),
            interactions=tuple((str(p), str(g)) for p, g in interactions),
        )

    def transform(self, frame: pd.DataFrame, *, unseen: UnseenPolicy = "error") -> pd.DataFrame:
        """Design matrix of ``frame`` (float DataFrame, same index, :attr:`columns`).

        Missing values are an error here: decide about them before predicting.
        """
        if unseen not in ("error", "average"):
            raise input_error(
                "unseen",
                expected='"error" or "average"',
                found=repr(unseen),
                fix='pass unseen="average" to score unseen groups as an average group',
            )
        frame = as_pandas(frame)
        require_columns(frame, [*self.predictors, *self.groups], role="design")
        check_numeric(frame, self.predictors, role="predictor")
        complete_rows(
            frame,
            [*self.predictors, *self.groups],
            numeric=self.predictors,
            role="prediction",
            fix="impute or drop those rows explicitly before predicting",
        )
        n = len(frame)
        out: dict[str, np.ndarray] = {}
        if self.fit_intercept:
            out[INTERCEPT] = np.ones(n)
        xs: dict[str, np.ndarray] = {}
        for j, p in enumerate(self.predictors):
            x = _float(frame, p)
            if self.standardize and self.means is not None and self.sds is not None:
                x = (x - self.means[j]) / self.sds[j]
            xs[p] = x
            out[p] = x
        indicators: dict[str, np.ndarray] = {}
        for g, levels, freqs in zip(self.groups, self.group_levels, self.group_freqs, strict=True):
            lookup = {lv: i for i, lv in enumerate(levels)}
            raw = frame[g].astype(object).to_numpy()
            codes = np.fromiter((lookup.get(v, -1) for v in raw), dtype=np.int64, count=n)
            new = codes < 0
            if new.any() and unseen == "error":
                vals = pd.unique(pd.Series(raw[new], dtype=object))[:5]
                pos = int(np.flatnonzero(new)[0])
                raise input_error(
                    f"grouping column {g!r}",
                    expected=f"levels seen in training: {_names(levels)}",
                    found=(
                        f"{int(new.sum())} rows with unseen levels:"
                        f" {', '.join(_show(v) for v in vals)}"
                    ),
                    example=_row_example(frame, pos, [g]),
                    fix=(
                        "map them onto known levels, refit with data that includes them, or"
                        ' pass unseen="average" to score them as a frequency-weighted'
                        " average group"
                    ),
                )
            onehot = np.zeros((n, len(levels)))
            onehot[np.flatnonzero(~new), codes[~new]] = 1.0
            onehot[new] = np.asarray(freqs)
            for i, lv in enumerate(levels[1:], start=1):
                name = indicator_name(g, lv)
                indicators[name] = onehot[:, i]
                out[name] = onehot[:, i]
        for p, g in self.interactions:
            levels = self.group_levels[self.groups.index(g)]
            for lv in levels[1:]:
                name = indicator_name(g, lv)
                out[f"{p}:{name}"] = xs[p] * indicators[name]
        return pd.DataFrame(out, index=frame.index, columns=list(self.columns))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly representation (levels must themselves be JSON values)."""
        return {
            "predictors": list(self.predictors),
            "fit_intercept": self.fit_intercept,
            "standardize": self.standardize,
            "means": None if self.means is None else list(self.means),
            "sds": None if self.sds is None else list(self.sds),
            "groups": list(self.groups),
            "group_levels": [list(v) for v in self.group_levels],
            "group_freqs": [list(v) for v in self.group_freqs],
            "interactions": [list(v) for v in self.interactions],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DesignSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(
            predictors=tuple(d["predictors"]),
            fit_intercept=bool(d["fit_intercept"]),
            standardize=bool(d["standardize"]),
            means=None if d["means"] is None else tuple(d["means"]),
            sds=None if d["sds"] is None else tuple(d["sds"]),
            groups=tuple(d["groups"]),
            group_levels=tuple(tuple(v) for v in d["group_levels"]),
            group_freqs=tuple(tuple(v) for v in d["group_freqs"]),
            interactions=tuple((str(a), str(b)) for a, b in d["interactions"]),
        )
