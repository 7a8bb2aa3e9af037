"""Vectorised batches for every input kind (issue 15): the build calls the notebook's
pipeline once on every example combined (a DataFrame, a 2-D array, a list of texts, a
list of records), keeps one call per batch where that answers what the per-item calls
answered, and says so (NB604 and /metadata) where it falls back to one call per item.

The notebooks count their pipeline calls in the file ``CALLS_ENV`` names: the running
service's own calls, not a mock's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import CellSpec, assert_lint_clean, make_notebook, run_cli
from tests.service_support import serving

CALLS_ENV = "VECTORISED_BATCH_CALLS"

COUNTER = f"""
def _count_call(size):
    path = os.environ.get({CALLS_ENV!r})
    if path:
        with open(path, "a", encoding="utf-8") as sink:
            sink.write(f"{{size}}\\n")
"""

NOTEBOOKS: dict[str, tuple[CellSpec, ...]] = {
    # One row per example; the model takes a 2-D array: one output per row.
    "array_model": (
        ("code", "# nb2svc: imports\nimport os\n\nimport numpy as np"),
        (
            "code",
            "# nb2svc: predict\n" + COUNTER + "\n\ndef predict(x):\n"
            "    rows = np.atleast_2d(x)\n"
            "    _count_call(len(rows))\n"
            "    return (rows @ np.array([0.5, -1.0, 2.0])).round(6).tolist()\n",
        ),
        (
            "code",
            "# nb2svc: example\nexamples = [\n"
            "    np.array([1.0, 2.0, 3.0]),\n"
            "    np.array([0.0, -1.0, 0.5]),\n"
            "    np.array([2.5, 0.0, -1.0]),\n]",
        ),
    ),
    # A text, or a list of texts: one label each.
    "text_model": (
        ("code", "# nb2svc: imports\nimport os"),
        (
            "code",
            "# nb2svc: predict\n" + COUNTER + "\n\ndef predict(text):\n"
            "    texts = [text] if isinstance(text, str) else list(text)\n"
            "    _count_call(len(texts))\n"
            '    labels = ["long" if len(t.split()) > 3 else "short" for t in texts]\n'
            "    return labels[0] if isinstance(text, str) else labels\n",
        ),
        (
            "code",
            "# nb2svc: example\nexamples = [\n"
            '    "refund my order please",\n'
            '    "hello",\n'
            '    "the parcel arrived broken and late",\n]',
        ),
    ),
    # A record, or a list of records: one score each.
    "record_model": (
        ("code", "# nb2svc: imports\nimport os"),
        (
            "code",
            "# nb2svc: predict\n" + COUNTER + "\n\ndef predict(record):\n"
            "    records = [record] if isinstance(record, dict) else list(record)\n"
            "    _count_call(len(records))\n"
            '    scores = [{"score": r["amount"] * 2 + r["items"]} for r in records]\n'
            "    return scores[0] if isinstance(record, dict) else scores\n",
        ),
        (
            "code",
            "# nb2svc: example\nexamples = [\n"
            '    {"amount": 1.5, "items": 2},\n'
            '    {"amount": 10.0, "items": 1},\n'
            '    {"amount": 0.25, "items": 7},\n]',
        ),
    ),
    # One record only: a list of records makes it fail, so batches go item by item.
    "single_record": (
        ("code", "# nb2svc: imports\nimport os"),
        (
            "code",
            "# nb2svc: predict\n" + COUNTER + "\n\ndef predict(record):\n"
            "    _count_call(1)\n"
            '    return {"score": record["amount"] * 2 + record["items"]}\n',
        ),
        (
            "code",
            "# nb2svc: example\nexamples = [\n"
            '    {"amount": 1.5, "items": 2},\n'
            '    {"amount": 10.0, "items": 1},\n]',
        ),
    ),
}

BATCHES: dict[str, list[Any]] = {
    "array_model": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [2.0, 2.0, 2.0]],
    "text_model": ["a b c d e", "short one", "one two three four", "x"],
    "record_model": [
        {"amount": 1.0, "items": 1},
        {"amount": 2.0, "items": 0},
        {"amount": 0.5, "items": 3},
    ],
    "single_record": [{"amount": 1.0, "items": 1}, {"amount": 3.0, "items": 2}],
}


def _batch_verdict(items: list[Any], kind: str, run: Any) -> dict[str, Any]:
    """The kernel's verdict (capture.py's ``__nb2svc_batch``), run here on ``items``."""
    from nb2svc.capture.kernel_code import kernel_source
    from nb2svc_runtime.jsonable import to_jsonable

    namespace: dict[str, Any] = {}
    exec(kernel_source("capture"), namespace)
    outputs = [to_jsonable(run(item)) for item in items]
    verdict: dict[str, Any] = namespace["__nb2svc_batch"](
        items, kind, outputs, run, to_jsonable
    )
    return verdict


def _rows_model(x: Any) -> Any:
    import numpy as np

    return (np.atleast_2d(x) @ np.array([1.0, 2.0])).tolist()


def _scalar_or_list(x: Any) -> Any:
    import numpy as np

    sums = np.asarray(x).sum(axis=-1)
    return sums.tolist()


def test_verdicts_for_every_kind() -> None:
    import numpy as np
    import pandas as pd

    rows = [np.array([1.0, 2.0]), np.array([3.0, -1.0])]
    assert _batch_verdict(rows, "array", _rows_model)["split"] == "rows"
    assert _batch_verdict(rows, "array", _scalar_or_list) == {
        "vectorised": True,
        "split": "item",
        "reason": "",
    }
    # 2-D examples are stacked with vstack and split by their rows.
    blocks = [np.array([[1.0, 2.0], [0.0, 1.0]]), np.array([[3.0, -1.0]])]
    assert _batch_verdict(blocks, "array", _rows_model)["vectorised"] is True
    frames = [pd.DataFrame({"a": [1, 2]}), pd.DataFrame({"a": [3]})]
    assert _batch_verdict(frames, "frame", lambda f: (f["a"] * 2).tolist()) == {
        "vectorised": True,
        "split": "rows",
        "reason": "",
    }
    # A frame model whose answer depends on the whole frame: not the per-item answer.
    mean = _batch_verdict(frames, "frame", lambda f: (f["a"] - f["a"].mean()).tolist())
    assert mean["vectorised"] is False
    assert "differs from the per-item outputs" in mean["reason"]
    # One summary for the whole input: not one item per row.
    total = _batch_verdict(["a b", "c"], "string", lambda t: len(t))
    assert total == {
        "vectorised": False,
        "split": "item",
        "reason": "the pipeline's output on one list of texts is not one item per row",
    }
    lists = _batch_verdict([[1.0, 2.0], [3.0, 4.0]], "array", _rows_model)
    assert lists["reason"] == "the examples are lists, not numpy arrays"
    assert _batch_verdict([{"a": 1}], "json", lambda x: x)["vectorised"] is False


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """Each notebook's service folder and the build's output (in-process CLI)."""
    root = tmp_path_factory.mktemp("vectorised")
    services: dict[str, tuple[Path, str]] = {}
    for name, cells in NOTEBOOKS.items():
        notebook = make_notebook(root / name, cells, f"{name}.ipynb")
        out = root / name / "service"
        code, output = run_cli("build", notebook, "--out", out)
        assert code == 0, output
        services[name] = (out, output)
    return services


def _verdict(out: Path) -> dict[str, Any]:
    golden = json.loads((out / "tests/golden/examples.json").read_text("utf-8"))
    verdict: dict[str, Any] = golden["nb2svc"]["batch"]
    return verdict


@pytest.mark.slow  # runs a kernel
@pytest.mark.parametrize(
    ("name", "split"),
    [("array_model", "rows"), ("text_model", "item"), ("record_model", "item")],
)
def test_the_build_vectorises_a_pipeline_that_takes_a_batch(
    built: dict[str, tuple[Path, str]], name: str, split: str
) -> None:
    out, output = built[name]
    assert _verdict(out) == {"vectorised": True, "split": split, "reason": ""}
    assert "NB604" not in output
    pipeline = next((out / "src").glob("*/pipeline.py")).read_text("utf-8")
    assert "one vectorised pipeline call" in pipeline
    readme = (out / "README.md").read_text("utf-8")
    assert "(one vectorised pipeline call per batch)" in readme


@pytest.mark.slow  # runs a kernel
def test_the_build_falls_back_and_says_so(
    built: dict[str, tuple[Path, str]],
) -> None:
    out, output = built["single_record"]
    verdict = _verdict(out)
    assert verdict == {
        "vectorised": False,
        "split": "item",
        "reason": "the pipeline failed on one list of records (TypeError)",
    }
    assert "NB604" in output
    assert "batches are scored one item at a time" in " ".join(output.split())
    pipeline = next((out / "src").glob("*/pipeline.py")).read_text("utf-8")
    assert "one pipeline call each" in pipeline
    readme = (out / "README.md").read_text("utf-8")
    assert "(one pipeline call per input: the notebook's functions" in readme


@pytest.mark.slow  # runs a kernel
@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_the_generated_batch_code_is_lint_clean_and_typed(
    built: dict[str, tuple[Path, str]], tmp_path: Path, name: str
) -> None:
    out, _ = built[name]
    assert_lint_clean(out, tmp_path)


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "calls.txt"
    monkeypatch.setenv(CALLS_ENV, str(path))
    yield path


def _sizes(path: Path) -> list[int]:
    if not path.is_file():
        return []
    return [int(line) for line in path.read_text("utf-8").split()]


@pytest.mark.slow  # runs a kernel and a uvicorn service
@pytest.mark.parametrize(
    ("name", "vectorised"),
    [
        ("array_model", True),
        ("text_model", True),
        ("record_model", True),
        ("single_record", False),
    ],
)
def test_a_batch_answers_what_each_item_answers(
    built: dict[str, tuple[Path, str]],
    tmp_path: Path,
    calls: Path,
    name: str,
    vectorised: bool,
) -> None:
    out, _ = built[name]
    items = BATCHES[name]
    with (
        serving(out, tmp_path / "service.log") as service,
        httpx.Client(base_url=service.url, timeout=30, trust_env=False) as client,
    ):
        singles = []
        for item in items:
            response = client.post("/predict", json=item)
            assert response.status_code == 200, response.text
            singles.append(response.json())
        assert _sizes(calls) == [1] * len(items)
        calls.unlink()
        response = client.post("/predict/batch", json=items)
        assert response.status_code == 200, response.text
        assert response.json() == singles
        # One call on the whole batch, or one call per item.
        assert _sizes(calls) == ([len(items)] if vectorised else [1] * len(items))
        metadata = client.get("/metadata").json()
    assert metadata["batch"] == {"vectorised": vectorised}
    assert os.environ[CALLS_ENV] == str(calls)
