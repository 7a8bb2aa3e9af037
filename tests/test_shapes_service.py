"""Input shapes on real built services over uvicorn (issue 15): an array input's
length comes from the notebook's example and the model's ``n_features_in_``, so a
request of the wrong length is a 422 naming the length expected (and the OpenAPI
schema says it); a table input also takes one bare record, as a one-row table.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import CellSpec, assert_lint_clean, make_notebook, run_cli
from tests.service_support import service_env, serving

pytestmark = pytest.mark.slow  # each builds with a kernel and serves with uvicorn

IMPORTS: CellSpec = (
    "code",
    "# nb2svc: imports\nimport numpy as np\nimport pandas as pd\n"
    "from sklearn.datasets import load_iris\n"
    "from sklearn.linear_model import LinearRegression, LogisticRegression",
)
IRIS_LOAD: CellSpec = (
    "code",
    "# nb2svc: load\nX, y = load_iris(return_X_y=True)\n"
    "model = LogisticRegression(max_iter=500).fit(X, y)",
)
IRIS_PREDICT: CellSpec = (
    "code",
    "# nb2svc: predict\ndef predict(x):\n"
    "    return model.predict(np.atleast_2d(x)).tolist()",
)

NOTEBOOKS: dict[str, tuple[CellSpec, ...]] = {
    # One flower (1-D, 4 features): exactly 4 numbers.
    "one_flower": (
        IMPORTS,
        IRIS_LOAD,
        IRIS_PREDICT,
        ("code", "# nb2svc: example\nexample = X[0]"),
    ),
    # Rows of flowers (2-D): any number of rows, 4 numbers each.
    "flower_rows": (
        IMPORTS,
        IRIS_LOAD,
        IRIS_PREDICT,
        ("code", "# nb2svc: example\nexample = X[:3]"),
    ),
    # A window of readings made into 3 features: the model's n_features_in_ (3) is
    # not the example's length (6), so any length is taken.
    "readings": (
        IMPORTS,
        (
            "code",
            "# nb2svc: load\nrng = np.random.default_rng(0)\n"
            "F = rng.normal(size=(50, 3))\n"
            "model = LinearRegression().fit(F, F @ np.array([1.0, 2.0, 3.0]))",
        ),
        (
            "code",
            "# nb2svc: predict\ndef predict(x):\n"
            "    x = np.asarray(x, dtype=float)\n"
            "    features = np.array([[x.mean(), x.std(), x.max()]])\n"
            "    return round(float(model.predict(features)[0]), 6)",
        ),
        (
            "code",
            "# nb2svc: example\nexample = np.array([1.0, 2.0, 4.0, 8.0, 3.0, 1.0])",
        ),
    ),
    # A table: a bare record is a one-row table.
    "table": (
        IMPORTS,
        ("code", "# nb2svc: load\nweights = {'amount': 0.5, 'items': 2.0}"),
        (
            "code",
            "# nb2svc: predict\ndef predict(frame):\n"
            "    scores = frame['amount'] * weights['amount']"
            " + frame['items'] * weights['items']\n"
            "    return scores.round(6).tolist()",
        ),
        (
            "code",
            "# nb2svc: example\nexample = pd.DataFrame("
            "{'amount': [1.5, 20.0], 'items': [2, 1]})",
        ),
    ),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("shapes")
    services = {}
    for name, cells in NOTEBOOKS.items():
        notebook = make_notebook(root / name, cells, f"{name}.ipynb")
        out = root / name / "service"
        code, output = run_cli("build", notebook, "--out", out)
        assert code == 0, output
        services[name] = out
    return services


@pytest.fixture
def client(
    built: dict[str, Path], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[httpx.Client]:
    with (
        serving(built[request.param], tmp_path / "service.log") as service,
        httpx.Client(base_url=service.url, timeout=30, trust_env=False) as http,
    ):
        yield http


def _refused(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    body = response.json()
    details: list[dict[str, Any]] = body["error"]["details"]
    return details


def _body_schema(client: httpx.Client, path: str) -> dict[str, Any]:
    spec = client.get("/openapi.json").json()
    schema: dict[str, Any] = spec["paths"][path]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    return schema


@pytest.mark.parametrize("client", ["one_flower"], indirect=True)
def test_a_flower_is_exactly_four_numbers(client: httpx.Client) -> None:
    ok = client.post("/predict", json=[5.1, 3.5, 1.4, 0.2])
    assert ok.status_code == 200, ok.text
    (short,) = _refused(client.post("/predict", json=[5.1, 3.5, 1.4]))
    assert short["loc"] == ["body"] and short["type"] == "too_short"
    assert "at least 4 items" in short["msg"]
    (long,) = _refused(client.post("/predict", json=[5.1, 3.5, 1.4, 0.2, 9.9]))
    assert long["type"] == "too_long" and "at most 4 items" in long["msg"]
    # In a batch, the item of the wrong length is named.
    (item,) = _refused(client.post("/predict/batch", json=[[1, 2, 3, 4], [1, 2, 3]]))
    assert item["loc"] == ["body", 1] and "at least 4 items" in item["msg"]
    schema = _body_schema(client, "/predict")
    assert (schema["minItems"], schema["maxItems"]) == (4, 4)
    batch = _body_schema(client, "/predict/batch")
    assert (batch["items"]["minItems"], batch["items"]["maxItems"]) == (4, 4)


@pytest.mark.parametrize("client", ["flower_rows"], indirect=True)
def test_rows_of_flowers_take_any_number_of_rows_of_four(client: httpx.Client) -> None:
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5], [1] * 4]
    ok = client.post("/predict", json=rows)
    assert ok.status_code == 200, ok.text
    assert len(ok.json()) == 4
    (row,) = _refused(client.post("/predict", json=[rows[0], [6.7, 3.0, 5.2]]))
    assert row["loc"] == ["body", 1] and "at least 4 items" in row["msg"]
    (empty,) = _refused(client.post("/predict", json=[]))
    assert empty["loc"] == ["body"] and "at least 1 item" in empty["msg"]
    schema = _body_schema(client, "/predict")
    assert schema["minItems"] == 1 and "maxItems" not in schema
    assert (schema["items"]["minItems"], schema["items"]["maxItems"]) == (4, 4)


@pytest.mark.parametrize("client", ["readings"], indirect=True)
def test_a_window_the_notebook_makes_features_of_takes_any_length(
    client: httpx.Client,
) -> None:
    for window in ([1.0, 2.0, 4.0, 8.0, 3.0, 1.0], [2.0, 2.5], list(range(30))):
        response = client.post("/predict", json=window)
        assert response.status_code == 200, response.text
    (empty,) = _refused(client.post("/predict", json=[]))
    assert "at least 1 item" in empty["msg"]
    assert "maxItems" not in _body_schema(client, "/predict")


@pytest.mark.parametrize("client", ["table"], indirect=True)
def test_a_bare_record_is_a_one_row_table(client: httpx.Client) -> None:
    record = {"amount": 3.2, "items": 4}
    as_list = client.post("/predict", json=[record])
    assert as_list.status_code == 200, as_list.text
    bare = client.post("/predict", json=record)
    assert bare.status_code == 200, bare.text
    assert bare.json() == as_list.json() == [9.6]
    batch = client.post("/predict/batch", json=[record, [record, record]])
    assert batch.status_code == 200, batch.text
    assert batch.json() == [[9.6], [9.6, 9.6]]
    # A bare record's errors are located in the record, not in a row 0 it lacks.
    errors = _refused(client.post("/predict", json={"amount": "x", "extra": 1}))
    assert sorted(tuple(e["loc"]) for e in errors) == [
        ("body", "amount"),
        ("body", "extra"),
        ("body", "items"),
    ]
    (row,) = _refused(client.post("/predict", json=[record, {"amount": 1.0}]))
    assert row["loc"] == ["body", 1, "items"]
    schema = _body_schema(client, "/predict")
    array, one = schema["anyOf"]
    assert array["type"] == "array" and array["minItems"] == 1
    assert one == array["items"] == {"$ref": "#/components/schemas/Record"}


def test_the_generated_readme_and_code_say_so(
    built: dict[str, Path], tmp_path: Path
) -> None:
    readme = " ".join((built["table"] / "README.md").read_text().split())
    assert "One bare record, an object not in an array, is taken as a one-row" in readme
    flower = " ".join((built["one_flower"] / "README.md").read_text().split())
    assert "An input is exactly 4 numbers" in flower
    rows = " ".join((built["flower_rows"] / "README.md").read_text().split())
    assert "An input is one or more rows, each of exactly 4 numbers" in rows
    for name in ("one_flower", "table"):
        assert_lint_clean(built[name], tmp_path / name)


def test_a_rebuild_from_the_cached_capture_keeps_the_shape(
    built: dict[str, Path],
) -> None:
    """The model's n_features_in_ is kept with the captured examples: a rebuild that
    reuses them (no kernel) writes the same schema, so --check finds no drift."""
    out = built["readings"]
    golden = (out / "tests/golden/examples.json").read_text()
    assert '"n_features": 3' in golden
    notebook = out.parent / "readings.ipynb"
    code, output = run_cli("build", notebook, "--out", out, "--check")
    assert code == 0, output
    assert "Shape(None)" in (out / "src/readings/schemas.py").read_text()


def test_a_file_of_the_wrong_width_is_refused_before_scoring(
    built: dict[str, Path], tmp_path: Path
) -> None:
    """``score`` on the 4-feature service: a file of 3 value columns is exit 2 naming
    the width, not 100 rejected rows; rows of 4 are scored as /predict scores them."""
    out = built["one_flower"]
    narrow = tmp_path / "narrow.csv"
    narrow.write_text("id,a,b,c\n1,5.1,3.5,1.4\n")
    wide = tmp_path / "wide.csv"
    wide.write_text("id,a,b,c,d\n1,5.1,3.5,1.4,0.2\n2,6.7,3.0,5.2,2.3\n")
    results = {}
    for source in (narrow, wide):
        results[source.stem] = subprocess.run(
            [sys.executable, "-m", "one_flower", "score", str(source), "-o",
             str(tmp_path / f"{source.stem}.jsonl"), "--keep", "id", "-q"],
            capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False,
            env=service_env(out),
        )  # fmt: skip
    assert results["narrow"].returncode == 2, results["narrow"].stderr
    assert "exactly 4 numbers" in results["narrow"].stderr
    assert "it has 3: a, b, c" in results["narrow"].stderr
    assert not (tmp_path / "narrow.jsonl").exists()
    assert results["wide"].returncode == 0, results["wide"].stderr
    scored = (tmp_path / "wide.jsonl").read_text().splitlines()
    assert len(scored) == 2
