"""Big JSON records bodies decoded by msgspec into typed rows (columnar.records).

What the typed decoder hands on must validate to exactly what the general way (orjson,
then a type scan per column) validates to: the same arrays, the same dtypes, the same
errors. Anything it does not take (a missing or unknown key, a value of another type, a
key sent under the field's name) must come back as None, so the general way decides.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nb2svc_runtime.columnar import Columnar, _Job
from nb2svc_runtime.columnar.codecs import decode_records
from nb2svc_runtime.columnar.records import ArraysDecoder, RecordsDecoder
from nb2svc_runtime.errors import RequestError
from nb2svc_runtime.predict import Predictor
from nb2svc_runtime.tables import Column, TableSchema, check_table

HERE = str(Path(__file__).parent)
sys.path.insert(0, HERE)
import columnar_stub  # noqa: E402
from test_columnar import rows as stub_rows  # noqa: E402  (the HTTP tests' rows)

sys.path.remove(HERE)


SCHEMA = TableSchema.from_model(columnar_stub.Row)

record = st.fixed_dictionaries(
    {
        "amount": st.one_of(
            st.floats(allow_nan=False, allow_infinity=False),
            st.integers(-(2**53), 2**53),
        ),
        "category": st.text(max_size=8),
        "count": st.integers(-(2**53) + 1, 2**53 - 1),
        "flag": st.booleans(),
        "score": st.one_of(
            st.none(), st.floats(allow_nan=False, allow_infinity=False, width=32)
        ),
        "card id": st.text(max_size=8),
    }
)


def validated(decoded: Any, typed: Any = ()) -> Any:
    names, columns, rows = decoded
    labels, errors = SCHEMA.match(names)
    assert not errors
    return check_table(SCHEMA, labels, columns, rows, typed=typed)


def assert_same_columns(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert list(a) == list(b)
    for label in a:
        left, right = a[label], b[label]
        if isinstance(left, np.ndarray):
            assert isinstance(right, np.ndarray)
            assert left.dtype == right.dtype, label
            assert np.array_equal(left, right), label
        else:
            assert list(left) == list(right), label


@settings(max_examples=150, deadline=None)
@given(st.lists(record, min_size=1, max_size=12))
def test_typed_rows_validate_to_what_the_general_way_gives(rows: list[Any]) -> None:
    raw = json.dumps(rows).encode()
    decoder = RecordsDecoder(SCHEMA)
    typed = decoder.decode(raw)
    general = decode_records(raw, 1000)
    assert typed is not None and general is not None
    assert typed[0] == list(SCHEMA.labels) and typed[2] == general[2] == len(rows)
    fast, fast_errors = validated(typed, decoder.typed)
    slow, slow_errors = validated(general)
    assert fast_errors == slow_errors == []
    assert_same_columns(fast, slow)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"count": 2.0}, "an integer written as a float: pydantic accepts it"),
        ({"amount": "1.5"}, "a string for a number"),
        ({"amount": True}, "a boolean for a number"),
        ({"flag": 1}, "a number for a boolean"),
        ({"unexpected": 1}, "an unknown key"),
        ({"card_id": "c9"}, "the field's name for its label (populate_by_name)"),
        ({"amount": "BIG"}, "a number past a float's range"),
    ],
)
def test_anything_else_is_left_to_the_general_way(
    change: dict[str, Any], why: str
) -> None:
    rows = stub_rows(3)
    if "card_id" in change:
        del rows[1]["card id"]
    rows[1].update(change)
    raw = json.dumps(rows).replace('"BIG"', "1e400").encode()
    assert RecordsDecoder(SCHEMA).decode(raw) is None, why


def test_missing_keys_not_a_list_and_empty_are_left_to_the_general_way() -> None:
    decoder = RecordsDecoder(SCHEMA)
    rows = stub_rows(3)
    del rows[0]["flag"]
    bodies: list[Any] = [rows, [], {"columns": []}, [1, 2], [[1.5, "a"]]]
    for body in bodies:
        assert decoder.decode(json.dumps(body).encode()) is None
    assert decoder.decode(b"[{") is None


def test_the_row_limit_holds_for_typed_rows() -> None:
    pipeline, schemas, io = columnar_stub.service("frame")
    lane = Columnar(Predictor(pipeline, schemas, io))
    body = json.dumps(stub_rows(3) * 3).encode()
    with pytest.raises(RequestError) as refused:
        lane.run(_Job("records", body, False, "json", 5, 10**6, False))
    assert refused.value.status == 413
    assert lane.run(_Job("records", body, False, "json", 9, 10**6, False)) is not None


def test_a_field_name_key_still_answers_through_the_general_way() -> None:
    pipeline, schemas, io = columnar_stub.service("frame")
    lane = Columnar(Predictor(pipeline, schemas, io))
    rows = stub_rows(3)
    by_label = lane.run(
        _Job("records", json.dumps(rows).encode(), False, "json", 9, 10**6, False)
    )
    for row in rows:
        row["card_id"] = row.pop("card id")
    by_name = lane.run(
        _Job("records", json.dumps(rows).encode(), False, "json", 9, 10**6, False)
    )
    assert by_label is not None and by_name is not None
    assert by_label[1] == by_name[1]


# An array input's batch: JSON arrays of one length, typed into one 2-D array.


def _array_lane() -> Any:
    pipeline, schemas, io = columnar_stub.service("array")
    return Columnar(Predictor(pipeline, schemas, io)), pipeline, schemas


def _batch_job(body: Any) -> _Job:
    return _Job("records", json.dumps(body).encode(), True, "json", 100, 10**6, False)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda width: st.lists(
            st.lists(
                st.one_of(
                    # the stub sums a row: no sum of six may overflow a float
                    st.floats(min_value=-1e300, max_value=1e300),
                    st.integers(-(2**53), 2**53),
                ),
                min_size=width,
                max_size=width,
            ),
            min_size=1,
            max_size=10,
        )
    )
)
def test_typed_arrays_answer_what_one_call_per_row_answers(
    vectors: list[list[float]],
) -> None:
    lane, pipeline, schemas = _array_lane()
    decoded = lane.records.decode(json.dumps(vectors).encode())
    assert decoded is not None
    assert decoded[0] == list(range(len(vectors[0]))) and decoded[2] == len(vectors)
    done = lane.run(_batch_job(vectors))
    assert done is not None
    expected = [pipeline.score(schemas.to_raw(vector)) for vector in vectors]
    assert json.loads(done[1]) == json.loads(json.dumps(expected))


def test_arrays_of_anything_else_go_the_general_way() -> None:
    lane, _, _ = _array_lane()
    decoder = lane.records
    assert isinstance(decoder, ArraysDecoder)
    vectors = [[1.5, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert decoder.decode(json.dumps(vectors).encode()) is not None
    bodies: list[Any] = [
        [[1.5, 2.0], [4.0, 5.0, 6.0]],  # ragged
        [[1.5, True, 3.0]],  # a boolean for a number
        [[1.5, "2", 3.0]],  # a string for a number
        [[[1.5]]],  # nested
        [],
        [[]],
        [{"a": 1.0}],
    ]
    for body in bodies:
        assert decoder.decode(json.dumps(body).encode()) is None, body
    assert decoder.decode(b"[[1e400, 1.0]]") is None
    ints = ArraysDecoder(Column.of("", int))
    assert ints.decode(b"[[1, 2], [3, 4]]") is not None
    assert ints.decode(b"[[1, 2], [3, 18446744073709551616]]") is None
    assert ints.decode(b"[[1, 2.0]]") is None


def test_ragged_arrays_are_left_to_pydantic() -> None:
    lane, _, _ = _array_lane()
    assert lane.run(_batch_job([[1.0, 2.0, 3.0]] * 2 + [[1.0, 2.0]])) is None
    assert lane.run(_batch_job([[1.0, 2.0, 3.0]] * 2 + [[1.0, 2.0, True]])) is None


@pytest.mark.parametrize(
    "label", ['say "hi"', "back\\slash", "tab\there", "nul\x00", "plain", "é ü"]
)
def test_any_column_label_is_served_typed_or_the_general_way(label: str) -> None:
    from pydantic import create_model

    row = create_model("Row", **{"value": (float, ...)})  # type: ignore[call-overload]
    row.model_fields["value"].alias = label
    row.model_rebuild(force=True)
    schema = TableSchema.from_model(row)
    assert schema.labels == [label]
    decoder = RecordsDecoder.of(schema)
    raw = json.dumps([{label: 1.5}, {label: 2}]).encode()
    general = decode_records(raw, 10)
    assert general is not None and general[0] == [label]
    assert [list(c) for c in general[1]] == [[1.5, 2]]
    if decoder is not None:  # msgspec names it: the typed way decodes it
        typed = decoder.decode(raw)
        assert typed is not None and typed[0] == [label]
        assert [list(c) for c in typed[1]] == [[1.5, 2.0]]
    else:
        assert any(c in label for c in '"\\\t\x00')


def test_accept_passes_over_arrow_without_pyarrow() -> None:
    from nb2svc_runtime.columnar import answer_format

    arrow = "application/vnd.apache.arrow.stream"
    split = "application/json; orient=split"
    assert answer_format(f"{arrow}, application/json;q=0.5") == "arrow"
    assert answer_format(f"{arrow}, application/json;q=0.5", arrow=False) == "json"
    assert answer_format(f"{arrow}, {split};q=0.5", arrow=False) == "split"
    assert answer_format(arrow, arrow=False) == "arrow"  # nothing else: a 406
    assert answer_format(f"{arrow};q=0, text/csv", arrow=False) == "json"
    assert answer_format(None, arrow=False) == "json"
