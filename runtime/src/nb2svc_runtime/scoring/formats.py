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
import operator
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


#: Bytes pyarrow's CSV reader parses at a time (a block holds about 20,000 rows of a
#: typical transactions file); memory holds a block and a chunk, whatever the file.
ARROW_BLOCK_BYTES = 1 << 20


def _csv_chunks(path: Path, rows: int) -> Iterator[Chunk]:
    """Every cell as written: the schema parses the inputs (a stray "n/a" rejects its
    row, not its column), identifiers pass through ("007" stays "007").

    pyarrow's CSV reader (the 'files' extra) reads the file into columns where it
    reads it exactly as Python's csv module does. From the first block it refuses (a
    row of the wrong width, an unclosed quote, bytes that are not UTF-8) the csv module
    reads on, from the first row of the block pyarrow refused, and finds each bad row;
    past that block, pyarrow takes over again from the next row's byte offset. So a
    bad row costs its block, not the rest of the file.
    """
    arrow = _arrow_csv(_csv_header(path))
    if arrow is None:
        yield from _python_csv_chunks(path, rows)
        return
    import pyarrow as pa

    start, offset = (
        1,
        None,
    )  # the next row, and where it begins (None: after the header)
    while True:
        given = 0
        try:
            for chunk in _arrow_csv_chunks(path, arrow, rows, start, offset):
                yield chunk
                given += len(chunk)
            return
        except pa.ArrowException:
            pass  # the csv module reads on, and says what is wrong
        stretch = _CsvStretch(path, arrow["header"], offset)
        yield from stretch.chunks(rows, start + given, skip=given)
        if stretch.resume is None:
            return
        start, offset = stretch.resume


def _csv_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle), [])


def _arrow_csv(header: list[str]) -> dict[str, Any] | None:
    """pyarrow's reader options for a file with this header: every cell a string, as
    written (an empty cell is "", not null); None without pyarrow, or for a header
    pyarrow would not name the same (none, or a name twice)."""
    if not header or len(set(header)) != len(header):
        return None
    try:
        import pyarrow as pa
        import pyarrow.csv as pa_csv
    except ImportError:
        return None
    return {
        "read_options": pa_csv.ReadOptions(block_size=ARROW_BLOCK_BYTES),
        "parse_options": pa_csv.ParseOptions(newlines_in_values=True),
        "convert_options": pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            strings_can_be_null=False,
        ),
        "header": header,
    }


def _arrow_csv_chunks(
    path: Path,
    options: dict[str, Any],
    rows: int,
    start: int = 1,
    offset: int | None = None,
) -> Iterator[Chunk]:
    """Chunks of ``rows`` rows, each a column of Python strings per file column, the
    first numbered ``start``: from the file's first row, or from the row that begins
    at byte ``offset`` (the header then given, not read)."""
    import pyarrow.csv as pa_csv

    header = options["header"]
    read_options = options["read_options"]
    with contextlib.ExitStack() as stack:
        handle = stack.enter_context(path.open("rb"))
        if offset is not None:
            handle.seek(offset)
            read_options = pa_csv.ReadOptions(
                block_size=read_options.block_size, column_names=header
            )
        reader = stack.enter_context(
            pa_csv.open_csv(
                _NoBlockEndsInCR(handle),
                read_options=read_options,
                parse_options=options["parse_options"],
                convert_options=options["convert_options"],
            )
        )
        yield from _arrow_batches_in_chunks(reader, header, rows, start)


class _NoBlockEndsInCR(io.RawIOBase):
    """The file as pyarrow reads it, a block at a time, but no block ends in ``\\r``
    (it waits for the next): pyarrow (25) drops the ``\\n`` that starts a block after
    one that ends in ``\\r``, which inside a quoted value changes the value."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self._held = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._held + self._handle.read(size)
        self._held = b""
        while data.endswith(b"\r"):
            more = self._handle.read(max(size, 1))
            if not more:  # the end of the file
                return data
            if len(data) > 1:
                self._held = data[-1:] + more
                return data[:-1]
            data += more
        return data


def _arrow_batches_in_chunks(
    reader: Any, header: list[str], rows: int, start: int
) -> Iterator[Chunk]:
    """The reader's batches as chunks of ``rows`` rows, the first numbered ``start``."""
    import pyarrow as pa

    if reader.schema.names != header:  # a header the csv module reads otherwise
        raise pa.ArrowInvalid("header differs from the csv module's")
    pending, buffered, refused = [], 0, None
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            batch = None
        except pa.ArrowException as exc:  # the block's rows go to the csv module,
            batch, refused = None, exc  # the blocks' before it first
        if batch is not None:
            pending.append(batch)
            buffered += batch.num_rows
        while buffered >= rows or (batch is None and buffered):
            table = pa.Table.from_batches(pending, schema=reader.schema)
            head, rest = table.slice(0, rows), table.slice(rows)
            columns = {
                name: head.column(i).to_pylist() for i, name in enumerate(header)
            }
            yield Chunk(start, columns=columns, text=True)
            start += head.num_rows
            pending, buffered = rest.to_batches(), rest.num_rows
        if refused is not None:
            raise refused
        if batch is None:
            return


#: Rows in a chunk the csv module reads in a stretch pyarrow refused (the stretch ends
#: at a chunk's end, so a small chunk ends it soon after the refused block).
STRETCH_ROWS = 1024


class _CsvStretch:
    """The csv module's reading of the stretch of a CSV that pyarrow refused, with the
    byte offset of every row it ends, so that pyarrow can take over after it.

    Lines are cut as a file opened with ``newline=""`` cuts them (at ``\\n``, ``\\r\\n``
    and ``\\r``, kept in the line) and decoded one by one (UTF-8 never holds those bytes
    inside a character), so the csv module reads the same rows as from the file (a
    ``\\r`` at a block's end waits for the next block: ``\\r\\n`` is one line, and
    inside quotes the csv module reads it otherwise as two).
    """

    def __init__(self, path: Path, header: list[str], offset: int | None) -> None:
        self.path = path
        self.header = header
        self.offset = offset
        #: (the next row's number, its byte offset) where pyarrow may take over;
        #: None at the end of the file
        self.resume: tuple[int, int] | None = None
        # The block being read: where it begins, its lines, and the iterator over
        # their numbers that hands them out (what it has left says where it is).
        self._begins = 0
        self._lines: list[bytes] = []
        self._left: Iterator[int] = iter(())

    @property
    def position(self) -> int:
        """The byte offset after the last line handed to the csv module."""
        handed = len(self._lines) - operator.length_hint(self._left)
        return self._begins + sum(map(len, self._lines[:handed]))

    def _blocks(self, handle: IO[bytes]) -> Iterator[Iterator[str]]:
        """Each block's lines, decoded; line by line, the work is all in C."""
        carry = b""
        while True:
            block = handle.read(ARROW_BLOCK_BYTES)
            data = carry + block
            if not data:
                return
            lines = data.splitlines(keepends=True)
            carry = b""
            if block and (lines[-1][-1:] != b"\n"):
                carry = lines.pop()  # cut short, or a "\r" whose "\n" may follow
            self._begins += sum(map(len, self._lines))
            self._lines = lines
            self._left = iter(range(len(lines)))
            decoded = list(map(bytes.decode, lines))  # UTF-8
            yield map(decoded.__getitem__, self._left)

    def chunks(self, rows: int, start: int, skip: int) -> Iterator[Chunk]:
        """Chunks from row ``start``, ``skip`` rows after the stretch's first (those
        pyarrow gave: every row of the blocks before the one it refused), until a
        block's bytes past them (the refused block), or the end."""
        width = len(self.header)
        with self.path.open("rb") as handle:
            if self.offset is None:  # the file's start: its BOM and header
                self._begins = 3 if handle.read(3) == b"\xef\xbb\xbf" else 0
            else:
                self._begins = self.offset
            handle.seek(self._begins)
            lines = itertools.chain.from_iterable(self._blocks(handle))
            reader = csv.reader(lines)
            if self.offset is None:
                next(reader, None)
            while skip:
                cells = next(reader, None)
                if cells is None:
                    return
                skip -= bool(cells)  # a blank line is no row
            enough = self.position + ARROW_BLOCK_BYTES  # pyarrow takes over past it
            size = min(rows, STRETCH_ROWS)
            while True:
                chunk = _csv_module_chunk(reader, self.header, width, size, start)
                if chunk is None:
                    return
                if chunk.records:
                    yield chunk
                    start += len(chunk.records)
                if self.position >= enough:
                    self.resume = (start, self.position)
                    return


def _csv_module_chunk(
    reader: Iterator[list[str]], header: list[str], width: int, rows: int, start: int
) -> Chunk | None:
    """The next ``rows`` lines' rows (a blank line is no row, a row of the wrong
    width is broken); None at the end of the file."""
    records: list[dict[str, Any]] = []
    broken: dict[int, str] = {}
    lines = list(itertools.islice(reader, rows))
    if not lines:
        return None
    for cells in lines:
        if len(cells) != width:
            if not cells:  # a blank line is no row, as for pandas
                continue
            broken[len(records)] = f"{len(cells)} cells, the header has {width}"
            records.append({})
        else:
            records.append(dict(zip(header, cells, strict=True)))
    return Chunk(start, records, broken, text=True)


def _python_csv_chunks(path: Path, rows: int) -> Iterator[Chunk]:
    """The csv module's reading of the whole file (without pyarrow, and the
    reference pyarrow's reading is tested against)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        start = 1
        while True:
            chunk = _csv_module_chunk(reader, header, len(header), rows, start)
            if chunk is None:
                return
            if chunk.records:  # only blank lines: read on
                yield chunk
                start += len(chunk.records)


def _parquet_chunks(path: Path, rows: int) -> Iterator[Chunk]:
    handle = _pyarrow().ParquetFile(path)
    start = 1
    with contextlib.closing(handle):
        for batch in handle.iter_batches(batch_size=rows):
            if len(set(batch.schema.names)) != batch.num_columns:  # a name twice
                chunk = Chunk(start, batch.to_pylist())
            else:  # by column: records only if a row must be looked at alone
                chunk = Chunk(start, columns=batch.to_pydict())
            yield chunk
            start += len(chunk)


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
            return _csv_header(path)
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


def answer_columns(outputs: Sequence[Any]) -> dict[str, list[Any]]:
    """The answers as table columns, in the order their names first appear: an object's
    keys (nested objects as dotted columns), or one ``prediction`` column; a row
    without a column has None there."""
    fast = _flat_columns(outputs)
    if fast is not None:
        return fast
    rows = [flatten(output) for output in outputs]
    names = dict.fromkeys(name for row in rows for name in row)
    return {name: [row.get(name) for row in rows] for name in names}


def _flat_columns(outputs: Sequence[Any]) -> dict[str, list[Any]] | None:
    """The common case without per-row work: every answer an object with the same
    keys, none of whose values is a non-empty object (which would be flattened)."""
    if not outputs or set(map(type, outputs)) != {dict}:
        return None
    first = outputs[0]
    if set(map(len, outputs)) != {len(first)}:
        return None
    try:  # the same number of keys, and every one of the first's: the same keys
        columns = {name: [output[name] for output in outputs] for name in first}
    except KeyError:
        return None
    for values in columns.values():
        if any(issubclass(kind, dict) for kind in set(map(type, values))) and any(
            isinstance(value, dict) and value for value in values
        ):
            return None
    return columns


def _cells(values: list[Any]) -> list[Any]:
    """A column's CSV cells: None is an empty cell to the csv module, lists and
    objects become JSON; other values as they are (the csv module writes str())."""
    if any(issubclass(kind, list | dict) for kind in set(map(type, values))):
        return [json.dumps(v) if isinstance(v, list | dict) else v for v in values]
    return values


class TableWriter:
    """Answers, with the kept columns first, in the output's format: column by column,
    never a dict per row."""

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

    def _table(self, scored: Scored) -> list[list[Any]]:
        """The chunk's columns, in the output's column order."""
        answers = answer_columns(scored.outputs)
        clash = [name for name in self.keep if name in answers]
        if clash:
            raise ScoringError(
                f"--keep {', '.join(sorted(clash))}: the answers have a column "
                "of that name"
            )
        if self.columns is None:
            self.columns = [*self.keep, *answers]
        new = [name for name in answers if name not in self.columns]
        if new:
            raise ScoringError(
                f"answers gained the column(s) {', '.join(new)} after the "
                "first chunk: a table needs the same columns in every row"
            )
        size = len(scored.outputs)
        columns = {**scored.keep, **answers}
        return [columns.get(name, [None] * size) for name in self.columns]

    def write(self, scored: Scored) -> None:
        if self._handle is None:
            self._handle = self.path.open("wb")
        self.rows += len(scored.outputs)
        if self.fmt == "jsonl":
            lines = [
                orjson.dumps(
                    {
                        **scored.kept(index),
                        **(out if isinstance(out, dict) else {PREDICTION: out}),
                    },
                    default=str,
                )
                for index, out in enumerate(scored.outputs)
            ]
            self._handle.write(b"".join(line + b"\n" for line in lines))
            return
        if not scored.outputs:
            return
        table = self._table(scored)
        if self.fmt == "csv":
            self._write_csv(table)
        else:
            self._write_parquet(table)

    def _write_csv(self, table: list[list[Any]]) -> None:
        assert self.columns is not None and self._handle is not None
        if self._csv is None:
            self._text = io.TextIOWrapper(self._handle, encoding="utf-8", newline="")
            self._csv = csv.writer(self._text, lineterminator="\n")
            self._csv.writerow(self.columns)
        self._csv.writerows(zip(*map(_cells, table), strict=True))

    def _write_parquet(self, table: list[list[Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        assert self.columns is not None and self._handle is not None
        arrow = pa.Table.from_arrays(table, names=self.columns)
        if self._parquet is None:
            self._schema = arrow.schema
            self._parquet = pq.ParquetWriter(self._handle, self._schema)
        elif arrow.schema != self._schema:
            try:
                arrow = arrow.cast(self._schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                raise ScoringError(
                    f"answers changed type after the first chunk: {exc}"
                ) from None
        self._parquet.write_table(arrow)

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
