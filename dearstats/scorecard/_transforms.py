"""Measure transforms: a raw measure -> a 0-100 score (see dearstats.scorecard)."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from dearstats.errors import InputError

DIMENSIONS = ("deployment", "engagement", "adoption", "roi")
COLOURS = ("red", "yellow", "green")
COLOUR_DTYPE = pd.CategoricalDtype(list(COLOURS), ordered=True)
TREND_DTYPE = pd.CategoricalDtype(["↓", "→", "↑"], ordered=True)
SCHEMA_ID = "urn:dearstats:schema:scorecard:1"
SCHEMA_VERSION = "1.0"
OVERALL = "overall"

NullPolicy = float | Literal["ignore"]
IGNORE: Literal["ignore"] = "ignore"  # null policy: leave the measure out of the mean
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --------------------------------------------------------------------------- checks
def _number(value: Any, what: str, *, lo: float | None = None, hi: float | None = None) -> float:
    """``value`` as a finite float within [lo, hi], else :class:`InputError`."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InputError(f"{what} must be a number; found {value!r} ({type(value).__name__}).")
    out = float(value)
    if not math.isfinite(out):
        raise InputError(f"{what} must be finite; found {out!r}.")
    if (lo is not None and out < lo) or (hi is not None and out > hi):
        bounds = f"in [{lo:g}, {hi:g}]" if hi is not None else f"≥ {lo:g}"
        raise InputError(f"{what} must be {bounds}; found {out!r}.")
    return out


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise InputError(
            f"{what} must be an identifier (letters, digits, underscores; e.g. "
            f"'adoption_breadth'); found {value!r}."
        )
    return value


def _set(obj: object, **values: Any) -> None:
    for key, value in values.items():
        object.__setattr__(obj, key, value)


def _fmt(x: float) -> str:
    return f"{x:g}"


# ----------------------------------------------------------------------- transforms
@dataclass(frozen=True, kw_only=True)
class Transform:
    """A declared, serialisable map from a measure's values to 0–100 scores.

    ``null`` is the score given to a null value (a number in [0, 100]) or ``"ignore"``:
    the measure is left out of the dimension's weighted mean for that row.
    """

    kind: ClassVar[str] = ""
    null: NullPolicy = "ignore"

    def __post_init__(self) -> None:
        if self.null != "ignore":
            _set(self, null=_number(self.null, f"{self.kind} transform null", lo=0, hi=100))

    # subclasses implement _score on a float array without nulls
    def _score(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def direction(self) -> int:
        """+1 when higher values score higher, −1 when lower values do, 0 if constant."""
        raise NotImplementedError  # pragma: no cover - abstract

    def params(self) -> dict[str, float]:
        """The transform's parameters (without ``kind`` and ``null``)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "null"}

    def apply(self, values: Any, *, name: str = "values") -> np.ndarray:
        """Scores in [0, 100] of ``values`` (array-like of numbers, nulls allowed).

        Nulls get the ``null`` score, or NaN when ``null="ignore"``.
        """
        x = np.asarray(values, dtype=float)
        null = np.isnan(x)
        with np.errstate(over="ignore", invalid="ignore"):  # ±inf saturate to 0 / 100
            out = np.clip(self._score(np.where(null, 0.0, x)), 0.0, 100.0)
        return np.where(null, np.nan if self.null == "ignore" else self.null, out)

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": ..., <params>, "null": ...}`` as in the JSON format."""
        return {"kind": self.kind, **self.params(), "null": self.null}

    def describe(self) -> str:
        """Short text such as ``linear(lo=0.3, hi=0.9)``."""
        args = ", ".join(f"{k}={_fmt(v)}" for k, v in self.params().items())
        return f"{self.kind}({args})"


@dataclass(frozen=True, kw_only=True)
class Linear(Transform):
    """``lo`` → 0, ``hi`` → 100, linear between, clipped; lower is better when lo > hi."""

    kind: ClassVar[str] = "linear"
    lo: float
    hi: float

    def __post_init__(self) -> None:
        super().__post_init__()
        lo, hi = _number(self.lo, "linear lo"), _number(self.hi, "linear hi")
        if lo == hi:
            raise InputError(f"linear lo and hi must differ; both are {lo!r}.")
        _set(self, lo=lo, hi=hi)

    @property
    def direction(self) -> int:
        return 1 if self.hi > self.lo else -1

    def _score(self, x: np.ndarray) -> np.ndarray:
        x = np.clip(x, min(self.lo, self.hi), max(self.lo, self.hi))
        return 100.0 * (x - self.lo) / (self.hi - self.lo)


@dataclass(frozen=True, kw_only=True)
class Log(Transform):
    """Saturating for counts: linear in ``log1p`` from ``lo`` (→ 0) to ``hi`` (→ 100), clipped.

    ``Log(lo=0, hi=12)`` gives 1 contact ≈ 27, 3 ≈ 54, 6 ≈ 76, 12 or more → 100;
    lower is better when lo > hi (``Log(lo=3, hi=0)`` for overdue items).
    """

    kind: ClassVar[str] = "log"
    lo: float
    hi: float

    def __post_init__(self) -> None:
        super().__post_init__()
        lo, hi = _number(self.lo, "log lo", lo=0), _number(self.hi, "log hi", lo=0)
        if lo == hi:
            raise InputError(f"log lo and hi must differ; both are {lo!r}.")
        _set(self, lo=lo, hi=hi)

    @property
    def direction(self) -> int:
        return 1 if self.hi > self.lo else -1

    def _score(self, x: np.ndarray) -> np.ndarray:
        x = np.clip(x, min(self.lo, self.hi), max(self.lo, self.hi))
        lo, hi = math.log1p(self.lo), math.log1p(self.hi)
        return 100.0 * (np.log1p(x) - lo) / (hi - lo)


@dataclass(frozen=True, kw_only=True)
class Boolean(Transform):
    """True → ``if_true``, False → ``if_false`` (values must be true/false or 1/0)."""

    kind: ClassVar[str] = "boolean"
    if_true: float = 100.0
    if_false: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(
            self,
            if_true=_number(self.if_true, "boolean if_true", lo=0, hi=100),
            if_false=_number(self.if_false, "boolean if_false", lo=0, hi=100),
        )

    @property
    def direction(self) -> int:
        return int(np.sign(self.if_true - self.if_false))

    def apply(self, values: Any, *, name: str = "values") -> np.ndarray:
        x = np.asarray(values, dtype=float)
        bad = ~np.isnan(x) & (x != 0) & (x != 1)
        if bad.any():
            raise InputError(
                f"{name}: a boolean measure takes true/false (or 1/0); found {int(bad.sum())} "
                f"other values (first: {x[bad][0]!r}). Pass a boolean column or use a "
                "linear transform."
            )
        return super().apply(x, name=name)

    def _score(self, x: np.ndarray) -> np.ndarray:
        return np.where(x == 1, self.if_true, self.if_false)


@dataclass(frozen=True, kw_only=True)
class Logistic(Transform):
    """``100 / (1 + exp(−(x − center) / scale))``: 50 at ``center``; scale < 0 reverses.

    ``Logistic(center=90, scale=-15)`` for days since a touch: 60 days ≈ 88, 90 → 50,
    120 ≈ 12.
    """

    kind: ClassVar[str] = "logistic"
    center: float
    scale: float

    def __post_init__(self) -> None:
        super().__post_init__()
        center, scale = (
            _number(self.center, "logistic center"),
            _number(self.scale, "logistic scale"),
        )
        if scale == 0:
            raise InputError("logistic scale must be non-zero (negative: lower is better).")
        _set(self, center=center, scale=scale)

    @property
    def direction(self) -> int:
        return 1 if self.scale > 0 else -1

    def _score(self, x: np.ndarray) -> np.ndarray:
        # tanh form: no overflow for extreme values, exactly 50 at the centre
        return 50.0 * (1.0 + np.tanh((x - self.center) / (2.0 * self.scale)))


_TRANSFORMS: dict[str, type[Transform]] = {t.kind: t for t in (Linear, Log, Boolean, Logistic)}


def transform_from_dict(spec: Mapping[str, Any]) -> Transform:
    """Build a transform from ``{"kind": ..., <params>, "null": ...}``."""
    spec = dict(spec)
    kind = spec.pop("kind", None)
    if kind not in _TRANSFORMS:
        raise InputError(f"transform kind must be one of {sorted(_TRANSFORMS)}; found {kind!r}.")
    try:
        return _TRANSFORMS[kind](**spec)
    except TypeError as exc:
        raise InputError(f"{kind} transform: {exc}.") from exc
