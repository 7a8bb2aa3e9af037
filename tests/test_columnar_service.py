"""Columnar bodies on real built services: the fraud example (a DataFrame input,
``/predict``) and the diabetes example (record inputs, ``/predict/batch``).

Each service is built from its example notebook and served by its own ``serve``
command on loopback; split JSON and Arrow bodies must get the answers JSON gets, the
generated README and OpenAPI must describe them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from tests.service_support import built_service, golden_examples, serving

pytestmark = pytest.mark.slow

SPLIT = "application/json; orient=split"
ARROW = "application/vnd.apache.arrow.stream"


def arrow_body(rows: list[dict[str, Any]]) -> bytes:
    table = pa.Table.from_pylist(rows)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def split_body(rows: list[dict[str, Any]]) -> bytes:
    columns = list(rows[0])
    return json.dumps(
        {"columns": columns, "data": [[row[c] for c in columns] for row in rows]}
    ).encode()


def table_rows(examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every row of the golden examples' requests, as one table."""
    rows: list[dict[str, Any]] = []
    for example in examples:
        request = example["input"]
        rows += request if isinstance(request, list) else [request]
    return rows


def test_fraud_tables_as_split_json_and_arrow(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    out = built_service(tmp_path_factory, "fraud_scoring")
    rows = table_rows(golden_examples(out))
    readme = (out / "README.md").read_text()
    assert "### Columnar requests" in readme
    assert "pip install '.[arrow]'" in readme
    with (
        serving(out, tmp_path / "service.log") as service,
        httpx.Client(base_url=service.url, timeout=30) as client,
    ):
        expected = client.post("/predict", json=rows)
        assert expected.status_code == 200
        by_split = client.post(
            "/predict", content=split_body(rows), headers={"content-type": SPLIT}
        )
        by_arrow = client.post(
            "/predict",
            content=arrow_body(rows),
            headers={"content-type": ARROW, "accept": ARROW},
        )
        assert by_split.json() == expected.json()
        assert by_arrow.headers["content-type"] == ARROW
        answers = pa.ipc.open_stream(by_arrow.content).read_all().to_pylist()
        assert answers == expected.json()
        # A bad value: 422 at [row, column], as JSON records get.
        bad = [dict(row) for row in rows]
        bad[1]["hour"] = 1.5
        refused = client.post(
            "/predict", content=split_body(bad), headers={"content-type": SPLIT}
        )
        assert refused.status_code == 422
        assert refused.json()["error"]["details"] == [
            {
                "loc": ["body", 1, "hour"],
                "msg": "Input should be a valid integer",
                "type": "int_type",
            }
        ]
        spec = client.get("/openapi.json").json()
        content = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
        assert set(content) == {"application/json", SPLIT, ARROW}
        example = content[SPLIT]["examples"]["notebook"]["value"]
        assert client.post(
            "/predict", content=json.dumps(example), headers={"content-type": SPLIT}
        ).is_success


def test_diabetes_records_batch_as_arrow(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    out = built_service(tmp_path_factory, "diabetes_progression")
    rows = table_rows(golden_examples(out))
    with (
        serving(out, tmp_path / "service.log") as service,
        httpx.Client(base_url=service.url, timeout=30) as client,
    ):
        expected = client.post("/predict/batch", json=rows).json()
        by_arrow = client.post(
            "/predict/batch",
            content=arrow_body(rows),
            headers={"content-type": ARROW, "accept": SPLIT},
        )
        assert by_arrow.headers["content-type"] == SPLIT
        table = by_arrow.json()
        assert [dict(zip(table["columns"], r, strict=True)) for r in table["data"]] == (
            expected
        )
