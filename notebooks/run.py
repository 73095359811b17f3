"""Execute the notebooks (what `nox -s notebooks` and CI run).

    python notebooks/run.py [NAME ...] [--timeout SECONDS] [--keep DIR]
    python notebooks/run.py --strip [NAME ...]

1. Checks that every committed notebook is stripped: no outputs, no execution counts
   (fails otherwise: strip them before committing with ``--strip``).
2. Executes each notebook top to bottom in a fresh ``python3`` kernel with nbclient, in a
   temporary working directory (files a notebook writes never land in the repository),
   with a per-cell timeout. The committed files are not modified.
3. Prints the run time of each notebook; exits 1 if any notebook fails, with the failing
   cell and its traceback.

``NAME`` selects notebooks by a prefix or substring of the file name (e.g. ``03``);
``--keep DIR`` also writes the executed copies (with outputs) to ``DIR`` for reading —
never commit those. ``--strip`` clears the outputs and execution counts of the
notebooks in place (before committing) and runs nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def stripped_problems(nb: object, path: Path) -> list[str]:
    problems = []
    for i, cell in enumerate(nb.cells):  # type: ignore[attr-defined]
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"{path.name}: cell {i} has outputs")
        if cell.get("execution_count") is not None:
            problems.append(f"{path.name}: cell {i} has an execution count")
    return problems


def main(argv: list[str] | None = None) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help="notebooks to run (default: all)")
    p.add_argument("--timeout", type=int, default=900, help="seconds per cell (900)")
    p.add_argument("--kernel", default="python3", help="kernel name (python3)")
    p.add_argument("--keep", type=Path, default=None, help="write executed copies here")
    p.add_argument("--strip", action="store_true", help="strip outputs in place and exit")
    args = p.parse_args(argv)

    paths = sorted(HERE.glob("*.ipynb"))
    if args.names:
        paths = [q for q in paths if any(n in q.name for n in args.names)]
    if not paths:
        print("notebooks: nothing to run", file=sys.stderr)
        return 1

    # the kernels import dearstats from this checkout even when it is not installed
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    )

    notebooks = {q: nbformat.read(q, as_version=4) for q in paths}
    if args.strip:
        for q, nb in notebooks.items():
            if stripped_problems(nb, q):
                for cell in nb.cells:
                    if cell.cell_type == "code":
                        cell.outputs, cell.execution_count = [], None
                nbformat.write(nb, q)
                print(f"notebooks: stripped {q.name}")
        return 0
    problems = [msg for q, nb in notebooks.items() for msg in stripped_problems(nb, q)]
    if problems:
        print("notebooks: committed notebooks must be stripped of outputs:", file=sys.stderr)
        for msg in problems:
            print(f"  {msg}", file=sys.stderr)
        return 1

    results: list[tuple[str, str, float]] = []
    for q, nb in notebooks.items():
        print(f"notebooks: running {q.name} …", flush=True)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="dearstats-nb-") as work:
            client = NotebookClient(
                nb,
                timeout=args.timeout,
                kernel_name=args.kernel,
                resources={"metadata": {"path": work}},
            )
            try:
                client.execute()
                status = "ok"
            except (CellExecutionError, CellTimeoutError) as err:
                status = "FAILED"
                print(f"notebooks: {q.name} failed:\n{err}", file=sys.stderr, flush=True)
        seconds = time.perf_counter() - started
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, args.keep / q.name)
        results.append((q.name, status, seconds))
        print(f"notebooks: {q.name} {status} in {seconds:.0f} s", flush=True)

    print("\nnotebook                                   status    seconds")
    for name, status, seconds in results:
        print(f"{name:<42} {status:<9} {seconds:>7.0f}")
    failed = [name for name, status, _ in results if status != "ok"]
    if failed:
        print(f"notebooks: {len(failed)} failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
