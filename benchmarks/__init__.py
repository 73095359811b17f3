"""Benchmarks of dearstats against what users would pick instead (issue 7).

Run them with ``nox -s bench`` or ``python -m benchmarks`` (see ``benchmarks/README.md``).
Each benchmark measures dearstats and its baselines in the same run, in fresh processes,
checks that they give equal results, and writes JSON plus a Markdown table under
``reports/bench/``. Tests run the ``smoke`` size only and never assert on time.
"""
