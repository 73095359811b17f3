"""Reproducible experiments on dearstats: ``python -m experiments NAME [--seed N]``.

Each experiment is a module here with ``DESCRIPTION``, ``add_arguments(parser)``,
``configure(args) -> dict`` and ``run(config, book, out) -> dict``; the runner
(:mod:`experiments.__main__`) loads the book, runs it into a staging folder, writes
``provenance.json`` and publishes ``reports/experiments/NAME/``. See README.md.
"""

from __future__ import annotations

#: experiment name → module (imported on use)
EXPERIMENTS: dict[str, str] = {
    "calibrate_scorecard": "experiments.calibrate_scorecard",
    "compare_models": "experiments.compare_models",
}

__all__ = ["EXPERIMENTS"]
