"""File scoring validates a chunk column by column: same answers, same rejects.

A chunk of valid rows goes through ``tables`` (no model per row) and one pipeline
call; the answers must equal what the row-by-row way gives the same chunk, for CSV
text and for typed values (JSON lines, Parquet), for frames and records. A chunk with
a bad row takes the row-by-row way, which names each bad row.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scoring_stub import write_stub

from nb2svc_runtime.scoring.core import Chunk, RowScorer, ScoringSpec

SCHEMAS = """
from typing import Any, TypeAlias
from pydantic import BaseModel, ConfigDict, Field
from nb2svc_runtime.schemas import JsonSafeInteger as Integer, frame_builder
from nb2svc_runtime.spec import Schemas


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)
    amount: float
    category: str
    count: Integer
    flag: bool
    note: str | None
    card_id: str = Field(alias="card id")


PredictRequest: TypeAlias = list[Row]
DTYPES = {"amount": "float64", "category": "category", "count": "int64",
          "flag": "bool", "note": "str", "card id": "str"}
to_raw = frame_builder(PredictRequest, DTYPES)
SCHEMAS = Schemas(PredictRequest, Any, [], [], to_raw, DTYPES)
"""

PIPELINE = """
from typing import Any

FRAMES: list[Any] = []


def load_resources() -> None:
    pass


def score(frame: Any) -> Any:
    FRAMES.append(frame)
    if (frame["amount"] == 13).any():
        raise ValueError("unlucky")
    return [{"total": a * c, "kind": str(frame["category"].dtype)}
            for a, c in zip(frame["amount"], frame["count"])]


def score_batch(raws: list[Any]) -> list[Any]:
    return [score(raw) for raw in raws]
"""


@pytest.fixture
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("colscore_")]:
        del sys.modules[name]


def frame_scorer(root: Path) -> RowScorer:
    package = root / "colscore_frame"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "schemas.py").write_text(textwrap.dedent(SCHEMAS))
    (package / "pipeline.py").write_text(textwrap.dedent(PIPELINE))
    return RowScorer(ScoringSpec("colscore_frame", "frame", str(package), ()))


def records(n: int, text: bool) -> list[dict[str, Any]]:
    rows = [
        {
            "amount": 1.25 * i,
            "category": ["a", "b", "c"][i % 3],
            "count": i,
            "flag": i % 2 == 0,
            "note": None if i % 4 == 0 else f"n{i}",
            "card id": f"c{i}",
        }
        for i in range(n)
    ]
    if text:  # as the CSV reader gives them: every cell a string
        return [{k: "" if v is None else str(v) for k, v in r.items()} for r in rows]
    return rows


@pytest.mark.parametrize("text", [False, True], ids=["typed", "csv-text"])
def test_a_valid_frame_chunk_is_validated_by_column_with_the_same_answers(
    packages: Path, text: bool
) -> None:
    scorer = frame_scorer(packages)
    pipeline: Any = scorer.pipeline
    chunk = Chunk(11, records(9, text), text=text)
    assert scorer._table is not None
    fast = scorer._score_columns(scorer._table, chunk)
    assert fast is not None
    by_columns = pipeline.FRAMES.pop()
    slow = scorer._score_rows(chunk)
    by_rows = pipeline.FRAMES.pop()
    assert (fast.rows, fast.outputs, fast.rejects) == (
        slow.rows,
        slow.outputs,
        slow.rejects,
    )
    assert fast.rows == list(range(11, 20))
    # The notebook got the same DataFrame, dtypes and all.
    import pandas as pd

    pd.testing.assert_frame_equal(by_columns, by_rows, check_exact=True)


def test_a_chunk_with_a_bad_row_names_it_and_scores_the_rest(packages: Path) -> None:
    scorer = frame_scorer(packages)
    rows = records(6, text=False)
    rows[2]["count"] = "SECRET"
    rows[4]["amount"] = 13.0  # the notebook's code fails on this one
    scored = scorer.score(Chunk(1, rows))
    assert [r.row for r in scored.rejects] == [3, 5]
    assert scored.rejects[0].errors == [
        {"loc": ["count"], "msg": "Input should be a valid integer", "type": "int_type"}
    ]
    assert scored.rejects[1].errors[0]["type"] == "pipeline_error"
    assert scored.rows == [1, 2, 4, 6]
    missing = [dict(r) for r in records(3, text=False)]
    del missing[1]["flag"]  # a JSON line without a column
    scored = scorer.score(Chunk(1, missing))
    assert [(r.row, r.errors[0]["type"]) for r in scored.rejects] == [(2, "missing")]


def test_record_chunks_by_column_equal_the_rows_way(packages: Path) -> None:
    sha = write_stub(packages, "colscore_record", "record")
    spec = ScoringSpec(
        "colscore_record",
        "record",
        str(packages / "colscore_record" / "artifacts"),
        tuple(sha.items()),
    )
    scorer = RowScorer(spec)
    rows = [
        {"amount": 1.5 * i, "category": "x", "count": i, "flag": True} for i in range(5)
    ]
    assert scorer._table is not None
    fast = scorer._score_columns(scorer._table, Chunk(1, rows))
    assert fast is not None
    assert fast.outputs == scorer._score_rows(Chunk(1, rows)).outputs
