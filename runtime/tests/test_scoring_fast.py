"""File scoring at the pipeline's speed (issue 15): what changed must not change a byte.

A CSV is read by pyarrow into columns, and the csv module reads on from the first
block pyarrow refuses; answers are written column by column; the command reports its
steady state (``--stats``) and no longer imports uvicorn. Each test compares the fast
way with the way it replaced (the csv module's rows, the per-row writer), or checks
the figures the benchmark relies on.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scoring_stub import write_stub

from nb2svc_runtime.scoring import cli, formats
from nb2svc_runtime.scoring.core import Chunk, Scored, ScoringError

_names = itertools.count()


def csv_text(header: list[str], body: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(body)
    return buffer.getvalue()


def chunks_of(path: Path, rows: int) -> list[tuple[int, list[dict[str, Any]], bool]]:
    """(first row, records, read by pyarrow) of each chunk the reader gives."""
    return [
        (chunk.start, chunk.records, chunk.columns is not None)
        for chunk in formats.read_chunks(path, "csv", rows)
    ]


def csv_module_chunks(
    path: Path, rows: int
) -> list[tuple[int, list[dict[str, Any]], dict[int, str]]]:
    return [
        (chunk.start, chunk.records, chunk.broken)
        for chunk in formats._python_csv_chunks(path, rows)
    ]


CELL = st.text(  # surrogates cannot be written as UTF-8; NUL is not text
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    width=st.integers(1, 4),
    cells=st.lists(CELL, max_size=60),
    rows=st.integers(1, 7),
    blank_every=st.integers(0, 5),
)
@example(width=2, cells=['a "quoted", cell', "line\nbreak", "", " 2.5 "], rows=1,
         blank_every=1)  # fmt: skip
def test_pyarrow_reads_a_csv_exactly_as_the_csv_module(
    tmp_path_factory: pytest.TempPathFactory,
    width: int,
    cells: list[str],
    rows: int,
    blank_every: int,
) -> None:
    header = [f"c{i}" for i in range(width)]
    body = [cells[i : i + width] for i in range(0, len(cells) - width + 1, width)]
    text = csv_text(header, body)
    if blank_every:  # blank lines are no rows, for either reader
        lines = text.split("\n")
        text = "\n".join(
            line + ("\n" if i % blank_every == 0 and i else "")
            for i, line in enumerate(lines)
        )
    path = tmp_path_factory.mktemp("csv") / "in.csv"
    path.write_bytes(text.encode())
    fast = chunks_of(path, rows)
    slow = csv_module_chunks(path, rows)
    records = [record for _, chunk, _ in fast for record in chunk]
    assert records == [record for _, chunk, _ in slow for record in chunk]
    # Chunks of at most `rows` rows, numbered from 1 without gaps.
    assert all(0 < len(chunk) <= rows for _, chunk, _ in fast)
    starts = [start for start, _, _ in fast]
    assert starts == [1 + sum(len(c) for _, c, _ in fast[:i]) for i in range(len(fast))]


def flat_rows(chunks: Any) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """Every record, and every broken row by its number: what scoring sees."""
    records: list[dict[str, Any]] = []
    broken: dict[int, str] = {}
    for chunk in chunks:
        records += chunk.records
        broken.update({chunk.start + i: why for i, why in chunk.broken.items()})
    return records, broken


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet='ab1 ,"\n\r', max_size=80), rows=st.integers(1, 4))
@example(text='1,"2\n3"\n4\n5,6,7\n"8', rows=2)  # a wrong width, an open quote
def test_any_text_is_read_as_the_csv_module_reads_it(
    tmp_path_factory: pytest.TempPathFactory, text: str, rows: int
) -> None:
    path = tmp_path_factory.mktemp("csv") / "in.csv"
    path.write_bytes(("a,b\n" + text).encode())
    assert flat_rows(formats.read_chunks(path, "csv", rows)) == flat_rows(
        formats._python_csv_chunks(path, rows)
    )


def test_a_plain_csv_is_read_by_pyarrow_in_chunks_of_the_rows_asked(
    tmp_path: Path,
) -> None:
    body = [[f"0{i:03d}", str(i / 4), 'say "hi", twice', ""] for i in range(25)]
    path = tmp_path / "in.csv"
    path.write_text("\ufeff" + csv_text(["id", "amount", "note", "empty"], body))
    fast = chunks_of(path, 10)
    assert [(start, len(chunk), arrow) for start, chunk, arrow in fast] == [
        (1, 10, True),
        (11, 10, True),
        (21, 5, True),
    ]
    assert fast[0][1][0] == {"id": "0000", "amount": "0.0", "note": 'say "hi", twice',
                             "empty": ""}  # fmt: skip


def test_pyarrow_takes_over_again_past_the_stretch_it_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(formats, "ARROW_BLOCK_BYTES", 64)  # many blocks in a small file
    body = [[f"id{i:03d}", str(i / 4), "x,y" if i % 5 == 0 else "z"] for i in range(90)]
    text = csv_text(["id", "amount", "note"], body)
    lines = text.splitlines(keepends=True)
    lines.insert(41, "oops,only two\n")  # row 41 has 2 cells: pyarrow stops there
    path = tmp_path / "in.csv"
    path.write_text("".join(lines))
    fast = [
        (chunk.start, chunk.records, chunk.broken, chunk.columns is not None)
        for chunk in formats.read_chunks(path, "csv", 8)
    ]
    # pyarrow up to the block holding row 41, the csv module over a stretch around
    # it (a chunk and two blocks past the last row pyarrow gave), pyarrow again after.
    by_arrow = [start for start, _, _, arrow in fast if arrow]
    by_module = [start for start, _, _, arrow in fast if not arrow]
    assert by_arrow[:4] == [1, 9, 17, 25] and by_module
    assert by_module[0] <= 41 < by_module[-1] + 8 <= min(s for s in by_arrow if s > 41)
    assert by_arrow[-1] > 80  # the end of the file read by pyarrow
    # The same rows, numbered alike, and the short row reported with its number.
    records = [r for _, chunk, _, _ in fast for r in chunk]
    slow = csv_module_chunks(path, 8)
    assert records == [r for _, chunk, _ in slow for r in chunk]
    broken = {start + i: why for start, _, gone, _ in fast for i, why in gone.items()}
    assert broken == {41: "2 cells, the header has 3"}
    starts = [start for start, *_ in fast]
    assert starts == [
        1 + sum(len(c) for _, c, _, _ in fast[:i]) for i in range(len(fast))
    ]


_ANY_LINE = st.lists(
    st.text(alphabet='ab1 ,"', max_size=8), min_size=1, max_size=4
).map(",".join)
_GOOD_LINE = st.tuples(
    st.text(alphabet="ab1 ", max_size=6), st.text(alphabet="ab1 ", max_size=6)
).map(",".join)
#: mostly rows of the header's width (pyarrow's to read), some of anything
LINE = st.one_of(_GOOD_LINE, _GOOD_LINE, _GOOD_LINE, _ANY_LINE)


@pytest.mark.parametrize("block", range(2, 40))
def test_a_line_end_inside_quotes_is_kept_where_a_block_ends(
    tmp_path: Path, block: int
) -> None:
    """pyarrow (25) drops the "\\n" that starts a block after one ending in "\\r": a
    value's "\\r\\n" then read as "\\r". No block pyarrow reads ends in "\\r"."""
    text = 'a,b\r\nx,"q\r\nr"\r\nc,d\r\n"\r\n\n",e\r\nf,"g\r\n'
    path = tmp_path / "in.csv"
    path.write_bytes(text.encode())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(formats, "ARROW_BLOCK_BYTES", block)
        fast = list(formats.read_chunks(path, "csv", 100))
    assert flat_rows(fast)[0] == [
        {"a": "x", "b": "q\r\nr"},
        {"a": "c", "b": "d"},
        {"a": "\r\n\n", "b": "e"},
        {"a": "f", "b": "g\r\n"},
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(LINE, max_size=40),
    ends=st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=1),
    bom=st.booleans(),
    block=st.integers(4, 48),
    rows=st.integers(1, 5),
)
@example(lines=["1,2", "x", "3,4", '"5', '6",7'] * 4, ends=["\r\n", "\r"], bom=True,
         block=5, rows=2)  # fmt: skip
def test_bad_rows_anywhere_are_read_as_the_csv_module_reads_them(
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[str],
    ends: list[str],
    bom: bool,
    block: int,
    rows: int,
) -> None:
    """Wrong widths, quotes open over lines, blank lines, every kind of line end and
    blocks of a few bytes: pyarrow gives up and takes over again many times in one
    file, and scoring sees every row and every bad row's number as from the csv
    module alone."""
    text = "a,b\r\n" + "".join(
        line + ends[i % len(ends)] for i, line in enumerate(lines)
    )
    path = tmp_path_factory.mktemp("csv") / "in.csv"
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(formats, "ARROW_BLOCK_BYTES", block)
        fast = list(formats.read_chunks(path, "csv", rows))
    assert flat_rows(fast) == flat_rows(formats._python_csv_chunks(path, rows))
    assert all(0 < len(chunk) <= rows for chunk in fast)
    starts = [chunk.start for chunk in fast]
    assert starts == [1 + sum(len(c) for c in fast[:i]) for i in range(len(fast))]


def test_a_chunk_of_blank_lines_does_not_end_the_file(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("a,b\n1,2\n\n\n\n3,4\n")
    assert [(s, r) for s, r, _ in csv_module_chunks(path, 2)] == [
        (1, [{"a": "1", "b": "2"}]),
        (2, [{"a": "3", "b": "4"}]),
    ]


def test_parquet_is_read_by_column_with_the_values_of_its_rows(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "id": [f"0{i}" for i in range(7)],
            "amount": [0.5 * i if i != 3 else None for i in range(7)],
            "count": list(range(7)),
            "flag": [i % 2 == 0 for i in range(7)],
            "tags": [["a"] * (i % 3) for i in range(7)],
        }
    )
    path = tmp_path / "in.parquet"
    pq.write_table(table, path)
    chunks = list(formats.read_chunks(path, "parquet", 3))
    assert [(c.start, len(c), c.columns is not None) for c in chunks] == [
        (1, 3, True),
        (4, 3, True),
        (7, 1, True),
    ]
    assert [r for c in chunks for r in c.records] == table.to_pylist()


# --- writing ------------------------------------------------------------------------


def rows_written(keep: dict[str, list[Any]], outputs: list[Any]) -> bytes:
    """The output as the writer wrote it before (one dict per row): the reference."""
    rows = [
        {**{k: v[i] for k, v in keep.items()}, **formats.flatten(out)}
        for i, out in enumerate(outputs)
    ]
    columns = list(dict.fromkeys(name for row in rows for name in row))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(
            json.dumps(v) if isinstance(v, list | dict) else v
            for v in map(row.get, columns)
        )
    return buffer.getvalue().encode()


ANSWERS = {
    "flat": [{"p": 0.1 * i, "label": f"l,{i}", "ok": i % 2 == 0} for i in range(5)],
    "nested": [{"p": i, "why": {"a": i, "b": {"c": "x"}}} for i in range(4)],
    "empty object": [{"p": i, "meta": {}} for i in range(3)],
    "lists": [{"p": i, "top": [i, 'a"b'], "n": None} for i in range(3)],
    "scalars": [0.5, 1, "two\nlines", None, True],
    "lists as answers": [[1, 2], [3]],
    "keys vary": [{"a": 1}, {"b": 2, "a": 3}, {"c": None}],
    "same count, other keys": [{"a": 1, "b": 2}, {"a": 3, "c": 4}],
    "key order varies": [{"a": 1, "b": 2}, {"b": 3, "a": 4}],
    "a key more later": [{"a": 1}, {"a": 2, "b": 3}],
}


@pytest.mark.parametrize("answers", ANSWERS.values(), ids=ANSWERS.keys())
def test_answers_written_by_column_equal_the_row_by_row_writer(
    tmp_path: Path, answers: list[Any]
) -> None:
    keep = {"id": [f"00{i}" for i in range(len(answers))]}
    target = tmp_path / "out.csv"
    writer = formats.TableWriter(target, "csv", ["id"])
    writer.write(Scored(list(range(1, len(answers) + 1)), keep, answers, []))
    writer.close()
    assert target.read_bytes() == rows_written(keep, answers)


def test_a_later_chunk_without_a_column_leaves_its_cells_empty(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    writer = formats.TableWriter(target, "csv", [])
    writer.write(Scored([1], {}, [{"a": 1, "b": 2}], []))
    writer.write(Scored([2], {}, [{"a": 3}], []))
    writer.close()
    assert target.read_text() == "a,b\n1,2\n3,\n"
    writer = formats.TableWriter(tmp_path / "again.csv", "csv", [])
    writer.write(Scored([1], {}, [{"a": 1}], []))
    with pytest.raises(ScoringError, match="gained the column"):
        writer.write(Scored([2], {}, [{"a": 3, "z": 0}], []))
    writer.close()


def test_a_columnar_chunk_is_a_records_chunk_too() -> None:
    chunk = Chunk(5, columns={"id": ["a", "b"], "x": ["1", "2"]}, text=True)
    assert len(chunk) == 2
    assert chunk.records == [{"id": "a", "x": "1"}, {"id": "b", "x": "2"}]
    assert chunk.keep(["id"]) == {"id": ["a", "b"]}
    with pytest.raises(ValueError, match="different lengths"):
        Chunk(1, columns={"a": ["1"], "b": []})


# --- the command --------------------------------------------------------------------


SLOW_LOAD = """

import time as _time

_load = load_resources


def load_resources() -> None:
    _time.sleep(0.6)  # a model that takes a while to load
    _load()
"""


def test_stats_report_the_steady_state_without_the_model_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "packages"
    monkeypatch.syspath_prepend(str(root))
    name = f"stub_fast_{next(_names)}"
    sha = write_stub(root, name, "frame")
    with (root / name / "pipeline.py").open("a") as handle:
        handle.write(SLOW_LOAD)
    body = [[f"{i}", str(i / 4), "abc"[i % 3], str(i % 7), "true"] for i in range(30)]
    source = tmp_path / "in.csv"
    source.write_text(csv_text(["id", "amount", "category", "count", "flag"], body))
    stderr = io.StringIO()
    code = cli.main(
        [str(source), "-o", str(tmp_path / "out.csv"), "--keep", "id", "--stats",
         "--chunk-rows", "8"],
        package=name,
        schemas=__import__(f"{name}.schemas", fromlist=["x"]),
        kind="frame",
        artifacts_dir=root / name / "artifacts",
        artifacts=sha,
        stderr=stderr,
    )  # fmt: skip
    assert code == 0, stderr.getvalue()
    lines = stderr.getvalue().splitlines()
    stats = json.loads(lines[-1])
    assert stats["rows"] == 30 and stats["rejected"] == 0
    assert stats["engine"] == "local" and stats["chunk_rows"] == 8
    assert stats["setup_seconds"] >= 0.6  # the model's load: before the clock
    assert 0 < stats["seconds"] < 0.6
    assert stats["rows_per_s"] == pytest.approx(30 / stats["seconds"], rel=1e-3)
    # The progress line is timed the same way: its rows/s are the scoring's.
    assert lines[-2].startswith("scored 30 rows in 0.")


def test_the_score_command_imports_no_server() -> None:
    code = (
        "import sys, nb2svc_runtime.cli, nb2svc_runtime.scoring.cli\n"
        "print(sorted(m for m in ('uvicorn', 'fastapi', 'starlette', 'httptools', "
        "'urllib.request') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
