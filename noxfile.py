"""Sessions: `nox -s demo` (the main job), `nox -s tests` (the whole suite, as CI runs it).

Python versions and dependency groups come from pyproject.toml.
"""

import os

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
PY = "3.12"
# BLAS threads inside sampler threads oversubscribe small machines
ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@nox.session(python=PY)
def tests(session: nox.Session) -> None:
    """The whole test suite, slow and Spark tests included (what CI runs)."""
    session.install("-e", ".[spark]", *nox.project.dependency_groups(PYPROJECT, "test"))
    session.run("pytest", *(session.posargs or ["-n", "2", "--durations=15"]), env=ENV)


@nox.session(python=PY)
def lint(session: nox.Session) -> None:
    """ruff (lint + format check) and mypy."""
    session.install("-e", ".", *nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(python=PY)
def data(session: nox.Session) -> None:
    """Write the default demo book (fixed seed) to data/demo."""
    session.install("-e", ".")
    session.run("dearstats", "simulate", "--out", "data/demo", "--random-seed", "0", env=ENV)


@nox.session(python=PY)
def demo(session: nox.Session) -> None:
    """The main job on the embedded default data (the README's first command)."""
    session.install("-e", ".")
    session.run("dearstats", "demo", *session.posargs, env=ENV)


@nox.session(python=PY, default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks against baselines in the same run; results under reports/bench/."""
    session.install("-e", ".[spark]", *nox.project.dependency_groups(PYPROJECT, "bench"))
    session.run("python", "-m", "benchmarks", *session.posargs, env=ENV)


if os.environ.get("CI"):
    nox.options.error_on_missing_interpreters = True
