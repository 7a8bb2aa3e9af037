"""What RawNotebook leaves out and lint needs: saved outputs and the kernel's language.

The reader keeps only what building needs; lint reads the file once more for the
outputs. It never raises: a file the reader accepted but whose outputs cannot be read
simply has none.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: Output MIME types read as text (HTML and images are left out: HTML repeats
#: text/plain for data frames, and images are not text).
_TEXT_TYPES = ("text/plain", "application/json", "text/markdown", "text/latex")


@dataclass(frozen=True)
class OutputText:
    """The readable text of one output of a cell."""

    number: int  # 1-based position among the cell's outputs
    text: str


@dataclass(frozen=True)
class CellOutputs:
    size: int  # bytes of the outputs as stored (JSON)
    texts: tuple[OutputText, ...] = ()


@dataclass(frozen=True)
class NotebookExtras:
    language: str | None = None  # the kernel's language, lower case, if recorded
    outputs: dict[int, CellOutputs] = field(default_factory=dict)  # by cell index


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return ""


def _output_text(output: dict[str, Any]) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return _text(output.get("text", ""))
    if kind == "error":
        lines = output.get("traceback") or []
        traceback = "\n".join(str(x) for x in lines) if isinstance(lines, list) else ""
        evalue = f"{output.get('ename', '')}: {output.get('evalue', '')}"
        return _ANSI.sub("", f"{traceback}\n{evalue}")
    data = output.get("data")
    if not isinstance(data, dict):
        return ""
    return "\n".join(_text(data[t]) for t in _TEXT_TYPES if t in data)


def read_extras(path: Path) -> NotebookExtras:
    """Outputs and language of an .ipynb file; empty for other formats or on trouble."""
    if path.suffix != ".ipynb":
        return NotebookExtras(language="python")
    try:
        import nbformat

        reads: Callable[..., Any] = nbformat.reads  # nbformat has no type hints
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = reads(path.read_text(encoding="utf-8"), as_version=4)
    except Exception:  # the reader has already said what is wrong with the file
        return NotebookExtras()
    metadata = nb.get("metadata") or {}
    language = None
    for key in ("kernelspec", "language_info"):
        value = metadata.get(key)
        if isinstance(value, dict):
            found = value.get("language") or (
                value.get("name") if key == "language_info" else None
            )
            if isinstance(found, str) and found:
                language = found.lower()
                break
    outputs: dict[int, CellOutputs] = {}
    for index, cell in enumerate(nb.get("cells") or []):
        items = cell.get("outputs") if isinstance(cell, dict) else None
        if not isinstance(items, list) or not items:
            continue
        try:
            size = len(json.dumps(items, ensure_ascii=False).encode("utf-8"))
        except (TypeError, ValueError):
            size = 0
        texts = tuple(
            OutputText(number, text)
            for number, item in enumerate(items, start=1)
            if isinstance(item, dict) and (text := _output_text(item))
        )
        outputs[index] = CellOutputs(size, texts)
    return NotebookExtras(language, outputs)
