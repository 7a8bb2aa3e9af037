"""Ctrl-C and SIGTERM during build and verify: exit 130, one line that says truthfully
what was written, and the kernel and the service stopped.

Real signals to a real `nb2svc` process, a real kernel and a real service.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from nb2svc import interrupts
from nb2svc.writer import write_tree
from tests.helpers import make_notebook, strip_ansi

pytestmark = pytest.mark.slow

#: The notebook's second run sleeps (the build's capture is its first): a build
#: --verify is interrupted while verifying, after the build has written its files.
SLOW_ON = {
    "first": "True",
    "second": "__import__('os').path.exists('ran_once')",
}


def _notebook(tmp_path: Path, slow_on: str) -> Path:
    return make_notebook(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport os\nimport time"),
            (
                "code",
                "# nb2svc: predict\ndef predict(x):\n    return [v * 2 for v in x]",
            ),
            (
                "code",
                f"slow = {SLOW_ON[slow_on]}\n"
                "open('ran_once', 'w').close()\n"
                "if slow:\n"
                "    open('sleeping', 'w').close()\n"
                "    time.sleep(120)\n"
                "data = [1.0, 2.0]",
            ),
            ("code", "# nb2svc: example\nexample = data"),
        ],
        name="sleepy.ipynb",
    )


def _start(*args: str | Path, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "nb2svc", *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def _processes(match: Callable[[int, str, Path | None], bool]) -> list[int]:
    """PIDs of live processes for which match(pid, cmdline, cwd) holds."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd: Path | None = (entry / "cwd").resolve()
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and match(int(entry.name), cmdline, cwd):
            found.append(int(entry.name))
    return found


def _kernels_in(folder: Path) -> list[int]:
    real = folder.resolve()
    return _processes(lambda _pid, cmd, cwd: "ipykernel" in cmd and cwd == real)


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("nb2svc did not exit after the signal")
    return proc.returncode, strip_ansi(err)


def _error_lines(stderr: str) -> list[str]:
    """What nb2svc printed, less rich's spinner frames (a status line redrawn)."""
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"]
)
def test_signal_while_the_build_runs_the_notebook(
    tmp_path: Path, signum: signal.Signals
) -> None:
    nb = _notebook(tmp_path, "first")
    out = tmp_path / "out"
    proc = _start("build", nb, "--out", out, cwd=tmp_path)
    _wait_for(lambda: (tmp_path / "sleeping").exists(), "the slow cell")
    assert _kernels_in(tmp_path), "no kernel running the notebook was found"
    proc.send_signal(signum)
    code, err = _finish(proc)

    assert code == 130, err
    assert "Traceback" not in err
    assert _error_lines(err)[-1] == (
        f"error: interrupted ({signum.name}); nothing was written"
    ), err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
    _wait_for(lambda: not _kernels_in(tmp_path), "the kernel to stop", 15)


def test_interrupt_while_verifying_says_the_build_was_written(tmp_path: Path) -> None:
    nb = _notebook(tmp_path, "second")
    out = tmp_path / "out"
    proc = _start("build", nb, "--out", out, "--verify", cwd=tmp_path)
    _wait_for(lambda: (tmp_path / "sleeping").exists(), "verify's run of the notebook")
    proc.send_signal(signal.SIGINT)
    code, err = _finish(proc)

    assert code == 130, err
    assert "Traceback" not in err
    assert "nothing was written" not in err.replace(
        "nothing after it was written", ""
    ), err
    last = _error_lines(err)[-1]
    assert last.startswith("error: interrupted (SIGINT); written completely before it:")
    assert str(out) in last
    assert (out / "nb2svc.json").is_file()
    _wait_for(lambda: not _kernels_in(tmp_path), "the kernel to stop", 15)


def test_interrupt_while_the_service_starts_stops_it(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport time"),
            # Loading takes a while in the service (and once in the notebook).
            ("code", "# nb2svc: load\ntime.sleep(4)\nfactor = 2"),
            (
                "code",
                "# nb2svc: predict\ndef predict(x):\n    return [v * factor for v in x]",
            ),
            ("code", "# nb2svc: example\nexample = [1.0, 2.0]"),
        ],
        name="slow_loader.ipynb",
    )
    out = tmp_path / "out"
    proc = _start("build", nb, "--out", out, cwd=tmp_path)
    assert _finish(proc)[0] == 0

    def services() -> list[int]:
        return _processes(lambda _p, cmd, _c: "slow_loader serve" in cmd)

    proc = _start("verify", nb, "--out", out, cwd=tmp_path)
    _wait_for(lambda: bool(services()), "the service to start")
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    code, err = _finish(proc)

    assert code == 130, err
    assert "Traceback" not in err
    assert _error_lines(err)[-1] == "error: interrupted (SIGINT); nothing was written"
    _wait_for(lambda: not services(), "the service to stop", 15)
    _wait_for(lambda: not _kernels_in(tmp_path), "the kernel to stop", 15)


def test_a_write_in_progress_finishes_before_the_interrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal that arrives while files move into place waits until they have."""
    import nb2svc.writer as writer

    out = tmp_path / "out"
    write_tree(out, {"a.txt": b"old a\n", "b.txt": b"old b\n", "nb2svc.json": b"{}\n"})
    real_replace = os.replace
    moves: list[str] = []

    def replace_then_signal(src: str | Path, dst: str | Path) -> None:
        real_replace(src, dst)
        moves.append(str(dst))
        if len(moves) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # between the first and second move

    monkeypatch.setattr(writer.os, "replace", replace_then_signal)
    with interrupts.handled():
        with pytest.raises(interrupts.Interrupted):
            write_tree(
                out,
                {"a.txt": b"new a\n", "b.txt": b"new b\n", "nb2svc.json": b"{}\n"},
                force=True,
            )
        assert interrupts.received() == "SIGINT"
        assert interrupts.summary("SIGINT") == (
            f"interrupted (SIGINT); written completely before it: {out}; "
            "nothing after it was written"
        )
    assert len(moves) > 2, "the signal did not arrive during the moves"
    assert (out / "a.txt").read_bytes() == b"new a\n"
    assert (out / "b.txt").read_bytes() == b"new b\n"
    assert interrupts.received() is None  # nothing left behind for the next command
