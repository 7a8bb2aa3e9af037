"""The rule that fixes an array input's lengths (issue 15), without a kernel: from the
examples and, where known, the fitted model's ``n_features_in_``."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from nb2svc.model import ExampleSet
from nb2svc.render.schema import build_schema
from nb2svc.render.shapes import array_shape, describe_shape
from nb2svc_runtime.schemas import Shape

ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.mark.parametrize(
    ("inputs", "type_expr", "n_features", "expected"),
    [
        ([ROW], "list[float]", None, (4,)),  # one sample: its length
        ([ROW, ROW[:3]], "list[float]", None, (None,)),  # examples disagree
        ([[ROW, ROW]], "list[list[float]]", None, (None, 4)),  # rows of 4
        ([[ROW], [ROW, ROW, ROW]], "list[list[float]]", None, (None, 4)),
        ([ROW], "list[float]", 4, (4,)),  # the model agrees
        ([ROW], "list[float]", 3, (None,)),  # the notebook makes the features
        ([[ROW, ROW]], "list[list[float]]", 4, (None, 4)),
        ([[ROW, ROW]], "list[list[float]]", 8, (2, 4)),  # one 2x4 sample
        ([[ROW, ROW]], "list[list[float]]", 5, (None, None)),
        ([[[[1, 2], [3, 4]]]], "list[list[list[int]]]", None, (None, 2, 2)),
        ([["a", "b"]], "list[str]", None, None),  # texts: their number is data
        ([[{"a": 1}]], "list[PredictInputItem]", None, None),
        (["text"], "str", None, None),
    ],
)
def test_which_lengths_are_fixed(
    inputs: list[Any], type_expr: str, n_features: int | None, expected: object
) -> None:
    assert array_shape(inputs, type_expr, n_features) == expected


def test_the_schema_carries_the_shape_as_python_literals() -> None:
    examples = ExampleSet("array", ([ROW, ROW],), ([0, 0],), n_features=4)
    schema = build_schema(examples)
    assert schema["shape"] == [None, 4]
    assert (
        schema["request_annotation"] == "Annotated[list[list[float]], Shape(None, 4)]"
    )
    assert schema["shape_text"] == "one or more rows, each of exactly 4 numbers"
    assert describe_shape((2, 3)) == "exactly 2 lists, each of exactly 3 numbers"
    assert describe_shape((None,)) == "one or more numbers"


def test_a_shape_checks_every_dimension() -> None:
    from typing import Annotated

    adapter = TypeAdapter(Annotated[list[list[list[float]]], Shape(None, 2, 3)])
    assert adapter.json_schema()["items"]["items"] == {
        "items": {"type": "number"},
        "minItems": 3,
        "maxItems": 3,
        "type": "array",
    }
    adapter.validate_json("[[[1, 2, 3], [4, 5, 6]]]", strict=True)
    with pytest.raises(ValidationError) as caught:
        adapter.validate_json("[[[1, 2, 3], [4, 5]]]", strict=True)
    (error,) = caught.value.errors()
    assert error["loc"] == (0, 1) and error["type"] == "too_short"
    with pytest.raises(TypeError, match="more dimensions"):
        TypeAdapter(Annotated[list[float], Shape(None, 2)])
    with pytest.raises(ValueError, match="one length or None"):
        Shape(0)


def test_a_table_takes_rows_or_one_bare_record() -> None:
    from typing import Annotated

    from pydantic import BaseModel, ConfigDict, field_validator
    from pydantic_core import PydanticCustomError

    from nb2svc_runtime.schemas import TableRows, row_model

    class Record(BaseModel):
        model_config = ConfigDict(extra="forbid")
        amount: float
        note: str = ""

        @field_validator("note")
        @classmethod
        def _no_shouting(cls, value: str) -> str:
            if value.isupper():
                raise PydanticCustomError("shouting", "Too loud")
            return value

    request = Annotated[list[Record], TableRows()]
    assert row_model(request) is Record
    adapter = TypeAdapter(request)
    one = adapter.validate_json('{"amount": 1}', strict=True)
    assert one == adapter.validate_json('[{"amount": 1}]', strict=True)
    for body, loc in (
        ('{"amount": "x"}', ("amount",)),
        ("[]", ()),
        ('[{"amount": 1}, {}]', (1, "amount")),
        ("3", ()),
    ):
        with pytest.raises(ValidationError) as caught:
            adapter.validate_json(body, strict=True)
        assert caught.value.errors()[0]["loc"] == loc, body
    # An error type pydantic cannot rebuild keeps its place in the one-row table.
    with pytest.raises(ValidationError) as caught:
        adapter.validate_json('{"amount": 1, "note": "HEY"}', strict=True)
    (error,) = caught.value.errors()
    assert error["type"] == "shouting" and error["loc"] == (0, "note")
