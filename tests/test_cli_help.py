"""The help text reads as written: brackets in it are text, not markup."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _help(*command: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "nb2svc", *command, "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "300", "TERM": "xterm-256color"},
    )
    return " ".join(result.stdout.split())  # unwrapped


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (("build",), "[default: build/<notebook>]"),
        (("build",), "pip install 'nb2svc[docker]'"),
        (("diff",), "[default: build/<notebook>]"),
    ],
)
def test_brackets_in_help_are_kept(command: tuple[str, ...], expected: str) -> None:
    assert expected in _help(*command)


def test_every_command_has_help() -> None:
    text = _help()
    for command in ("build", "verify", "diff", "check", "lint", "tag"):
        assert command in text
