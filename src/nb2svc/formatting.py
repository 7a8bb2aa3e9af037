"""Format the generated Python files: ruff (imports, unused imports, upgrades), then black."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import black
from black.mode import TargetVersion

from nb2svc.errors import Diagnostic, Location, Severity

_MODE = black.Mode(target_versions={TargetVersion.PY311}, line_length=88)
_RUFF_FIX = ["I", "F401", "UP"]


def _ruff(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def format_tree(
    files: dict[str, bytes], first_party: str
) -> tuple[dict[str, bytes], list[Diagnostic]]:
    """Return the tree with every .py file fixed by ruff and formatted by black."""
    python = sorted(p for p in files if p.endswith(".py"))
    if not python:
        return files, []
    out = dict(files)
    problems: list[Diagnostic] = []
    with tempfile.TemporaryDirectory(prefix="nb2svc-format-") as tmp:
        root = Path(tmp)
        for rel in python:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(files[rel])
        config = [
            "--isolated",
            "--target-version",
            "py311",
            "--line-length",
            "88",
            "--config",
            f"lint.isort.known-first-party = [{first_party!r}]",
        ]
        _ruff(
            "check",
            *config,
            "--fix",
            "--select",
            ",".join(_RUFF_FIX),
            "--quiet",
            "--exit-zero",
            ".",
            cwd=root,
        )
        for rel in python:
            source = (root / rel).read_text(encoding="utf-8")
            try:
                formatted = black.format_str(source, mode=_MODE)
            except Exception as exc:  # black.InvalidInput and friends
                problems.append(
                    Diagnostic(
                        Severity.ERROR,
                        Location(rel),
                        f"generated code does not parse: {exc}",
                        "please report this as an nb2svc bug",
                        "NB801",
                    )
                )
                formatted = source
            out[rel] = formatted.encode("utf-8")
    return out, problems


def format_code(source: str, first_party: str, name: str = "module.py") -> str:
    formatted, _ = format_tree({name: source.encode()}, first_party)
    return formatted[name].decode()
