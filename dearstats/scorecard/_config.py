"""Frozen configuration of a scorecard: thresholds, measures, dimensions, provenance."""

from __future__ import annotations

import datetime as _dt
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any

from dearstats.book import to_date
from dearstats.errors import InputError
from dearstats.scorecard._transforms import OVERALL, Transform, _fmt, _name, _number, _set


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
