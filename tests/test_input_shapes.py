"""The service hands the pipeline its input in the notebook's shape (the contract's
"Data shapes"): type hints on the input win over what the example suggests, wherever
every example fits the hinted type, and a numpy example comes back as a numpy array."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from nb2svc.model import ExampleSet
from nb2svc.render.schema import InputHint, build_schema, input_hint
from tests.helpers import IMPORTS_CELL, make_notebook, run_cli

TRANSACTION = """
from typing import Optional, TypedDict


class Transaction(TypedDict):
    amount: float
    note: Optional[str]
    tags: "list[str]"
    merchant: object  # not a schema type: the example decides
"""


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        ("dict[str, float]", InputHint(fields={"*": "float"})),
        ("typing.Mapping[str, 'int | None']", InputHint(fields={"*": "int | None"})),
        ("list[float]", InputHint(items="float")),
        ("Sequence[Optional[float]]", InputHint(items="float | None")),
        ("'dict[str, bool]'", InputHint(fields={"*": "bool"})),
        (
            "Transaction",
            InputHint(
                fields={"amount": "float", "note": "str | None", "tags": "list[str]"}
            ),
        ),
        ("dict", None),
        ("pd.DataFrame", None),
        ("dict[int, float]", None),
        ("dict[str, int | str]", None),
        ("Unknown", None),
        (None, None),
    ],
)
def test_what_an_annotation_says(annotation: str | None, expected: object) -> None:
    assert input_hint(annotation, [TRANSACTION]) == expected


def _record_examples(*inputs: dict[str, object]) -> ExampleSet:
    return ExampleSet("record", inputs, tuple({"y": 1} for _ in inputs))


def _fields(schema: dict[str, object]) -> dict[str, str]:
    models = schema["models"]
    assert isinstance(models, list)
    request = next(m for m in models if m["name"] == schema["request_type"])
    return {f["alias"] or f["name"]: f["type"] for f in request["fields"]}


def test_hinted_types_win_where_the_examples_fit() -> None:
    examples = _record_examples(
        {"a": 1, "b": 2, "c": "x"}, {"a": 3, "b": None, "c": "y"}
    )
    assert _fields(build_schema(examples)) == {
        "a": "int",
        "b": "int | None",
        "c": "str",
    }
    hinted = build_schema(examples, InputHint(fields={"*": "float"}))
    # c is a string in the examples: a float hint does not fit it, the example wins.
    assert _fields(hinted) == {"a": "float", "b": "float | None", "c": "str"}


def test_array_items_follow_the_hint() -> None:
    examples = ExampleSet("array", ([1, 2, 3],), ([2, 4, 6],))
    assert build_schema(examples)["request_type"] == "list[int]"
    hinted = build_schema(examples, InputHint(items="float"))
    assert hinted["request_type"] == "list[float]"
    assert build_schema(examples, InputHint(items="str"))["request_type"] == "list[int]"


@pytest.fixture
def generated() -> Iterator[Any]:
    """Import a built package's module from its src/; forget the package afterwards."""
    added: list[tuple[str, str]] = []

    def load(out: Path, module: str) -> ModuleType:
        package = next(p.name for p in (out / "src").iterdir() if p.is_dir())
        sys.path.insert(0, str(out / "src"))
        added.append((str(out / "src"), package))
        return importlib.import_module(f"{package}.{module}")

    yield load
    for path, package in added:
        sys.path.remove(path)
        for name in [m for m in sys.modules if m.split(".")[0] == package]:
            del sys.modules[name]


def test_a_built_service_takes_what_the_hint_allows(
    tmp_path: Path, generated: Any
) -> None:
    """The example has whole numbers; the notebook's hint says floats. Without the hint
    the service would refuse 1.5 (requests are strict)."""
    notebook = make_notebook(
        tmp_path,
        [
            IMPORTS_CELL,
            (
                "code",
                "# nb2svc: predict\n"
                "def predict(x: dict[str, float]) -> dict:\n"
                '    return {"y": x["a"] * 2 + x["b"]}',
            ),
            ("code", '# nb2svc: example\nexample = {"a": 1, "b": 2}'),
        ],
    )
    out = tmp_path / "svc"
    code, output = run_cli("build", notebook, "-o", out)
    assert code == 0, output
    schemas = generated(out, "schemas")
    adapter = TypeAdapter(schemas.PredictRequest)
    request = adapter.validate_json(b'{"a": 1.5, "b": 2}', strict=True)
    assert schemas.to_raw(request) == {"a": 1.5, "b": 2.0}
    with pytest.raises(ValidationError):
        adapter.validate_json(b'{"a": "1.5", "b": 2}', strict=True)


def test_a_numpy_example_reaches_the_pipeline_as_a_numpy_array(
    tmp_path: Path, generated: Any
) -> None:
    """The notebook's predict uses ndarray methods; a list would break every request."""
    notebook = make_notebook(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport numpy as np"),
            (
                "code",
                "# nb2svc: predict\n"
                "def predict(x):\n"
                '    return {"total": float(x.reshape(1, -1).sum()), '
                '"dtype": str(x.dtype)}',
            ),
            (
                "code",
                "# nb2svc: example\nexample = np.array([1, 2, 3], dtype=np.float32)",
            ),
        ],
    )
    out = tmp_path / "svc"
    code, output = run_cli("build", notebook, "-o", out)
    assert code == 0, output
    golden = json.loads((out / "tests/golden/examples.json").read_text())
    assert golden["nb2svc"]["array_dtype"] == "float32"
    schemas = generated(out, "schemas")
    pipeline = generated(out, "pipeline")
    request = TypeAdapter(schemas.PredictRequest).validate_json(b"[1, 2, 3]")
    raw = schemas.to_raw(request)
    assert raw.dtype.name == "float32" and raw.tolist() == [1.0, 2.0, 3.0]
    assert pipeline.score(raw) == golden["examples"][0]["output"]


def test_a_frame_keeps_the_notebooks_dtypes_and_pandas_parses_dates(
    tmp_path: Path, generated: Any
) -> None:
    """The service rebuilds the notebook's frame, column dtypes included; a date
    column's strings are parsed by pandas, in any form pandas reads (numpy's parser
    would refuse 2024/01/02)."""
    notebook = make_notebook(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport pandas as pd"),
            (
                "code",
                "# nb2svc: predict\n"
                "def predict(df):\n"
                '    return [{"day": int(d.day), "n": int(n)} '
                'for d, n in zip(df["when"], df["n"])]',
            ),
            (
                "code",
                "# nb2svc: example\n"
                'example = pd.DataFrame({"when": pd.to_datetime(["2024-01-01"]), '
                '"n": [1], "kind": pd.Categorical(["a"]), "note": ["x"]})',
            ),
        ],
    )
    out = tmp_path / "svc"
    code, output = run_cli("build", notebook, "-o", out)
    assert code == 0, output
    schemas = generated(out, "schemas")
    pipeline = generated(out, "pipeline")
    body = b'[{"when": "2024/01/02", "n": 2, "kind": "a", "note": "y"}]'
    raw = schemas.to_raw(TypeAdapter(schemas.PredictRequest).validate_json(body))
    assert {c: str(t) for c, t in raw.dtypes.items()} == schemas.DTYPES
    assert pipeline.score(raw) == [{"day": 2, "n": 2}]
