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

from dearstats.scorecard._card import ScoreCard
from dearstats.scorecard._config import Dimension, Measure, Provenance, Thresholds
from dearstats.scorecard._transforms import (
    COLOUR_DTYPE,
    COLOURS,
    DIMENSIONS,
    IGNORE,
    SCHEMA_ID,
    SCHEMA_VERSION,
    TREND_DTYPE,
    Boolean,
    Linear,
    Log,
    Logistic,
    Transform,
    transform_from_dict,
)

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
