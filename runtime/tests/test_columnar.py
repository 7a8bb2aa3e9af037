"""Columnar bodies (pandas split JSON, Arrow IPC streams) against a real uvicorn.

Each service of ``columnar_stub`` runs in a subprocess on loopback; the answers to a
split or Arrow body are compared with the answers to the same rows as JSON records,
and every limit and error a JSON request gets is checked for the columnar forms.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pytest

STUB = Path(__file__).with_name("columnar_stub.py")
SPLIT = "application/json; orient=split"
ARROW = "application/vnd.apache.arrow.stream"
COLUMNS = ["amount", "category", "count", "flag", "score", "card id"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(kind: str, *extra: str) -> Iterator[httpx.Client]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(STUB), kind, str(port), *extra])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=base, timeout=10) as client:
        while True:
            try:
                if client.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "no server"
            time.sleep(0.05)
        try:
            yield client
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def frame() -> Iterator[httpx.Client]:
    yield from _serve("frame")


@pytest.fixture(scope="module")
def record() -> Iterator[httpx.Client]:
    yield from _serve("record")


@pytest.fixture(scope="module")
def array() -> Iterator[httpx.Client]:
    yield from _serve("array")


def rows(n: int = 4) -> list[dict[str, Any]]:
    return [
        {
            "amount": 1.5 * i,
            "category": ["food", "travel"][i % 2],
            "count": i,
            "flag": i % 2 == 0,
            "score": None if i == 1 else i / 4,
            "card id": f"c{i}",
        }
        for i in range(n)
    ]


def split(records: list[dict[str, Any]], columns: list[str] = COLUMNS) -> bytes:
    body = {"columns": columns, "data": [[r.get(c) for c in columns] for r in records]}
    return json.dumps(body).encode()


def arrow(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def read_arrow(content: bytes) -> list[dict[str, Any]]:
    return pa.ipc.open_stream(content).read_all().to_pylist()  # type: ignore[no-any-return]


def post(
    client: httpx.Client, path: str, body: bytes, media: str, **headers: str
) -> httpx.Response:
    return client.post(path, content=body, headers={"content-type": media, **headers})


def details(response: httpx.Response) -> list[dict[str, Any]]:
    return response.json()["error"]["details"]  # type: ignore[no-any-return]


# A table in: /predict of a DataFrame input.


def test_split_and_arrow_bodies_answer_what_json_records_answer(
    frame: httpx.Client,
) -> None:
    records = rows()
    expected = frame.post("/predict", json=records)
    assert expected.status_code == 200
    assert "category:category" in expected.json()[0]["dtypes"]
    by_split = post(frame, "/predict", split(records), SPLIT)
    by_arrow = post(frame, "/predict", arrow(pa.Table.from_pylist(records)), ARROW)
    assert by_split.status_code == by_arrow.status_code == 200
    # The pipeline got the same frame (dtypes in its answer), so the same answer.
    assert by_split.json() == by_arrow.json() == expected.json()
    assert by_split.headers["content-type"] == "application/json"


def test_the_answer_is_a_table_when_accept_asks_for_one(frame: httpx.Client) -> None:
    records = rows()
    expected = frame.post("/predict", json=records).json()
    as_split = post(frame, "/predict", split(records), SPLIT, accept=SPLIT)
    assert as_split.headers["content-type"] == SPLIT
    table = as_split.json()
    assert table["columns"] == ["total", "category", "dtypes"]
    assert [dict(zip(table["columns"], row, strict=True)) for row in table["data"]] == (
        expected
    )
    # JSON records in, Arrow out; q-values decide, JSON wins a tie.
    as_arrow = frame.post(
        "/predict", json=records, headers={"accept": f"{ARROW}, application/json;q=0.5"}
    )
    assert as_arrow.headers["content-type"] == ARROW
    assert read_arrow(as_arrow.content) == expected
    tie = frame.post("/predict", json=records, headers={"accept": f"{ARROW}, */*"})
    assert tie.headers["content-type"] == "application/json"
    nothing_known = frame.post("/predict", json=records, headers={"accept": "text/csv"})
    assert nothing_known.headers["content-type"] == "application/json"


def test_bad_cells_are_422_with_row_and_column_and_never_the_value(
    frame: httpx.Client,
) -> None:
    records = rows(6)
    records[1]["amount"] = "SECRET-1"  # a string for a number
    records[2]["count"] = 2**60  # past the JSON-safe integer range
    records[4]["flag"] = 1  # strict: 1 is not a boolean
    records[5]["card id"] = None  # not nullable
    expected = [
        (["body", 1, "amount"], "float_type"),
        (["body", 2, "count"], "less_than_equal"),
        (["body", 4, "flag"], "bool_type"),
        (["body", 5, "card id"], "string_type"),
    ]
    response = post(frame, "/predict", split(records), SPLIT)
    assert response.status_code == 422
    assert [(d["loc"], d["type"]) for d in details(response)] == expected
    assert "SECRET" not in response.text
    # The JSON request of the same rows gets the same errors, by row and field.
    as_json = frame.post("/predict", json=records)
    assert [(d["loc"], d["type"]) for d in details(as_json)] == expected


def test_arrow_nan_infinity_null_and_wrong_types_are_refused(
    frame: httpx.Client,
) -> None:
    table = pa.Table.from_pylist(rows(5))
    amounts = pa.array([1.0, math.nan, 2.0, math.inf, 3.0])
    counts = pa.array([1, 2, None, 4, 2**60], type=pa.int64())
    table = table.set_column(0, "amount", amounts).set_column(2, "count", counts)
    table = table.set_column(3, "flag", pa.array(["y"] * 5))
    response = post(frame, "/predict", arrow(table), ARROW)
    assert response.status_code == 422
    found = {(d["loc"][1], d["loc"][2], d["type"]) for d in details(response)}
    assert {
        (1, "amount", "finite_number"),
        (3, "amount", "finite_number"),
        (2, "count", "int_type"),
        (4, "count", "less_than_equal"),
        (0, "flag", "bool_type"),
    } <= found
    # An integer column where the schema wants a number is fine, as in JSON.
    ints = pa.Table.from_pylist(rows(3)).set_column(0, "amount", pa.array([1, 2, 3]))
    assert post(frame, "/predict", arrow(ints), ARROW).status_code == 200


def test_missing_unknown_and_repeated_columns_are_named(frame: httpx.Client) -> None:
    columns = ["amount", "category", "count", "flag", "score", "card id", "extra"]
    body = {"columns": columns, "data": [[1.0, "food", 1, True, None, "c", 5]]}
    response = post(frame, "/predict", json.dumps(body).encode(), SPLIT)
    assert response.status_code == 422
    assert details(response) == [
        {
            "loc": ["body", "columns", "extra"],
            "msg": "Extra inputs are not permitted",
            "type": "extra_forbidden",
        }
    ]
    response = post(frame, "/predict", split(rows(), [*COLUMNS[:4], "amount"]), SPLIT)
    assert [(d["loc"], d["type"]) for d in details(response)] == [
        (["body", "columns", "amount"], "duplicate_column"),
        (["body", "columns", "score"], "missing"),
        (["body", "columns", "card id"], "missing"),
    ]
    # The model's field name works as in JSON (populate_by_name).
    body = json.loads(split(rows()))
    body["columns"][-1] = "card_id"
    ok = post(frame, "/predict", json.dumps(body).encode(), SPLIT)
    assert ok.status_code == 200


def test_malformed_split_bodies_are_422(frame: httpx.Client) -> None:
    cases = {
        b"{": "json_invalid",
        b"[1, 2]": "split_format",
        b'{"columns": ["amount"], "data": [[1.0], [1.0, 2.0]]}': "row_length",
        b'{"columns": [], "data": [], "orient": "split"}': "extra_forbidden",
        b'{"columns": [], "data": [], "index": {}}': "list_type",
    }
    for body, kind in cases.items():
        response = post(frame, "/predict", body, SPLIT)
        assert response.status_code == 422, body
        assert details(response)[0]["type"] == kind
    no_rows = post(frame, "/predict", split([]), SPLIT)
    assert details(no_rows)[0]["type"] == "too_short"  # as an empty JSON table
    garbage = post(frame, "/predict", b"\xff" * 64, ARROW)
    assert details(garbage)[0]["type"] == "arrow_invalid"


def test_limits_apply_to_columnar_bodies(frame: httpx.Client) -> None:
    too_many = post(frame, "/predict", split(rows(51)), SPLIT)
    assert too_many.status_code == 413
    assert too_many.json()["error"]["code"] == "too_many_rows"
    arrow_many = post(frame, "/predict", arrow(pa.Table.from_pylist(rows(51))), ARROW)
    assert arrow_many.json()["error"]["code"] == "too_many_rows"
    huge = post(frame, "/predict", b" " * 200_001, SPLIT)
    assert huge.status_code == 413
    records = rows()
    records[0]["count"] = 999  # the stub's pipeline sleeps past the 1 s timeout
    slow = post(frame, "/predict", arrow(pa.Table.from_pylist(records)), ARROW)
    assert slow.status_code == 504
    other = post(frame, "/predict", b"a,b\n1,2\n", "text/csv")
    assert other.status_code == 415
    assert ARROW in other.json()["error"]["message"]
    # A table of a frame service is one request: /predict, not /predict/batch.
    wrong_place = post(frame, "/predict/batch", split(rows()), SPLIT)
    assert wrong_place.status_code == 415
    assert "/predict" in wrong_place.json()["error"]["message"]


def test_an_arrow_body_is_not_measured_as_json(frame: httpx.Client) -> None:
    records = rows(3)
    for record in records:
        record["category"] = "[" * 40 + "]" * 40  # in binary: not JSON nesting
    response = post(frame, "/predict", arrow(pa.Table.from_pylist(records)), ARROW)
    assert response.status_code == 200


def test_openapi_documents_each_media_type(frame: httpx.Client) -> None:
    spec = frame.get("/openapi.json").json()
    predict = spec["paths"]["/predict"]["post"]
    assert set(predict["requestBody"]["content"]) == {"application/json", SPLIT, ARROW}
    example = predict["requestBody"]["content"][SPLIT]["examples"]["notebook"]["value"]
    assert example["columns"] == COLUMNS
    assert post(frame, "/predict", json.dumps(example).encode(), SPLIT).is_success
    assert {SPLIT, ARROW} <= set(predict["responses"]["200"]["content"])
    # The documented schema is exact: the columns in order, each cell's own schema.
    split_schema = predict["requestBody"]["content"][SPLIT]["schema"]
    assert split_schema["additionalProperties"] is False
    columns = split_schema["properties"]["columns"]["prefixItems"]
    assert [c["const"] for c in columns] == COLUMNS
    cells = split_schema["properties"]["data"]["items"]["prefixItems"]
    assert cells[0] == {"title": "Amount", "type": "number"}
    assert split_schema["properties"]["data"]["minItems"] == 1
    batch = spec["paths"]["/predict/batch"]["post"]
    assert set(batch["requestBody"]["content"]) == {"application/json"}


# One input per row: /predict/batch of record and array inputs.


def test_records_batch_from_split_and_arrow(record: httpx.Client) -> None:
    records = rows()
    expected = record.post("/predict/batch", json=records).json()
    by_split = post(record, "/predict/batch", split(records), SPLIT)
    by_arrow = post(
        record,
        "/predict/batch",
        arrow(pa.Table.from_pylist(records)),
        ARROW,
        accept=ARROW,
    )
    assert by_split.json() == expected
    assert read_arrow(by_arrow.content) == expected
    assert post(record, "/predict/batch", split([]), SPLIT).json() == []
    assert post(record, "/predict", split(records), SPLIT).status_code == 415


def test_array_batch_from_split_and_arrow(array: httpx.Client) -> None:
    vectors = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.5]]
    expected = array.post("/predict/batch", json=vectors).json()
    assert expected == [6.0, 15.5]
    body = json.dumps({"data": vectors}).encode()
    assert post(array, "/predict/batch", body, SPLIT).json() == expected
    table = pa.table({"a": [1.0, 4.0], "b": [2, 5], "c": [3.0, 6.5]})
    answer = post(array, "/predict/batch", arrow(table), ARROW, accept=ARROW)
    assert read_arrow(answer.content) == [{"prediction": 6.0}, {"prediction": 15.5}]
    bad = json.dumps({"data": [[1.0, True, 3.0], [1.0, 2.0, math.inf]]})
    response = post(array, "/predict/batch", bad.encode(), SPLIT)
    assert response.status_code == 422  # inf is not JSON: the body is refused
    flagged = post(
        array, "/predict/batch", arrow(pa.table({"a": [1.0, math.nan]})), ARROW
    )
    assert [d["loc"] for d in details(flagged)] == [["body", 1, 0]]


def test_without_pyarrow_arrow_is_415_naming_the_extra() -> None:
    for client in _serve("frame", "no-arrow"):
        records = rows()
        response = post(client, "/predict", b"\x00" * 8, ARROW)
        assert response.status_code == 415
        assert "'arrow' extra" in response.json()["error"]["message"]
        asked = client.post("/predict", json=records, headers={"accept": ARROW})
        assert asked.status_code == 406
        assert "'arrow' extra" in asked.json()["error"]["message"]
        # Arrow preferred, JSON acceptable: JSON, not a 406.
        either = f"{ARROW}, application/json;q=0.5"
        fallback = client.post("/predict", json=records, headers={"accept": either})
        assert fallback.status_code == 200
        assert fallback.headers["content-type"].startswith("application/json")
        assert fallback.json() == client.post("/predict", json=records).json()
        split_next = client.post(
            "/predict", json=records, headers={"accept": f"{ARROW}, {SPLIT};q=0.8"}
        )
        assert split_next.headers["content-type"].startswith(SPLIT)
        assert post(client, "/predict", split(records), SPLIT).status_code == 200


def test_the_frame_equals_the_one_json_records_build() -> None:
    """The DataFrame the notebook gets: from split JSON, from Arrow, from records."""
    sys.path.insert(0, str(STUB.parent))
    try:
        import columnar_stub
    finally:
        sys.path.remove(str(STUB.parent))
    from nb2svc_runtime.columnar import Columnar, decode_arrow, decode_split
    from nb2svc_runtime.predict import Predictor

    pipeline, schemas, io = columnar_stub.service("frame")
    predictor = Predictor(pipeline, schemas, io)
    lane = Columnar(predictor)
    records = rows(7)
    from_json = schemas.to_raw(predictor.one.validate_python(records, strict=True))
    for names, columns, count in (
        decode_split(split(records), 100),
        decode_arrow(arrow(pa.Table.from_pylist(records)), 100, 10**6),
    ):
        _, built = lane.validate(names, columns, count)
        pd.testing.assert_frame_equal(built, from_json, check_exact=True)
        assert list(built.dtypes) == list(from_json.dtypes)


def test_big_json_tables_answer_and_refuse_as_small_ones(frame: httpx.Client) -> None:
    """From 8 KiB on, JSON records are validated by column: same answers, and any
    irregular or bad record gets pydantic's errors, as a small body does."""
    records = rows(50)
    for record in records:
        record["card id"] = "c" * 200
    assert len(json.dumps(records)) > 8192
    big = frame.post("/predict", json=records)
    assert big.status_code == 200
    assert big.json() == post(frame, "/predict", split(records), SPLIT).json()
    assert big.json()[:3] == frame.post("/predict", json=records[:3]).json()
    records[7]["unexpected"] = 1
    records[9]["count"] = 2.0  # an integer, as JSON Schema counts them
    records[11]["amount"] = "SECRET"
    refused = frame.post("/predict", json=records)
    assert [(d["loc"], d["type"]) for d in details(refused)] == [
        (["body", 7, "unexpected"], "extra_forbidden"),
        (["body", 11, "amount"], "float_type"),
    ]
    assert "SECRET" not in refused.text
    del records[7]["unexpected"]
    records[11]["amount"] = 1.0
    accepted = frame.post("/predict", json=records)
    assert accepted.status_code == 200
    assert accepted.json()[9]["total"] == records[9]["amount"] * 2


def test_json_records_go_by_column_only_when_regular_and_valid() -> None:
    sys.path.insert(0, str(STUB.parent))
    try:
        import columnar_stub
    finally:
        sys.path.remove(str(STUB.parent))
    from nb2svc_runtime.columnar import Columnar, _Job
    from nb2svc_runtime.predict import Predictor

    pipeline, schemas, io = columnar_stub.service("frame")
    lane = Columnar(Predictor(pipeline, schemas, io))

    def job(body: Any) -> _Job:
        return _Job(
            "records", json.dumps(body).encode(), False, "json", 100, 10**6, False
        )

    done = lane.run(job(rows(3)))
    assert done is not None
    assert json.loads(done[1]) == json.loads(
        json.dumps(
            pipeline.score(
                schemas.to_raw(
                    Predictor(pipeline, schemas, io).one.validate_python(rows(3))
                )
            )
        )
    )
    irregular = rows(3)
    del irregular[1]["flag"]
    invalid = rows(3)
    invalid[2]["flag"] = "yes"
    bodies: list[Any] = [irregular, invalid, [], {"columns": []}, [1, 2]]
    for body in bodies:
        assert lane.run(job(body)) is None


def test_big_json_arrays_answer_and_refuse_as_small_ones(array: httpx.Client) -> None:
    vectors = [[float(i + j) for j in range(200)] for i in range(40)]
    big = array.post("/predict/batch", json=vectors)
    assert big.status_code == 200
    assert big.json() == [sum(v) for v in vectors]
    ragged = [*vectors[:-1], vectors[-1][:10]]  # lengths differ: pydantic's way
    assert array.post("/predict/batch", json=ragged).json()[-1] == sum(ragged[-1])
    vectors[3][5] = True
    refused = array.post("/predict/batch", json=vectors)
    assert [(d["loc"], d["type"]) for d in details(refused)] == [
        (["body", 3, 5], "float_type")
    ]


def test_an_all_float_frame_equals_frame_builders() -> None:
    """One numeric dtype takes the 2-D way: still the frame JSON records build."""
    from pydantic import create_model

    from nb2svc_runtime.columnar import decode_split
    from nb2svc_runtime.schemas import frame_builder
    from nb2svc_runtime.tables import TableSchema, build_frame, check_table, frame_plan

    names = [f"m{i}" for i in range(5)]
    fields: dict[str, Any] = {name: (float, ...) for name in names}
    row = create_model("Row", **fields)
    records = [{name: i * 1.5 + j for j, name in enumerate(names)} for i in range(7)]
    records[2]["m3"] = 4  # an integer in a float column, as JSON allows
    dtypes = dict.fromkeys(names, "float64")
    request: Any = list[row]  # type: ignore[valid-type]
    from_json = frame_builder(request, dtypes)([row(**r) for r in records])
    schema = TableSchema.from_model(row)
    labels, _ = schema.match(names)
    valid, errors = check_table(
        schema, labels, decode_split(split(records, names), 10)[1], 7
    )
    assert errors == []
    built = build_frame(frame_plan(schema.labels, dtypes), valid, 7)
    pd.testing.assert_frame_equal(built, from_json, check_exact=True)


def test_the_monitor_reads_a_table_as_models_dump_it() -> None:
    """The drift window and the feature log read a columnar body as they read a
    validated JSON body: rows by label, JSON values in "json" mode."""
    import datetime

    import numpy as np

    from nb2svc_runtime.columnar import _Rows

    when = datetime.datetime(2026, 12, 6, 7, 0)
    rows = _Rows({"at": [when, when], "x": np.array([1.5, 2.0])}, 2, as_lists=False)
    assert len(rows) == 2
    assert rows.model_dump(by_alias=True) == [
        {"at": when, "x": 1.5},
        {"at": when, "x": 2.0},
    ]
    assert rows.model_dump(by_alias=True, mode="json")[0] == {
        "at": "2026-12-06T07:00:00",
        "x": 1.5,
    }
    json.dumps(rows.model_dump(mode="json"))  # what the request log writes
