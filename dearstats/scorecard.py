"""DEAR scorecard: measures → 0–100 scores → colours, per dimension and overall.

A :class:`ScoreCard` turns the account × snapshot frame of :func:`dearstats.build_features`
into a 0–100 score and a colour for each DEAR dimension (deployment, engagement,
adoption, roi) and an overall *customer outcomes score*. It is an immutable value: change
it with :meth:`ScoreCard.with_weights`, :meth:`ScoreCard.with_thresholds` or
:meth:`ScoreCard.with_provenance`, which return new cards.

Scoring, step by step
---------------------
1. **Measure → 0–100** with one declared transform (:class:`Linear`, :class:`Log`,
   :class:`Boolean`, :class:`Logistic`); a null value gets the transform's ``null`` policy:
   a stated score in [0, 100], or ``"ignore"`` (leave the measure out for that row).
   A measure declared ``optional`` whose column is absent is left out for every row.
2. **Dimension score** = weighted mean of its measures' scores, the weights renormalised
   over the measures present in that row. When none is present (or all present ones
   weigh 0) the score is null and the colour is missing (``NaN`` in the categorical):
   "unknown" is deliberately not a fourth colour, so red < yellow < green stays a clean
   ordinal scale.
3. **Colour** by the dimension's thresholds: red if score < yellow, yellow if
   yellow ≤ score < green, green if score ≥ green (default 40 / 70: exactly 40 is yellow,
   exactly 70 is green), compared on the unrounded score.
4. **Overall score** = weighted mean of the non-null dimension scores (default equal weights
   0.25, renormalised the same way), coloured by the overall thresholds.

The spelling is *colour* throughout (columns ``<dimension>_colour``, ``overall_colour``).

JSON format (schema_version 1.0)
--------------------------------
:meth:`ScoreCard.to_json` writes, and :meth:`ScoreCard.from_json` reads, one JSON object,
validated against the JSON Schema shipped as ``dearstats/schemas/scorecard.schema.json``
(``$id`` ``urn:dearstats:schema:scorecard:1``). Any DEAR implementation can read it::

    {
      "$schema": "urn:dearstats:schema:scorecard:1",
      "schema_version": "1.0",
      "overall": {"thresholds": {"yellow": 40.0, "green": 70.0}},
      "dimensions": [
        {"name": "deployment", "weight": 0.25,
         "thresholds": {"yellow": 40.0, "green": 70.0},
         "rationale": "...",
         "measures": [
           {"name": "deployment_activation", "weight": 3.0, "optional": false,
            "rationale": "...",
            "transform": {"kind": "linear", "lo": 0.3, "hi": 0.9, "null": "ignore"}},
           ...]},
        ...],
      "provenance": {"data_period": {"start": "2021-01-01", "end": "2025-01-01"},
                     "n_accounts": 1873,
                     "evaluation": {"auc": 0.78, "brier": 0.11, "ece": 0.02,
                                    "renewal_rate_by_colour": {"red": 0.61, ...}},
                     "dearstats_version": "0.1.0", "notes": "..."}
    }

Transforms (``x`` the measure value, ``x'`` it clipped to ``[min(lo, hi), max(lo, hi)]``):

===========  ========================  ====================================================
kind         parameters                score
===========  ========================  ====================================================
linear       ``lo``, ``hi`` (≠)        ``100 · (x' − lo) / (hi − lo)``: lo → 0, hi → 100;
                                       lower is better when ``lo > hi``
log          ``lo``, ``hi`` ≥ 0 (≠)    ``100 · (ln(1+x') − ln(1+lo)) / (ln(1+hi) − ln(1+lo))``:
                                       saturating, for counts; reversed when ``lo > hi``
boolean      ``if_true``, ``if_false``  the stated score (values must be true/false or 1/0)
logistic     ``center``, ``scale`` ≠0   ``100 / (1 + exp(−(x − center) / scale))``: 50 at the
                                       centre; lower is better when ``scale < 0``
===========  ========================  ====================================================

Every transform carries ``null``: a number in [0, 100] or ``"ignore"``. Weights are ≥ 0
and are renormalised, so only their ratios matter. Fields: ``optional`` (default false)
and ``rationale`` are optional; everything else is required. Rules the schema cannot
express are checked on reading: ``yellow < green``; ``lo ≠ hi``; ``scale ≠ 0``; names are
unique and are identifiers (``overall`` is reserved); a dimension's measure weights, and
the dimension weights, are not all zero. ``provenance`` fields are all optional:
``created_at`` (written only when given, so a card always serialises to the same bytes),
``data_period`` (calendar dates, start inclusive, end exclusive), ``n_accounts``,
``evaluation`` (metrics filled by calibration; ``auc``, ``brier``, ``ece``,
``renewal_rate_by_colour`` are typed, other keys allowed), ``dearstats_version``,
``notes``. A reader refuses a major ``schema_version`` it does not know; minor versions
only add optional fields. ``ScoreCard.from_json(card.to_json()) == card`` exactly.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from dearstats.book import to_date
from dearstats.errors import InputError

__all__ = [
    "COLOURS",
    "COLOUR_DTYPE",
    "DIMENSIONS",
    "IGNORE",
    "SCHEMA_ID",
    "SCHEMA_VERSION",
    "TREND_DTYPE",
    "Boolean",
    "Dimension",
    "Linear",
    "Log",
    "Logistic",
    "Measure",
    "Provenance",
    "ScoreCard",
    "Thresholds",
    "Transform",
    "transform_from_dict",
]

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


# ------------------------------------------------------------------ configuration
@dataclass(frozen=True)
class Thresholds:
    """Colour cut-offs: red < ``yellow`` ≤ yellow < ``green`` ≤ green."""

    yellow: float = 40.0
    green: float = 70.0

    def __post_init__(self) -> None:
        yellow = _number(self.yellow, "thresholds yellow", lo=0, hi=100)
        green = _number(self.green, "thresholds green", lo=0, hi=100)
        if not yellow < green:
            raise InputError(
                f"thresholds must increase (yellow < green); found yellow={yellow:g}, "
                f"green={green:g}."
            )
        _set(self, yellow=yellow, green=green)

    @classmethod
    def coerce(cls, value: Thresholds | Sequence[float] | Mapping[str, float]) -> Thresholds:
        """Accept a :class:`Thresholds`, ``(yellow, green)`` or ``{"yellow":, "green":}``."""
        if isinstance(value, Thresholds):
            return value
        if isinstance(value, Mapping):
            return cls(**value)
        if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
            return cls(*value)
        raise InputError(
            f"thresholds must be Thresholds(yellow, green), a (yellow, green) pair or a "
            f"mapping with keys yellow and green; found {value!r}."
        )

    def describe(self) -> str:
        """``red < 40 ≤ yellow < 70 ≤ green``."""
        return f"red < {_fmt(self.yellow)} ≤ yellow < {_fmt(self.green)} ≤ green"


@dataclass(frozen=True)
class Measure:
    """One feature column, its transform to 0–100 and its weight within the dimension."""

    name: str
    transform: Transform
    _: KW_ONLY
    weight: float = 1.0
    optional: bool = False
    rationale: str = ""

    def __post_init__(self) -> None:
        _name(self.name, "measure name")
        if not isinstance(self.transform, Transform):
            raise InputError(
                f"measure {self.name!r}: transform must be Linear, Log, Boolean or Logistic; "
                f"found {type(self.transform).__name__}."
            )
        if not isinstance(self.optional, bool) or not isinstance(self.rationale, str):
            raise InputError(f"measure {self.name!r}: optional must be bool, rationale str.")
        _set(self, weight=_number(self.weight, f"measure {self.name!r} weight", lo=0))


@dataclass(frozen=True)
class Dimension:
    """A DEAR dimension: its measures, weight in the overall score and colour thresholds."""

    name: str
    measures: tuple[Measure, ...]
    _: KW_ONLY
    weight: float = 1.0
    thresholds: Thresholds = field(default_factory=Thresholds)
    rationale: str = ""

    def __post_init__(self) -> None:
        if _name(self.name, "dimension name") == OVERALL:
            raise InputError("'overall' is reserved for the overall score; rename the dimension.")
        measures = tuple(self.measures)
        if not measures or not all(isinstance(m, Measure) for m in measures):
            raise InputError(f"dimension {self.name!r} needs one or more Measure objects.")
        if sum(m.weight for m in measures) <= 0:
            raise InputError(f"dimension {self.name!r}: measure weights are all 0; give one > 0.")
        _set(
            self,
            measures=measures,
            weight=_number(self.weight, f"dimension {self.name!r} weight", lo=0),
            thresholds=Thresholds.coerce(self.thresholds),
        )


def _freeze(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return MappingProxyType({str(k): _freeze(v) for k, v in obj.items()})
    if isinstance(obj, list | tuple):
        return tuple(_freeze(v) for v in obj)
    return obj


def _thaw(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _thaw(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return [_thaw(v) for v in obj]
    return obj


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """Where a card came from; every field optional (``created_at`` only when given)."""

    created_at: str | None = None
    data_period: tuple[str, str] | None = None
    n_accounts: int | None = None
    evaluation: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    dearstats_version: str | None = None
    notes: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.created_at, _dt.date):
            _set(self, created_at=self.created_at.isoformat())
        if self.data_period is not None:
            if isinstance(self.data_period, Mapping):
                period = (self.data_period.get("start"), self.data_period.get("end"))
            else:
                period = tuple(self.data_period)
            start, end = (to_date(d, name="data_period").date().isoformat() for d in period)
            if not start < end:
                raise InputError(f"data_period start {start} must be before end {end} (exclusive).")
            _set(self, data_period=(start, end))
        if self.n_accounts is not None and (
            isinstance(self.n_accounts, bool)
            or int(self.n_accounts) != self.n_accounts
            or self.n_accounts < 0
        ):
            raise InputError(f"n_accounts must be an integer ≥ 0; found {self.n_accounts!r}.")
        if self.n_accounts is not None:
            _set(self, n_accounts=int(self.n_accounts))
        for key in ("created_at", "dearstats_version", "notes"):
            if getattr(self, key) is not None and not isinstance(getattr(self, key), str):
                raise InputError(
                    f"provenance {key} must be a string; found {getattr(self, key)!r}."
                )
        if not isinstance(self.evaluation, Mapping):
            raise InputError(f"evaluation must be a mapping of metrics; found {self.evaluation!r}.")
        try:
            json.dumps(_thaw(self.evaluation), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InputError(f"evaluation must hold finite JSON values only: {exc}.") from exc
        _set(self, evaluation=_freeze(self.evaluation))

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def to_dict(self) -> dict[str, Any]:
        """The JSON ``provenance`` object (absent fields left out)."""
        out: dict[str, Any] = {}
        if self.created_at is not None:
            out["created_at"] = self.created_at
        if self.data_period is not None:
            out["data_period"] = {"start": self.data_period[0], "end": self.data_period[1]}
        if self.n_accounts is not None:
            out["n_accounts"] = self.n_accounts
        if self.evaluation:
            out["evaluation"] = _thaw(self.evaluation)
        for key in ("dearstats_version", "notes"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@functools.cache
def _schema() -> dict[str, Any]:
    text = resources.files("dearstats").joinpath("schemas/scorecard.schema.json").read_text("utf-8")
    return json.loads(text)


def _dearstats_version() -> str:
    import dearstats

    return dearstats.__version__


# ------------------------------------------------------------------------ scorecard
@dataclass(frozen=True, repr=False)
class ScoreCard:
    """Scores accounts 0–100 and colours them per DEAR dimension and overall.

    Build one with :meth:`default`, :meth:`from_dict`, :meth:`from_json`, or from
    :class:`Dimension` objects. See the module docstring for the scoring rules.
    """

    dimensions: tuple[Dimension, ...]
    _: KW_ONLY
    overall_thresholds: Thresholds = field(default_factory=Thresholds)
    provenance: Provenance = field(default_factory=Provenance)

    def __post_init__(self) -> None:
        dims = tuple(self.dimensions)
        if not dims or not all(isinstance(d, Dimension) for d in dims):
            raise InputError("a ScoreCard needs one or more Dimension objects.")
        if not isinstance(self.provenance, Provenance):
            raise InputError("provenance must be a Provenance.")
        names = [d.name for d in dims]
        measures = [m.name for d in dims for m in d.measures]
        outputs = {f"{n}_{s}" for n in [*names, OVERALL] for s in ("score", "colour")}
        for label, seen in (("dimension", names), ("measure", measures)):
            dup = sorted({n for n in seen if seen.count(n) > 1})
            if dup:
                raise InputError(f"{label} names must be unique; repeated: {', '.join(dup)}.")
        if clash := sorted(outputs.intersection(measures)):
            raise InputError(f"measure names clash with output columns: {', '.join(clash)}.")
        if sum(d.weight for d in dims) <= 0:
            raise InputError("dimension weights are all 0; give at least one a weight > 0.")
        _set(self, dimensions=dims, overall_thresholds=Thresholds.coerce(self.overall_thresholds))

    # ------------------------------------------------------------------ construction
    @classmethod
    def default(cls) -> ScoreCard:
        """A scorecard a CS leader would recognise; the rationale sits beside each measure.

        Equal dimension weights (0.25) and red < 40 ≤ yellow < 70 ≤ green everywhere.
        Starting values to calibrate on your own renewals, not estimates.
        """
        t = Thresholds(40.0, 70.0)

        def dim(name: str, rationale: str, *measures: Measure) -> Dimension:
            return Dimension(name, measures, weight=0.25, thresholds=t, rationale=rationale)

        return cls(
            (
                dim(
                    "deployment",
                    "Is the customer activated on what it bought?",
                    Measure(
                        "deployment_activation",
                        Linear(lo=0.3, hi=0.9, null=IGNORE),
                        weight=3.0,
                        rationale="Share of licensed seats activated: under "
                        "~55% is red, over ~70% green, 90% full marks. Null (nothing "
                        "licensed) is not evidence either way: ignored.",
                    ),
                    Measure(
                        "deployment_activation_trend",
                        Linear(lo=-0.1, hi=0.1, null=IGNORE),
                        rationale="Change in activation: flat scores 50, ±10 points "
                        "saturates. Null (no history yet) ignored.",
                    ),
                    Measure(
                        "deployment_shelfware",
                        Boolean(if_true=0, if_false=100, null=IGNORE),
                        weight=2.0,
                        rationale="A product bought and left unused is the "
                        "classic early churn flag.",
                    ),
                ),
                dim(
                    "engagement",
                    "Are we multithreaded to the people with influence, on cadence?",
                    Measure(
                        "engagement_key_coverage",
                        Linear(lo=0.0, hi=0.8, null=0),
                        weight=3.0,
                        rationale="Share of key stakeholders engaged; 80% is "
                        "excellent. Null (no key contact known) is single-threaded: 0.",
                    ),
                    Measure(
                        "engagement_days_since_sponsor",
                        Logistic(center=90, scale=-15, null=0),
                        weight=2.0,
                        rationale="Quarterly executive-sponsor touch: green "
                        "within ~77 days, red after ~96. Never engaged: 0.",
                    ),
                    Measure(
                        "engagement_contacts_90d",
                        Log(lo=0, hi=12, null=0),
                        rationale="Touches in 90 days, saturating at about one a week.",
                    ),
                    Measure(
                        "engagement_sla_compliance",
                        Linear(lo=0.5, hi=1.0, null=IGNORE),
                        weight=2.0,
                        rationale="Share of recent periods with a key-contact touch "
                        "(cadence kept): 70% is the yellow line, 85% green. Null (no key "
                        "contact, already 0 under key coverage) ignored.",
                    ),
                    Measure(
                        "engagement_days_since_ebr",
                        Logistic(center=180, scale=-30, null=0),
                        rationale="Executive business review twice a year; never: 0.",
                    ),
                ),
                dim(
                    "adoption",
                    "How broadly and deeply is the product used?",
                    Measure(
                        "adoption_breadth",
                        Linear(lo=0.1, hi=0.7, null=IGNORE),
                        weight=3.0,
                        rationale="Active users per licensed seat: 70% is "
                        "full marks. Null (no seats) ignored.",
                    ),
                    Measure(
                        "adoption_dau_mau",
                        Linear(lo=0.05, hi=0.4, null=0),
                        weight=2.0,
                        rationale="Stickiness; ~20% is a typical B2B SaaS "
                        "benchmark (yellow), 30%+ green. Null (no monthly users): 0.",
                    ),
                    Measure(
                        "adoption_sticky_share",
                        Linear(lo=0.0, hi=0.6, null=0),
                        weight=2.0,
                        rationale="Depth: share of active users on a sticky feature.",
                    ),
                    Measure(
                        "adoption_workflow_share",
                        Linear(lo=0.0, hi=0.5, null=IGNORE),
                        rationale="Depth: end-to-end workflows in use. Null (catalogue "
                        "has no workflows) ignored.",
                    ),
                    Measure(
                        "adoption_trend",
                        Logistic(center=1.0, scale=0.1, null=IGNORE),
                        optional=True,
                        rationale="Usage now vs before as a ratio: flat "
                        "scores 50, +10% ≈ 73. Optional.",
                    ),
                ),
                dim(
                    "roi",
                    "Is the customer achieving verified value?",
                    Measure(
                        "roi_verified_share_due",
                        Linear(lo=0.0, hi=0.8, null=IGNORE),
                        weight=3.0,
                        rationale="Share of the outcomes due that the customer "
                        "verified; null (nothing due yet) ignored.",
                    ),
                    Measure(
                        "roi_verified_90d",
                        Log(lo=0, hi=3, null=0),
                        rationale="Recent verified value, saturating at 3 outcomes.",
                    ),
                    Measure(
                        "roi_overdue",
                        Log(lo=3, hi=0, null=IGNORE),
                        weight=2.0,
                        rationale="Overdue outcomes erode trust: 0 → 100, 3 or more → 0.",
                    ),
                    Measure(
                        "roi_days_since_verified",
                        Logistic(center=180, scale=-45, null=0),
                        weight=2.0,
                        rationale="Value proven within the last half-year; never verified: 0.",
                    ),
                    Measure(
                        "roi_has_plan",
                        Boolean(if_true=100, if_false=0, null=0),
                        weight=2.0,
                        rationale="No success plan, no verifiable ROI.",
                    ),
                ),
            ),
            overall_thresholds=t,
            provenance=Provenance(
                dearstats_version=_dearstats_version(),
                notes="dearstats default scorecard: expert starting values, not calibrated.",
            ),
        )

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> ScoreCard:
        """Build from the JSON format as Python dicts (``$schema``, ``schema_version``
        and ``provenance`` may be left out); validated like :meth:`from_json`."""
        if not isinstance(spec, Mapping):
            raise InputError(
                f"expected a mapping in the scorecard format; found {type(spec).__name__}."
            )
        doc = {"$schema": SCHEMA_ID, "schema_version": SCHEMA_VERSION, **spec}
        doc.setdefault("provenance", {})
        return cls._from_document(doc, source="scorecard dict")

    @classmethod
    def from_json(cls, source: str | os.PathLike[str]) -> ScoreCard:
        """Read a card from a JSON file path or a JSON string, validated against the schema.

        Every violation is reported at once with its JSON path (``$.dimensions[0].weight``).
        """
        if isinstance(source, os.PathLike) or (
            isinstance(source, str) and not source.lstrip().startswith("{")
        ):
            path = Path(source)
            if not path.is_file():
                raise InputError(
                    f"scorecard file {str(path)!r} not found; pass a path or JSON text."
                )
            text, label = path.read_text("utf-8"), str(path)
        elif isinstance(source, str):
            text, label = source, "scorecard JSON"
        else:
            raise InputError(f"from_json takes a path or JSON text; found {type(source).__name__}.")
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{label} is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
            ) from exc
        return cls._from_document(doc, source=label)

    @classmethod
    def _from_document(cls, doc: Any, *, source: str) -> ScoreCard:
        import jsonschema

        if not isinstance(doc, dict):
            raise InputError(f"{source}: expected a JSON object; found {type(doc).__name__}.")
        version = doc.get("schema_version")
        match = re.fullmatch(r"(\d+)\.(\d+)", version) if isinstance(version, str) else None
        if match is None:
            raise InputError(
                f"{source}: schema_version must be a string like '{SCHEMA_VERSION}'; "
                f"found {version!r}."
            )
        if match[1] != SCHEMA_VERSION.split(".")[0]:
            raise InputError(
                f"{source}: schema_version {version} is not supported; this dearstats "
                f"reads {SCHEMA_VERSION.split('.')[0]}.x. Use a matching dearstats."
            )
        validator = jsonschema.Draft202012Validator(_schema())
        problems = []
        for err in sorted(validator.iter_errors(doc), key=lambda e: e.json_path):
            hint = err.schema.get("description") if err.validator in ("anyOf", "oneOf") else None
            problems.append(f"{err.json_path}: {err.message}" + (f" ({hint})" if hint else ""))
        if not problems:
            card = _build(doc, problems)
            if card is not None:
                return card
        newer = int(match[2]) > int(SCHEMA_VERSION.split(".")[1])
        raise InputError(
            f"{source} is not a valid scorecard ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''}):\n  - "
            + "\n  - ".join(problems)
            + "\nFix these fields; the format is in the dearstats.scorecard docstring and "
            "dearstats/schemas/scorecard.schema.json."
            + (
                f" The document is schema_version {version}, newer than {SCHEMA_VERSION}: "
                "upgrading dearstats may help."
                if newer
                else ""
            )
        )

    def to_dict(self) -> dict[str, Any]:
        """The card in the JSON format as Python objects."""
        return {
            "$schema": SCHEMA_ID,
            "schema_version": SCHEMA_VERSION,
            "overall": {"thresholds": dataclasses.asdict(self.overall_thresholds)},
            "dimensions": [
                {
                    "name": d.name,
                    "weight": d.weight,
                    "thresholds": dataclasses.asdict(d.thresholds),
                    "rationale": d.rationale,
                    "measures": [
                        {
                            "name": m.name,
                            "weight": m.weight,
                            "optional": m.optional,
                            "rationale": m.rationale,
                            "transform": m.transform.to_dict(),
                        }
                        for m in d.measures
                    ],
                }
                for d in self.dimensions
            ],
            "provenance": self.provenance.to_dict(),
        }

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The card as JSON text (deterministic); also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    # ---------------------------------------------------------------- new cards
    def with_weights(
        self,
        *,
        dimensions: Mapping[str, float] | None = None,
        measures: Mapping[str, float] | None = None,
    ) -> ScoreCard:
        """A new card with some dimension and/or measure weights replaced.

        Provenance ``evaluation`` is dropped: those metrics described the old weights.
        """
        dimensions, measures = dict(dimensions or {}), dict(measures or {})
        self._check_names(dimensions, self.dimension_names, "dimension")
        self._check_names(measures, [m.name for m in self.measures], "measure")
        dims = tuple(
            dataclasses.replace(
                d,
                weight=dimensions.get(d.name, d.weight),
                measures=tuple(
                    dataclasses.replace(m, weight=measures.get(m.name, m.weight))
                    for m in d.measures
                ),
            )
            for d in self.dimensions
        )
        return self._replace(dimensions=dims)

    def with_thresholds(
        self,
        thresholds: Mapping[str, Thresholds | Sequence[float]] | None = None,
        /,
        **by_name: Thresholds | Sequence[float],
    ) -> ScoreCard:
        """A new card with thresholds replaced, keyed by dimension name or ``"overall"``.

        ``card.with_thresholds(adoption=(30, 60), overall=Thresholds(45, 75))``.
        Provenance ``evaluation`` is dropped: those metrics described the old colours.
        """
        new = {**(thresholds or {}), **by_name}
        self._check_names(new, [*self.dimension_names, OVERALL], "dimension")
        dims = tuple(
            dataclasses.replace(d, thresholds=Thresholds.coerce(new[d.name]))
            if d.name in new
            else d
            for d in self.dimensions
        )
        overall = Thresholds.coerce(new.get(OVERALL, self.overall_thresholds))
        return self._replace(dimensions=dims, overall_thresholds=overall)

    def with_provenance(self, **changes: Any) -> ScoreCard:
        """A new card with provenance fields replaced (e.g. ``evaluation={...}``)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(Provenance)}
        if unknown:
            raise InputError(
                f"unknown provenance fields {sorted(unknown)}; known: "
                f"{[f.name for f in dataclasses.fields(Provenance)]}."
            )
        return dataclasses.replace(self, provenance=dataclasses.replace(self.provenance, **changes))

    def _replace(self, **changes: Any) -> ScoreCard:
        prov = dataclasses.replace(self.provenance, evaluation={})
        return dataclasses.replace(self, provenance=prov, **changes)

    @staticmethod
    def _check_names(given: Iterable[str], known: Sequence[str], label: str) -> None:
        unknown = [n for n in given if n not in known]
        if unknown:
            raise InputError(f"unknown {label} names {unknown}; this card has: {', '.join(known)}.")

    # ---------------------------------------------------------------- accessors
    @property
    def dimension_names(self) -> tuple[str, ...]:
        """Dimension names in order."""
        return tuple(d.name for d in self.dimensions)

    @property
    def measures(self) -> tuple[Measure, ...]:
        """All measures, dimension by dimension."""
        return tuple(m for d in self.dimensions for m in d.measures)

    # ---------------------------------------------------------------- scoring
    def score(self, features: pd.DataFrame) -> pd.DataFrame:
        """Score each row: a copy of ``features`` (same index, all columns) plus
        ``<dimension>_score`` (float 0–100, NaN when unknown), ``<dimension>_colour``
        (ordered categorical red < yellow < green) and ``overall_score``/``overall_colour``.

        Output columns already in ``features`` (re-scoring) are replaced.
        """
        if not isinstance(features, pd.DataFrame):
            raise InputError(
                f"score takes a pandas DataFrame (ds.build_features output); found "
                f"{type(features).__name__}. Convert with .to_pandas()."
            )
        cols = features.columns
        missing = [
            (d.name, m.name)
            for d in self.dimensions
            for m in d.measures
            if not m.optional and m.name not in cols
        ]
        if missing:
            listed = ", ".join(f"{m} ({d})" for d, m in missing)
            plural = "s" if len(missing) > 1 else ""
            raise InputError(
                f"features is missing {len(missing)} measure column{plural} "
                f"the scorecard needs: {listed}. Found {len(cols)} columns: "
                f"{', '.join(map(str, cols[:12]))}{', ...' if len(cols) > 12 else ''}. Build the "
                "frame with ds.build_features, rename the columns, or declare those measures "
                "optional (Measure(..., optional=True)) or drop them from the card."
            )
        if dup := sorted(set(cols[cols.duplicated()]) & {m.name for m in self.measures}):
            raise InputError(f"features has repeated measure columns: {', '.join(dup)}.")
        new: dict[str, Any] = {}
        dim_scores = []
        for d in self.dimensions:
            present = [m for m in d.measures if m.name in cols]
            matrix = np.column_stack(
                [m.transform.apply(_as_float(features[m.name]), name=m.name) for m in present]
                or [np.full(len(features), np.nan)]
            )
            weights = np.array([m.weight for m in present] or [0.0])
            s = _weighted_mean(matrix, weights)
            dim_scores.append(s)
            new[f"{d.name}_score"], new[f"{d.name}_colour"] = s, _colour(s, d.thresholds)
        overall = _weighted_mean(
            np.column_stack(dim_scores), np.array([d.weight for d in self.dimensions])
        )
        new["overall_score"], new["overall_colour"] = (
            overall,
            _colour(overall, self.overall_thresholds),
        )
        added = pd.DataFrame(new, index=features.index)
        kept = features.drop(columns=[c for c in new if c in cols])
        return pd.concat([kept, added], axis=1)

    # ---------------------------------------------------------------- panels
    def colour_history(self, scored: pd.DataFrame) -> pd.DataFrame:
        """Tidy colours of a scored panel: one row per ``account_id`` × ``as_of`` ×
        ``dimension`` (the card's dimensions, then ``overall``) with ``score`` and ``colour``.

        ``account_id`` and ``as_of`` may be columns or index levels.
        """
        keys = _panel_keys(scored)
        names = [*self.dimension_names, OVERALL]
        needed = [f"{n}_{s}" for n in names for s in ("score", "colour")]
        if absent := [c for c in needed if c not in scored.columns]:
            raise InputError(
                f"scored panel lacks {', '.join(absent)}; score it first with card.score(panel)."
            )
        parts = [
            keys.assign(
                dimension=n,
                score=scored[f"{n}_score"].to_numpy(dtype=float),
                colour=pd.Categorical(scored[f"{n}_colour"], dtype=COLOUR_DTYPE),
            )
            for n in names
        ]
        out = pd.concat(parts, ignore_index=True)
        out["dimension"] = pd.Categorical(out["dimension"], categories=names, ordered=True)
        return out.sort_values(["account_id", "as_of", "dimension"], kind="stable").reset_index(
            drop=True
        )

    def transitions(self, scored: pd.DataFrame, *, latest: bool = False) -> pd.DataFrame:
        """Colour moves between consecutive snapshots of each account, per dimension.

        One row per ``account_id`` × ``dimension`` × ``as_of`` that has an earlier snapshot
        (the previous ``as_of`` of that account in the panel): ``previous_as_of``,
        ``as_of``, ``previous_colour``, ``colour``, ``previous_score``, ``score``,
        ``score_change`` and ``trend`` (ordered ↓ < → < ↑ by colour; missing when either
        colour is unknown). ``latest=True`` keeps each account's most recent move only.
        """
        hist = self.colour_history(scored).sort_values(
            ["dimension", "account_id", "as_of"], kind="stable"
        )
        grouped = hist.groupby(["dimension", "account_id"], observed=True, sort=False)
        prev = grouped[["as_of", "score", "colour"]].shift(1)
        out = pd.DataFrame(
            {
                "account_id": hist["account_id"],
                "dimension": hist["dimension"],
                "previous_as_of": prev["as_of"],
                "as_of": hist["as_of"],
                "previous_colour": pd.Categorical(prev["colour"], dtype=COLOUR_DTYPE),
                "colour": hist["colour"],
                "previous_score": prev["score"],
                "score": hist["score"],
            }
        )[prev["as_of"].notna().to_numpy()]
        out["score_change"] = out["score"] - out["previous_score"]
        step = np.sign(
            out["colour"].cat.codes.to_numpy() - out["previous_colour"].cat.codes.to_numpy()
        )
        known = (out["colour"].cat.codes.to_numpy() >= 0) & (
            out["previous_colour"].cat.codes.to_numpy() >= 0
        )
        out["trend"] = pd.Categorical.from_codes(np.where(known, step + 1, -1), dtype=TREND_DTYPE)
        if latest:
            out = out.groupby(["dimension", "account_id"], observed=True, sort=False).tail(1)
        return out.sort_values(["account_id", "dimension", "as_of"], kind="stable").reset_index(
            drop=True
        )

    def transition_matrix(self, scored: pd.DataFrame, *, normalize: bool = False) -> pd.DataFrame:
        """Counts of colour moves, index (``dimension``, ``previous_colour``) × columns
        red/yellow/green (``colour``); ``normalize=True`` gives row shares instead.

        Moves from or to an unknown colour are not counted. ``m.loc["adoption"]`` is the 3×3
        matrix of one dimension.
        """
        tr = self.transitions(scored)
        frames = []
        for n in [*self.dimension_names, OVERALL]:
            sub = tr[tr["dimension"] == n]
            i, j = sub["previous_colour"].cat.codes.to_numpy(), sub["colour"].cat.codes.to_numpy()
            ok = (i >= 0) & (j >= 0)
            counts = np.zeros((3, 3), dtype=np.int64)
            np.add.at(counts, (i[ok], j[ok]), 1)
            frames.append(pd.DataFrame(counts, index=pd.Index(COLOURS), columns=pd.Index(COLOURS)))
        out = pd.concat(
            frames, keys=[*self.dimension_names, OVERALL], names=["dimension", "previous_colour"]
        )
        out.columns.name = "colour"
        return out.div(out.sum(axis=1), axis=0) if normalize else out

    # ---------------------------------------------------------------- display
    def summary(self) -> pd.DataFrame:
        """One row per dimension × measure: transform, null policy, direction, weights
        (raw, share within the dimension, effective share of the overall score) and the
        dimension's thresholds."""
        total = sum(d.weight for d in self.dimensions)
        rows = []
        for d in self.dimensions:
            dim_total = sum(m.weight for m in d.measures)
            for m in d.measures:
                rows.append(
                    {
                        "dimension": d.name,
                        "measure": m.name,
                        "transform": m.transform.describe(),
                        "null": m.transform.null,
                        "higher_is_better": m.transform.direction > 0,
                        "optional": m.optional,
                        "weight": m.weight,
                        "weight_in_dimension": m.weight / dim_total,
                        "dimension_weight": d.weight / total,
                        "overall_weight": m.weight / dim_total * d.weight / total,
                        "yellow": d.thresholds.yellow,
                        "green": d.thresholds.green,
                    }
                )
        return pd.DataFrame(rows).set_index(["dimension", "measure"])

    def __repr__(self) -> str:
        total = sum(d.weight for d in self.dimensions)
        width = max(len(m.name) for m in self.measures)
        lines = [
            f"ScoreCard({len(self.dimensions)} dimensions, {len(self.measures)} measures; "
            f"overall: {self.overall_thresholds.describe()})"
        ]
        for d in self.dimensions:
            lines.append(f"  {d.name}  weight {d.weight / total:.0%}  {d.thresholds.describe()}")
            dim_total = sum(m.weight for m in d.measures)
            for m in d.measures:
                null = "ignore" if m.transform.null == "ignore" else _fmt(m.transform.null)
                lines.append(
                    f"    {m.name:<{width}}  {m.weight / dim_total:>4.0%}  "
                    f"{m.transform.describe()}, null→{null}"
                    + ("  (optional)" if m.optional else "")
                )
        prov = self.provenance.to_dict()
        if prov:
            shown = ", ".join(f"{k}={v}" for k, v in prov.items())
            lines.append(f"  provenance: {shown}")
        lines.append("  → card.score(features), card.summary(), card.to_json(path)")
        return "\n".join(lines)


# ------------------------------------------------------------------------ helpers
def _build(doc: dict[str, Any], problems: list[str]) -> ScoreCard | None:
    """Objects from a schema-valid document; semantic errors appended with their path."""

    def attempt(path: str, make: Any) -> Any:
        try:
            return make()
        except InputError as exc:
            problems.append(f"{path}: {exc}")
            return None

    dims = []
    for i, d in enumerate(doc["dimensions"]):
        path = f"$.dimensions[{i}]"
        measures = []
        for j, m in enumerate(d["measures"]):
            mpath = f"{path}.measures[{j}]"
            tr = attempt(f"{mpath}.transform", lambda m=m: transform_from_dict(m["transform"]))
            if tr is not None:
                measures.append(
                    attempt(
                        mpath,
                        lambda m=m, tr=tr: Measure(
                            m["name"],
                            tr,
                            weight=m["weight"],
                            optional=m.get("optional", False),
                            rationale=m.get("rationale", ""),
                        ),
                    )
                )
        th = attempt(f"{path}.thresholds", lambda d=d: Thresholds(**d["thresholds"]))
        if th is not None and all(x is not None for x in measures):
            dims.append(
                attempt(
                    path,
                    lambda d=d, th=th, measures=measures: Dimension(
                        d["name"],
                        tuple(measures),
                        weight=d["weight"],
                        thresholds=th,
                        rationale=d.get("rationale", ""),
                    ),
                )
            )
    overall = attempt("$.overall.thresholds", lambda: Thresholds(**doc["overall"]["thresholds"]))
    prov = doc["provenance"]
    provenance = attempt(
        "$.provenance",
        lambda: Provenance(
            **{k: v for k, v in prov.items() if k != "data_period"},
            data_period=prov.get("data_period"),
        ),
    )
    if problems:
        return None
    return attempt(
        "$", lambda: ScoreCard(tuple(dims), overall_thresholds=overall, provenance=provenance)
    )


def _as_float(series: pd.Series) -> np.ndarray:
    """A measure column as floats with NaN for nulls (bools → 1/0, timedeltas → days)."""
    if pd.api.types.is_timedelta64_dtype(series):
        return (series.dt.total_seconds() / 86400.0).to_numpy(dtype=float, na_value=np.nan)
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    coerced = pd.to_numeric(series, errors="coerce")
    bad = coerced.isna() & series.notna()
    if bad.any():
        first = series[bad].iloc[0]
        raise InputError(
            f"column {series.name!r} must be numeric or boolean; {int(bad.sum())} values are "
            f"not (first: {first!r} at index {series.index[bad][0]!r}). Convert the column or "
            "fix the feature."
        )
    return coerced.astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def _weighted_mean(scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Row-wise mean of ``scores`` (n × k) with ``weights`` renormalised over non-NaN cells."""
    present = ~np.isnan(scores)
    den = np.where(present, weights, 0.0).sum(axis=1)
    num = (np.where(present, scores, 0.0) * weights).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return np.clip(out, 0.0, 100.0)


def _colour(scores: np.ndarray, t: Thresholds) -> pd.Categorical:
    codes = (scores >= t.yellow).astype(np.int8) + (scores >= t.green)
    return pd.Categorical.from_codes(np.where(np.isnan(scores), -1, codes), dtype=COLOUR_DTYPE)


def _panel_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """``account_id`` and ``as_of`` of a panel (columns or index levels), checked unique."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"expected a scored pandas DataFrame; found {type(frame).__name__}.")
    keys = {}
    for key in ("account_id", "as_of"):
        if key in frame.columns:
            keys[key] = frame[key].to_numpy()
        elif key in (frame.index.names or []):
            keys[key] = frame.index.get_level_values(key).to_numpy()
        else:
            raise InputError(
                f"panel needs an {key!r} column or index level; found columns "
                f"{list(frame.columns)[:8]}. Score a frame from ds.build_features."
            )
    out = pd.DataFrame(keys)
    dup = out.duplicated()
    if dup.any():
        first = out[dup].iloc[0]
        raise InputError(
            f"panel has {int(dup.sum())} repeated (account_id, as_of) rows "
            f"(first: {first['account_id']!r}, {first['as_of']!r}); keep one row per "
            "account and snapshot."
        )
    return out
