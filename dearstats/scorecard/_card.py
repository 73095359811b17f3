"""The ScoreCard: scoring, panels, JSON import/export (see dearstats.scorecard)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dearstats.errors import InputError
from dearstats.scorecard._config import (
    Dimension,
    Measure,
    Provenance,
    Thresholds,
    _dearstats_version,
    _schema,
)
from dearstats.scorecard._transforms import (
    COLOUR_DTYPE,
    COLOURS,
    IGNORE,
    OVERALL,
    SCHEMA_ID,
    SCHEMA_VERSION,
    TREND_DTYPE,
    Boolean,
    Linear,
    Log,
    Logistic,
    _fmt,
    _set,
    transform_from_dict,
)


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
                        weight=5.0,
                        rationale="Share of licensed seats activated, the core of the "
                        "dimension: under ~55% is red, over ~70% green, 90% full marks. "
                        "Null (nothing licensed) is not evidence either way: ignored.",
                    ),
                    Measure(
                        "deployment_activation_trend",
                        Linear(lo=-0.2, hi=0.2, null=IGNORE),
                        weight=0.5,
                        rationale="Change in activation over 90 days: flat scores 50, "
                        "±20 points saturates. A leading signal of direction, not of the "
                        "level, so a small weight. Null (no history yet) ignored.",
                    ),
                    Measure(
                        "deployment_shelfware",
                        Boolean(if_true=0, if_false=100, null=IGNORE),
                        rationale="A product bought and left unused is the classic early "
                        "churn flag; a yes/no flag on top of activation, so weighted "
                        "lightly to avoid counting low activation twice.",
                    ),
                ),
                dim(
                    "engagement",
                    "Are we multithreaded to the people with influence, on cadence?",
                    Measure(
                        "engagement_key_coverage",
                        Linear(lo=0.0, hi=1.0, null=0),
                        weight=3.0,
                        rationale="Share of key stakeholders engaged: half of them is "
                        "yellow, all of them full marks. Null (no key contact known) is "
                        "single-threaded: 0.",
                    ),
                    Measure(
                        "engagement_sla_compliance",
                        Linear(lo=0.0, hi=1.0, null=IGNORE),
                        weight=3.0,
                        rationale="Share of recent periods with a key-contact touch "
                        "(cadence kept), the steadiest engagement signal: 2 of 3 months "
                        "is yellow-to-green. Null (no key contact, already 0 under key "
                        "coverage) ignored.",
                    ),
                    Measure(
                        "engagement_days_since_sponsor",
                        Logistic(center=90, scale=-30, null=0),
                        rationale="Quarterly executive-sponsor touch: ~70 within two "
                        "months, 50 at 90 days. Never engaged (or no sponsor): 0.",
                    ),
                    Measure(
                        "engagement_contacts_90d",
                        Log(lo=0, hi=8, null=0),
                        rationale="Distinct people touched in 90 days (breadth of the "
                        "relationship), saturating at 8.",
                    ),
                    Measure(
                        "engagement_days_since_ebr",
                        Logistic(center=180, scale=-30, null=IGNORE),
                        weight=0.5,
                        rationale="Executive business review twice a year. Most accounts "
                        "(all tech-touch ones) never hold one, so null is ignored rather "
                        "than scored 0 and the weight is small.",
                    ),
                ),
                dim(
                    "adoption",
                    "How broadly and deeply is the product used?",
                    Measure(
                        "adoption_dau_mau",
                        Linear(lo=0.0, hi=0.3, null=0),
                        weight=3.0,
                        rationale="Stickiness (DAU/MAU); ~12% is yellow, 20%, a typical "
                        "B2B SaaS benchmark, is green, 30% full marks. Null (no monthly "
                        "users): 0.",
                    ),
                    Measure(
                        "adoption_sticky_share",
                        Linear(lo=0.4, hi=1.0, null=0),
                        weight=3.0,
                        rationale="Depth: share of active users on a sticky feature. Most "
                        "healthy accounts are above 80%, so the range starts at 40% (0) "
                        "and 82% is green. Null (no active users): 0.",
                    ),
                    Measure(
                        "adoption_workflow_share",
                        Linear(lo=0.0, hi=1.0, null=IGNORE),
                        rationale="Depth: end-to-end workflows in use. Null (catalogue "
                        "has no workflows) ignored.",
                    ),
                    Measure(
                        "adoption_breadth",
                        Linear(lo=0.1, hi=0.7, null=IGNORE),
                        weight=0.5,
                        rationale="Active users per licensed seat, the DEAR definition of "
                        "breadth, but noisy where telemetry samples users (large seat "
                        "counts with capped or sampled user ids) and overlapping with "
                        "deployment activation: low weight. Null (no seats) ignored.",
                    ),
                    Measure(
                        "adoption_trend",
                        Logistic(center=1.0, scale=0.2, null=IGNORE),
                        weight=0.25,
                        optional=True,
                        rationale="Usage now vs before as a ratio: flat scores 50, +20% "
                        "≈ 73. Direction rather than level and noisy month to month: "
                        "small weight. Optional.",
                    ),
                ),
                dim(
                    "roi",
                    "Is the customer achieving verified value?",
                    Measure(
                        "roi_verified_share_due",
                        Linear(lo=0.0, hi=1.0, null=IGNORE),
                        weight=4.0,
                        rationale="Share of the outcomes due in the last year that the "
                        "customer verified: the ROI measure. Null (nothing due yet) "
                        "ignored.",
                    ),
                    Measure(
                        "roi_on_time_share_due",
                        Linear(lo=0.0, hi=1.0, null=IGNORE),
                        rationale="As above, counting only verifications by the target "
                        "date: value delivered on the promised timeline. Null ignored.",
                    ),
                    Measure(
                        "roi_days_since_verified",
                        Logistic(center=180, scale=-45, null=IGNORE),
                        weight=0.5,
                        rationale="Value proven within the last half-year. Null (never "
                        "verified) ignored: an account with outcomes due and none verified "
                        "already scores 0 on the shares, and one without a plan has no "
                        "evidence either way.",
                    ),
                    Measure(
                        "roi_verified_90d",
                        Log(lo=0, hi=3, null=IGNORE),
                        weight=0.0,
                        rationale="Recent verified value, saturating at 3 outcomes. Weight "
                        "0 (context only): the count is 0, not null, for accounts without "
                        "a success plan, so weighting it would score them as failing.",
                    ),
                    Measure(
                        "roi_overdue",
                        Log(lo=3, hi=0, null=IGNORE),
                        weight=0.0,
                        rationale="Overdue outcomes erode trust: 0 → 100, 3 or more → 0. "
                        "Weight 0 (context only): 0 for accounts without a plan, so "
                        "weighting it would award them full marks.",
                    ),
                    Measure(
                        "roi_has_plan",
                        Boolean(if_true=100, if_false=0, null=IGNORE),
                        weight=0.0,
                        rationale="No success plan, no verifiable ROI: weight 0 leaves "
                        "ROI unknown (not red) for accounts without a plan, and the overall "
                        "score rests on the other dimensions. Give it weight to treat a "
                        "missing plan as a risk in its own right.",
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
