"""Reading files in chunks and writing answers atomically: CSV, Parquet, JSON lines.

A row's number counts from 1: the data row in CSV (the header is not one), the row in
Parquet, the line in JSON lines. Output goes to a hidden file beside the destination,
renamed over it only once everything is written, so an error or Ctrl-C never leaves
half a file.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from .core import Chunk, Reject, Scored, ScoringError

Format = Literal["csv", "parquet", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "parquet", "jsonl")
SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
#: The column holding an answer that is not a JSON object.
PREDICTION = "prediction"


def detect_format(path: Path, explicit: str | None) -> Format:
    if explicit is not None:
        return explicit  # type: ignore[return-value]  # argparse checked the choice
    found = SUFFIXES.get(path.suffix.lower())
    if found is None:
        known = ", ".join(sorted(SUFFIXES))
        raise ScoringError(
            f"{path}: cannot tell the format from the suffix {path.suffix or '(none)'} "
            f"(known: {known}); pass --format"
        )
    return found


def _pyarrow() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ScoringError(
            "Parquet needs pyarrow: install the service with its 'files' extra"
        ) from None
    return pq


# --- reading -------------------------------------------------------------------------


def _csv_chunks(path: Path, rows: int) -> Iterator[Chunk]:
    """Every cell as written: the schema parses the inputs (a stray "n/a" rejects its
    row, not its column), identifiers pass through ("007" stays "007")."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        width = len(header)
        start = 1
        while True:
            records: list[dict[str, Any]] = []
            broken: dict[int, str] = {}
            for cells in itertools.islice(reader, rows):
                if len(cells) != width:
                    if not cells:  # a blank line is no row, as for pandas
                        continue
                    broken[len(records)] = f"{len(cells)} cells, the header has {width}"
                    records.append({})
                else:
                    records.append(dict(zip(header, cells, strict=True)))
            if not records:
                return
            yield Chunk(start, records, broken, text=True)
            start += len(records)


def _parquet_chunks(path: Path, rows: int) -> Iterator[Chunk]:
    handle = _pyarrow().ParquetFile(path)
    start = 1
    with contextlib.closing(handle):
        for batch in handle.iter_batches(batch_size=rows):
            records = batch.to_pylist()
            yield Chunk(start, records)
            start += len(records)


def parse_lines(lines: Sequence[bytes | str], start: int) -> Chunk:
    """JSON lines into records; a line that is not a JSON object is a broken row."""
    records: list[dict[str, Any]] = []
    broken: dict[int, str] = {}
    for index, line in enumerate(lines):
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            record, broken[index] = {}, f"not JSON: {exc}"
        if not isinstance(record, dict):
            record, broken[index] = {}, "not a JSON object"
        records.append(record)
    return Chunk(start, records, broken)


def _jsonl_chunks(path: Path, rows: int) -> Iterator[Chunk]:
    start, lines = 1, []
    with path.open("rb") as handle:
        for line in handle:
            lines.append(line)
            if len(lines) == rows:
                yield parse_lines(lines, start)
                start, lines = start + len(lines), []
    if lines:
        yield parse_lines(lines, start)


def read_chunks(path: Path, fmt: Format, rows: int) -> Iterator[Chunk]:
    try:
        if fmt == "csv":
            yield from _csv_chunks(path, rows)
        elif fmt == "parquet":
            yield from _parquet_chunks(path, rows)
        else:
            yield from _jsonl_chunks(path, rows)
    except (OSError, ValueError) as exc:  # pandas' and pyarrow's parse errors included
        raise ScoringError(f"{path}: cannot read it as {fmt}: {exc}") from None


def read_columns(path: Path, fmt: Format) -> list[str]:
    """The file's columns (a JSON lines file: its first line's keys)."""
    try:
        if fmt == "csv":
            with path.open(newline="", encoding="utf-8-sig") as handle:
                return next(csv.reader(handle), [])
        if fmt == "parquet":
            return list(_pyarrow().ParquetFile(path).schema_arrow.names)
        with path.open("rb") as handle:
            first = handle.readline()
        record = orjson.loads(first) if first.strip() else {}
    except (OSError, ValueError) as exc:
        raise ScoringError(f"{path}: cannot read it as {fmt}: {exc}") from None
    if not isinstance(record, dict):
        raise ScoringError(f"{path}: line 1 is not a JSON object")
    return list(record)


def count_rows(path: Path, fmt: Format) -> int | None:
    """The number of rows when the file says so cheaply (Parquet's metadata)."""
    if fmt == "parquet":
        return int(_pyarrow().ParquetFile(path).metadata.num_rows)
    return None


# --- writing -------------------------------------------------------------------------


def flatten(output: Any, prefix: str = "") -> dict[str, Any]:
    """An answer as one table row: nested objects as dotted columns."""
    if not isinstance(output, dict):
        return {prefix or PREDICTION: output}
    flat: dict[str, Any] = {}
    for key, value in output.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """A hidden temporary path beside ``path``, renamed onto it if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".part", dir=path.parent
    )
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class TableWriter:
    """Answers, with the kept columns first, in the output's format."""

    def __init__(self, path: Path, fmt: Format, keep: Sequence[str]) -> None:
        self.path, self.fmt, self.keep = path, fmt, list(keep)
        self.columns: list[str] | None = None
        self.rows = 0
        self._handle: IO[bytes] | None = None
        self._parquet: Any = None
        self._csv: Any = None
        self._text: io.TextIOWrapper | None = None
        self._schema: Any = None
        if fmt == "parquet":
            _pyarrow()

    def _table_rows(self, scored: Scored) -> list[dict[str, Any]]:
        rows = []
        for keep, output in zip(scored.keep, scored.outputs, strict=True):
            if isinstance(output, dict) and not any(
                isinstance(value, dict) for value in output.values()
            ):
                flat = output  # already a table row: the common case, no copy
            else:
                flat = flatten(output)
            if keep:
                clash = keep.keys() & flat.keys()
                if clash:
                    raise ScoringError(
                        f"--keep {', '.join(sorted(clash))}: the answers have a column "
                        "of that name"
                    )
                flat = {**keep, **flat}
            rows.append(flat)
        return rows

    def write(self, scored: Scored) -> None:
        if self._handle is None:
            self._handle = self.path.open("wb")
        self.rows += len(scored.outputs)
        if self.fmt == "jsonl":
            lines = [
                orjson.dumps(
                    {**keep, **(out if isinstance(out, dict) else {PREDICTION: out})},
                    default=str,
                )
                for keep, out in zip(scored.keep, scored.outputs, strict=True)
            ]
            self._handle.write(b"".join(line + b"\n" for line in lines))
            return
        rows = self._table_rows(scored)
        if not rows:
            return
        if self.columns is None:
            self.columns = list(dict.fromkeys(name for row in rows for name in row))
        new = [name for row in rows for name in row if name not in self.columns]
        if new:
            raise ScoringError(
                f"answers gained the column(s) {', '.join(dict.fromkeys(new))} after the "
                "first chunk: a table needs the same columns in every row"
            )
        if self.fmt == "csv":
            self._write_csv(rows)
        else:
            self._write_parquet(rows)

    def _write_csv(self, rows: list[dict[str, Any]]) -> None:
        assert self.columns is not None and self._handle is not None
        if self._csv is None:
            self._text = io.TextIOWrapper(self._handle, encoding="utf-8", newline="")
            self._csv = csv.writer(self._text, lineterminator="\n")
            self._csv.writerow(self.columns)
        columns = self.columns
        # None is an empty cell to the csv module; lists and objects become JSON.
        self._csv.writerows(
            [
                [
                    json.dumps(value) if isinstance(value, list | dict) else value
                    for value in map(row.get, columns)
                ]
                for row in rows
            ]
        )

    def _write_parquet(self, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        assert self.columns is not None and self._handle is not None
        table = pa.Table.from_pylist(
            [{n: row.get(n) for n in self.columns} for row in rows]
        )
        if self._parquet is None:
            self._schema = table.schema
            self._parquet = pq.ParquetWriter(self._handle, self._schema)
        elif table.schema != self._schema:
            try:
                table = table.cast(self._schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                raise ScoringError(
                    f"answers changed type after the first chunk: {exc}"
                ) from None
        self._parquet.write_table(table)

    def close(self) -> None:
        if self._text is not None:
            self._text.flush()
            self._text.detach()
        if self._parquet is not None:
            self._parquet.close()
        if self._handle is None:
            self._handle = self.path.open("wb")
            if self.fmt == "csv" and self.keep:  # no answers: the header we know
                self._handle.write((",".join(self.keep) + "\n").encode())
        self._handle.close()


class RejectsWriter:
    """Rejected rows as JSON lines: row number, kept columns and why."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._handle: IO[bytes] | None = None

    def write(self, rejects: Sequence[Reject]) -> None:
        if not rejects:
            return
        if self._handle is None:
            self._handle = self.path.open("wb")
        self.count += len(rejects)
        for reject in rejects:
            self._handle.write(orjson.dumps(reject.to_json(), default=str) + b"\n")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
