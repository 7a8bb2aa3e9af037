"""A notebook's config may hold lists and dicts: the generated settings stay lint-clean
(no mutable class attribute, ruff RUF012) and an environment variable still sets them
(as JSON, the way pydantic-settings reads a complex field)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import httpx
import pytest

from tests.helpers import assert_lint_clean, make_notebook, run_module
from tests.service_support import golden_examples, serving

pytestmark = pytest.mark.slow

CELLS = [
    ("code", "# nb2svc: imports\nimport pandas as pd"),
    (
        "code",
        "# nb2svc: config\n"
        "FEATURES = ['amount', 'hour']\n"
        "WEIGHTS = {'amount': 0.5, 'hour': 2.0}\n"
        "LIMIT = 10.0",
    ),
    (
        "code",
        "# nb2svc: predict\n"
        "def predict(df: pd.DataFrame) -> list:\n"
        "    scores = sum(df[name] * WEIGHTS[name] for name in FEATURES)\n"
        "    return [min(float(s), LIMIT) for s in scores]",
    ),
    (
        "code",
        "# nb2svc: example\n"
        "example = pd.DataFrame({'amount': [2.0, 40.0], 'hour': [1, 3]})",
    ),
]


def test_list_and_dict_config_values_build_a_clean_service(tmp_path: Path) -> None:
    notebook = make_notebook(tmp_path, CELLS, name="collections.ipynb")
    out = tmp_path / "out"
    proc = run_module("build", notebook, "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    (settings_py,) = out.glob("src/*/settings.py")
    fields = {
        node.target.id: node.value
        for cls in ast.parse(settings_py.read_text(encoding="utf-8")).body
        if isinstance(cls, ast.ClassDef) and cls.name == "Settings"
        for node in cls.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }
    # The collections go through Field(...) with the notebook's value; a scalar stays bare.
    for name, expected in (
        ("features", ["amount", "hour"]),
        ("weights", {"amount": 0.5, "hour": 2.0}),
    ):
        value = fields[name]
        assert isinstance(value, ast.Call) and ast.unparse(value.func) == "Field"
        assert ast.literal_eval(value.args[0]) == expected
    assert ast.literal_eval(fields["limit"]) == 10.0

    assert_lint_clean(out, tmp_path)

    (example,) = golden_examples(out)
    logs = tmp_path / "logs"
    logs.mkdir()
    with serving(out, logs / "default.log") as service:
        answer = httpx.post(
            f"{service.url}/predict", json=example["input"], timeout=30, trust_env=False
        )
    assert answer.status_code == 200, answer.text
    assert answer.json() == [3.0, 10.0]
    # Set from the environment, as JSON: only "hour" counts now.
    with serving(
        out,
        logs / "env.log",
        features=json.dumps(["hour"]),
        weights=json.dumps({"hour": 1.0}),
    ) as service:
        answer = httpx.post(
            f"{service.url}/predict", json=example["input"], timeout=30, trust_env=False
        )
    assert answer.status_code == 200, answer.text
    assert answer.json() == [1.0, 3.0]
