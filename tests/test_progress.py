"""Progress while the notebook runs (issue 13, item 7): the core reports each cell as
it starts through a callback and prints nothing; the console shows "cell n/N" and the
cell's first line, live on a terminal and as plain log lines elsewhere."""

from __future__ import annotations

import io
import os
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from nb2svc import api
from nb2svc.console import NotebookProgress
from nb2svc.errors import ExitCode
from nb2svc.model import CellStarted, ProgressEvent
from tests.helpers import make_notebook, run_cli

#: The example needs an unmarked cell, so the whole notebook runs (4 cells).
CELLS = [
    ("code", "# nb2svc: imports\nimport math"),
    # slow enough for a terminal's live line (refreshed 10 times a second) to show it
    ("code", "\n# the data\nimport time\n\ntime.sleep(0.5)\nrows = [{'a': 1.5}]"),
    (
        "code",
        '# nb2svc: predict\ndef predict(x: dict) -> dict:\n    return {"y": x["a"] * 2}',
    ),
    ("code", "# nb2svc: example\nexamples = rows"),
]
FIRST_LINES = ["import math", "# the data", "def predict(x: dict) -> dict:"]
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def cells_of(events: list[ProgressEvent]) -> list[tuple[int, int, int | None, str]]:
    return [
        (e.number, e.total, e.cell, e.first_line)
        for e in events
        if isinstance(e, CellStarted)
    ]


def test_build_reports_each_cell_and_prints_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = make_notebook(tmp_path, CELLS)
    events: list[ProgressEvent] = []
    result = api.build(api.BuildOptions(path, tmp_path / "out"), events.append)
    assert result.executed
    assert cells_of(events) == [
        (1, 4, 0, "import math"),
        (2, 4, 1, "# the data"),
        (3, 4, 2, "def predict(x: dict) -> dict:"),
        (4, 4, 3, "examples = rows"),
        (4, 4, None, "capturing the examples' outputs"),
    ]
    assert "running 4 cells of nb.ipynb in a fresh kernel" in events
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


def test_plain_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=False, width=200)
    long_line = "x = " + "1 + " * 40 + "1"
    with NotebookProgress("building service from nb.ipynb", console) as progress:
        progress("running 2 cells of nb.ipynb in a fresh kernel")
        progress(CellStarted(1, 2, 0, "import math"))
        progress(CellStarted(2, 2, 4, long_line))
        progress(CellStarted(2, 2, None, "capturing the examples' outputs"))
    lines = stream.getvalue().splitlines()
    assert lines == [
        "nb2svc: building service from nb.ipynb",
        "nb2svc: running 2 cells of nb.ipynb in a fresh kernel",
        "nb2svc: cell 1/2 (notebook cell 1): import math",
        f"nb2svc: cell 2/2 (notebook cell 5): {long_line[:79]}…",
        "nb2svc: capturing the examples' outputs",
    ]
    # Nothing happened (a rebuild from the cache, say): nothing is printed.
    quiet = io.StringIO()
    with NotebookProgress("building service from nb.ipynb", Console(file=quiet)):
        pass
    assert quiet.getvalue() == ""


def test_build_command_logs_the_cells_when_not_a_terminal(tmp_path: Path) -> None:
    path = make_notebook(tmp_path, CELLS)
    code, output = run_cli("build", path, "--out", tmp_path / "out")
    assert code == ExitCode.OK, output
    logged = [line for line in output.splitlines() if line.startswith("nb2svc: cell")]
    assert logged == [
        f"nb2svc: cell {n}/4 (notebook cell {n}): {line}"
        for n, line in enumerate([*FIRST_LINES, "examples = rows"], start=1)
    ]


def _run_on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``python -m nb2svc ARGS`` with a real pseudo-terminal as its output."""
    master, slave = os.openpty()
    env = {**os.environ, "COLUMNS": "120", "LINES": "20", "TERM": "xterm-256color"}
    env.pop("CI", None)
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nb2svc", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        cwd=cwd,
        env=env,
    )
    os.close(slave)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 120)
            if not ready:
                proc.kill()
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        code = proc.wait(timeout=60)
    return code, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.slow
def test_build_command_shows_live_progress_on_a_terminal(tmp_path: Path) -> None:
    path = make_notebook(tmp_path, CELLS)
    code, screen = _run_on_a_terminal(
        ["build", str(path), "--out", str(tmp_path / "out")], tmp_path
    )
    assert code == ExitCode.OK, screen
    text = _ANSI.sub("", screen)
    # The live line showed the cells (rewritten in place, with \r), not log lines.
    assert "cell 2/4 (notebook cell 2): # the data" in text
    assert "\x1b[" in screen and "nb2svc: cell" not in text
    assert text.rstrip().splitlines()[-1].strip().startswith("built nb in")


@pytest.mark.slow
def test_verify_reports_each_cell_of_its_notebook_run(tmp_path: Path) -> None:
    path = make_notebook(tmp_path, CELLS)
    events: list[ProgressEvent] = []
    report = api.verify(api.VerifyOptions(path, tmp_path / "out"), events.append)
    assert report.exit_code == ExitCode.OK
    cells = cells_of(events)
    # the build's capture, then verify's own run of the whole notebook
    run = [(1, 4, 0, "import math"), (2, 4, 1, "# the data")]
    assert cells[:2] == run and cells[5:7] == run
    assert cells[-1] == (4, 4, None, "calling the pipeline on the examples")
    assert any(
        isinstance(e, str) and e.startswith("starting the service") for e in events
    )


def test_progress_never_shows_a_secret(tmp_path: Path) -> None:
    key = "sk-proj-4f9XkL2mQ8vR1tY7uW3zA6bC0dE5gH9jK2nP4sT"  # fake, well-formed
    path = make_notebook(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport math"),
            ("code", f'TOKEN = "{key}"\nrows = [{{"a": 1.5}}]'),
            *CELLS[2:],
        ],
    )
    code, output = run_cli("build", path, "--out", tmp_path / "out")
    assert code == ExitCode.OK, output
    assert key not in output
    assert 'nb2svc: cell 2/4 (notebook cell 2): TOKEN = "sk-p******** (47 chars)"' in (
        output.splitlines()
    )
