"""``--data FILE``: the rows both models score, one model input each.

* ``.csv``: a header and one row per input; each cell is read as JSON when it is a
  JSON number, ``true``/``false`` (or ``True``/``False``) or ``null``, else as text;
  an empty cell is null.
* ``.json``: an array of inputs.
* ``.jsonl`` / ``.ndjson``: one input per line (blank lines skipped).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from nb2svc.errors import Diagnostic, InputError, Location, Severity

_WORDS = {"true": True, "false": False, "True": True, "False": False, "null": None}


def _error(path: Path, message: str, line: int | None = None) -> InputError:
    return InputError(
        [
            Diagnostic(
                Severity.ERROR,
                Location(str(path), line=line),
                message,
                "give a .csv with a header, a .json array or a .jsonl file",
                "NB901",
            )
        ]
    )


def _cell(text: str) -> Any:
    if text == "":
        return None
    if text in _WORDS:
        return _WORDS[text]
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, int | float) else text


def read_rows(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise _error(path, f"cannot read the data file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise _error(path, "the data file is not UTF-8 text") from None
    suffix = path.suffix.lower()
    rows: list[Any]
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames:
            raise _error(path, "the CSV file has no header row", 1)
        rows = []
        for record in reader:
            if None in record:
                raise _error(
                    path, "the row has more cells than the header", reader.line_num
                )
            rows.append({k: _cell(v or "") for k, v in record.items()})
    elif suffix == ".json":
        try:
            rows = json.loads(text)
        except ValueError as exc:
            raise _error(path, f"not JSON: {exc}") from None
        if not isinstance(rows, list):
            raise _error(path, "the JSON file must hold an array of inputs")
    elif suffix in {".jsonl", ".ndjson"}:
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError as exc:
                    raise _error(path, f"not JSON: {exc}", number) from None
    else:
        raise _error(path, f"unknown data file type {suffix or '(none)'!r}")
    if not rows:
        raise _error(path, "the data file has no rows")
    return rows
