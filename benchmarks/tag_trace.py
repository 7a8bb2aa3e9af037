"""What `nb2svc tag`'s tracer costs, in one run: per notebook, the wall time of

- plain: the notebook's cells in a fresh kernel, no tracer (what `build` runs);
- traced: the same run under the tracer (trace.py), i.e. plain + the tracer's overhead;
- tag: `nb2svc tag` as users run it (traced run, proposal, the check that runs the
  tagged notebook the way build does);
- static: `nb2svc tag --static` (no kernel at all).

Usage: python benchmarks/tag_trace.py [NOTEBOOK ...] [--repeat N]
(default: the buildable notebooks of tests/notebooks/unmarked, copied to a scratch
folder first, since running them writes files next to them). Prints the median of
N runs (default 3) per column, and the tracer's overhead (traced - plain) in seconds
and as a share of plain.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from nb2svc.capture import execute_in_kernel, kernel_env
from nb2svc.notebook.reader import read_notebook
from nb2svc.tag import tag_notebook
from nb2svc.tag.trace import trace_notebook

ROOT = Path(__file__).resolve().parent.parent
UNMARKED = ROOT / "tests" / "notebooks" / "unmarked"
DEFAULT = (
    "churn_pipeline",
    "house_prices",
    "ticket_text",
    "sensor_out_of_order",
    "loan_magics",
)
TIMEOUT = 600


#: The kernel's own CPU seconds of the last plain / traced run: unlike wall time,
#: hardly moved by other processes on a busy machine.
KERNEL_CPU: dict[str, float] = {}


def _plain(path: Path) -> None:
    import nbformat

    nb, _ = read_notebook(path)
    new_cell: Callable[[str], object] = nbformat.v4.new_code_cell
    with tempfile.TemporaryDirectory(prefix="nb2svc-bench-") as tmp:
        out = Path(tmp) / "cpu.txt"
        cells = [new_cell("import time as _t\n_cpu0 = _t.process_time()")]
        cells += [new_cell(c.source) for c in nb.cells if c.cell_type == "code"]
        cells.append(
            new_cell(
                f"with open({str(out)!r}, 'w') as _f:\n"
                "    _f.write(str(_t.process_time() - _cpu0))"
            )
        )
        execute_in_kernel(cells, path.parent, TIMEOUT, kernel_env(), Path(tmp))
        KERNEL_CPU["plain"] = float(out.read_text())


def _traced(path: Path) -> None:
    nb, _ = read_notebook(path)
    KERNEL_CPU["traced"] = trace_notebook(nb, path.parent, TIMEOUT).kernel_cpu_seconds


def _tag(path: Path) -> None:
    result = tag_notebook(path, timeout=TIMEOUT)
    if not result.proposed:
        raise SystemExit(f"{path.name}: tag proposed nothing: {result.diagnostics}")


def _static(path: Path) -> None:
    tag_notebook(path, static=True)


COLUMNS: dict[str, Callable[[Path], None]] = {
    "plain": _plain,
    "traced": _traced,
    "tag": _tag,
    "static": _static,
}


def _median_seconds(
    column: str, path: Path, repeat: int, cpu: dict[str, list[float]]
) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        COLUMNS[column](path)
        times.append(time.perf_counter() - started)
        if column in KERNEL_CPU:
            cpu.setdefault(column, []).append(KERNEL_CPU.pop(column))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nb2svc-bench-nb-") as scratch:
        if args.notebooks:
            paths = [p.resolve() for p in args.notebooks]
        else:
            target = Path(scratch) / "unmarked"
            shutil.copytree(UNMARKED, target)
            paths = [target / f"{stem}.ipynb" for stem in DEFAULT]
        header = f"{'notebook':<22}" + "".join(f"{c:>8}" for c in COLUMNS)
        print(
            f"median of {args.repeat} runs, wall seconds; kernel CPU seconds of the "
            f"notebook's cells, plain and traced (python {sys.version.split()[0]})"
        )
        print(header + f"{'cpu plain':>11}{'cpu traced':>11}{'tracer overhead':>17}")
        for path in paths:
            cpu: dict[str, list[float]] = {}
            row = {c: _median_seconds(c, path, args.repeat, cpu) for c in COLUMNS}
            plain, traced = (statistics.median(cpu[c]) for c in ("plain", "traced"))
            share = (traced - plain) / plain if plain else 0.0
            print(
                f"{path.stem:<22}"
                + "".join(f"{row[c]:>8.2f}" for c in COLUMNS)
                + f"{plain:>11.2f}{traced:>11.2f}"
                + f"{traced - plain:>+10.2f} ({share:+.0%})"
            )


if __name__ == "__main__":
    main()
