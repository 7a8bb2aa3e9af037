"""The idiom notebooks (tests/notebooks/idioms/, written by make_tagged.py) are real.

Each one runs top to bottom in a fresh python3 kernel (nb2svc's own kernel machinery,
from a scratch copy of the folder), and afterwards the kernel holds what the answer key
EXPECTED says: the model expression gives a fitted object of the stated type, the
companions and decoys exist, the files the notebook saves are there, and a refusal's
candidates were all fitted. What `nb2svc tag` makes of them is tested by the tag tests.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

from nb2svc.capture import KernelFailure, execute_in_kernel, kernel_env

HERE = Path(__file__).resolve().parent
IDIOMS = HERE / "notebooks" / "idioms"

sys.path.insert(0, str(HERE / "notebooks"))
try:
    import make_tagged
finally:
    sys.path.pop(0)

EXPECTED = make_tagged.EXPECTED
INPUT_KINDS = {"record", "frame", "string", "horizon", None}
#: Seconds a notebook may take here; they take 3-10 s on two idle cores (the target is
#: under 20 s), this leaves room for a machine shared with other test runs.
BUDGET = 60.0


def test_idiom_notebooks_match_their_generator() -> None:
    files = make_tagged.render()
    assert {p.name for p in IDIOMS.glob("*.ipynb")} == {
        rel for rel in files if rel.endswith(".ipynb")
    }
    for rel, text in files.items():
        assert (IDIOMS / rel).read_text(
            encoding="utf-8"
        ) == text, f"{rel} is stale: run python tests/notebooks/make_tagged.py"


def test_the_answer_key_covers_every_notebook_consistently() -> None:
    assert len(EXPECTED) >= 15
    assert set(EXPECTED) == {p.stem for p in IDIOMS.glob("*.ipynb")}
    styles = {e.style for e in EXPECTED.values()}
    assert {"course", "kaggle", "messy"} <= styles
    for stem, e in EXPECTED.items():
        assert e.input_kind in INPUT_KINDS, stem
        refuses = e.model is None
        assert (e.model_type is None) == refuses, stem
        assert (e.input_kind is None) == refuses, stem
        assert bool(e.candidates) == refuses, stem
        assert (e.raw_input is None) == refuses, stem
        assert e.note, stem


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_idiom_notebook_is_unmarked_and_has_no_outputs(stem: str) -> None:
    nb = nbformat.read(str(IDIOMS / f"{stem}.ipynb"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    for cell in nb.cells:
        assert "nb2svc" not in cell.source.lower()
        assert not cell.metadata.get("tags")
    for cell in code:
        assert not cell.outputs and cell.execution_count is None
    assert not any(k.startswith("nb2svc") or k == "papermill" for k in nb.metadata)


#: Runs in the kernel after the notebook: checks the answer key against its globals.
CHECK = r"""
def __idiom_check(expected, out_path):
    import importlib
    import json
    import os

    g = globals()
    found = {"missing": [], "problems": []}

    def resolve(path):
        module, _, name = path.rpartition(".")
        return getattr(importlib.import_module(module), name)

    model = None
    if expected["model"] is not None:
        try:
            model = eval(expected["model"], g)
        except Exception as exc:
            found["problems"].append(f"model {expected['model']!r}: {exc!r}")
        else:
            cls = resolve(expected["model_type"])
            found["model_type"] = f"{type(model).__module__}.{type(model).__qualname__}"
            if not isinstance(model, cls):
                found["problems"].append(
                    f"{expected['model']} is a {found['model_type']}, "
                    f"not a {expected['model_type']}"
                )
            try:
                from sklearn.base import BaseEstimator
                from sklearn.utils.validation import check_is_fitted
            except ImportError:
                pass
            else:
                if isinstance(model, BaseEstimator):
                    try:
                        check_is_fitted(model)
                    except Exception as exc:
                        found["problems"].append(f"model not fitted: {exc}")
    if expected["raw_input"] is not None:
        try:
            raw = eval(expected["raw_input"], g)
        except Exception as exc:
            found["problems"].append(f"raw input {expected['raw_input']!r}: {exc!r}")
        else:
            kind = expected["input_kind"]
            import pandas as pd

            ok = {
                "record": isinstance(raw, dict),
                "frame": isinstance(raw, pd.DataFrame) and len(raw) > 0,
                "string": isinstance(raw, list)
                and all(isinstance(t, str) for t in raw),
                "horizon": isinstance(raw, int) and raw > 0,
            }[kind]
            if not ok:
                found["problems"].append(
                    f"raw input {expected['raw_input']} is a {type(raw).__name__}, "
                    f"not {kind} input"
                )
            import numbers

            def kind_of(value):
                return "number" if isinstance(value, numbers.Number) else "text"

            if kind == "frame" and ok:
                columns = [
                    [str(c), "number" if t.kind in "biuf" else "text"]
                    for c, t in raw.dtypes.items()
                ]
            elif kind == "record" and ok:
                columns = [[str(k), kind_of(v)] for k, v in raw.items()]
            else:
                columns = []
            if columns != expected["raw_columns"]:
                found["problems"].append(
                    f"raw input {expected['raw_input']} has the columns {columns}, "
                    f"not {expected['raw_columns']}"
                )
            if kind == "frame" and ok:
                # raw: as new data comes, before the notebook's own encoding
                cast = [str(c) for c, t in raw.dtypes.items() if t.name == "category"]
                if cast:
                    found["problems"].append(
                        f"raw input {expected['raw_input']} is not raw: {cast} are "
                        "categoricals the notebook made"
                    )
    for name in expected["companions"] + expected["decoys"]:
        if name not in g:
            found["missing"].append(name)
    for name in expected["decoys"]:
        if name in g and model is not None and g[name] is model:
            found["problems"].append(f"decoy {name} is the model itself")
    for name in expected["saves"]:
        if not os.path.isfile(name):
            found["missing"].append(name)
    fitted = set()
    for value in list(g.values()):
        values = value.values() if isinstance(value, dict) else [value]
        for v in values:
            if hasattr(v, "fit") or hasattr(v, "fit_predict"):
                fitted.add(type(v).__name__)
    for name in expected["candidates"]:
        if name not in fitted:
            found["missing"].append(name)
    with open(out_path, "w") as f:
        json.dump(found, f)
"""


@pytest.mark.slow
@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_idiom_notebook_runs_and_holds_its_expected_model(
    stem: str, tmp_path: Path
) -> None:
    folder = tmp_path / "idioms"
    folder.mkdir()
    shutil.copy(IDIOMS / f"{stem}.ipynb", folder)
    nb = nbformat.read(str(folder / f"{stem}.ipynb"), as_version=4)
    e = EXPECTED[stem]
    expected: dict[str, Any] = {
        "model": e.model,
        "model_type": e.model_type,
        "raw_input": e.raw_input,
        "input_kind": e.input_kind,
        "raw_columns": [list(c) for c in e.raw_columns],
        "companions": list(e.companions),
        "decoys": list(e.decoys),
        "saves": list(e.saves),
        "candidates": list(e.candidates),
    }
    result = tmp_path / "check.json"
    cells = [
        nbformat.v4.new_code_cell(c.source) for c in nb.cells if c.cell_type == "code"
    ]
    cells.append(
        nbformat.v4.new_code_cell(
            f"{CHECK}\n__idiom_check({expected!r}, {str(result)!r})\n"
        )
    )
    work = tmp_path / "kernel"
    work.mkdir()
    started = time.monotonic()
    try:
        execute_in_kernel(cells, folder, 120, kernel_env(), work)
    except KernelFailure as failure:
        pytest.fail(
            f"{stem}: code cell {failure.index} {failure.kind}: {failure.message} "
            f"(line {failure.line})"
        )
    took = time.monotonic() - started
    found = json.loads(result.read_text(encoding="utf-8"))
    assert found["problems"] == [], found
    assert found["missing"] == [], found
    assert took < BUDGET, f"{stem} took {took:.1f} s"
    # Nothing but the notebook and what the key says it saves.
    written = {p.name for p in folder.iterdir()} - {f"{stem}.ipynb"}
    assert written == set(e.saves)
