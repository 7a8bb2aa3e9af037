"""The ``reference`` role: marking, analysis, and the profile built at build time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nb2svc.analysis import analyse
from nb2svc.api import REFERENCE_PROFILE, BuildOptions, build
from nb2svc.errors import ContractError, NotebookExecutionError, Severity
from nb2svc.model import Role
from nb2svc.notebook.markers import mark_cells
from nb2svc.notebook.reader import read_notebook
from tests.helpers import IMPORTS_CELL, TINY, CellSpec, make_notebook

TRAINING: CellSpec = (
    "code",
    "import random\n"
    "rng = random.Random(0)\n"
    "train = [{'a': rng.gauss(0, 1), 'c': rng.choice('xyz')} for _ in range(400)]",
)
PREDICT: CellSpec = (
    "code",
    "# nb2svc: predict\n"
    "def predict(x: dict) -> dict:\n"
    "    return {'y': x['a'] * 2, 'label': x['c']}",
)
EXAMPLE: CellSpec = ("code", "# nb2svc: example\nexample = {'a': 1.5, 'c': 'x'}")
REFERENCE: CellSpec = ("code", "# nb2svc: reference\n%time 1\nreference = train")
NOTEBOOK: tuple[CellSpec, ...] = (IMPORTS_CELL, TRAINING, PREDICT, EXAMPLE, REFERENCE)


def analysed(tmp_path: Path, cells: tuple[CellSpec, ...]) -> tuple[list[str], Any]:
    nb, _ = read_notebook(make_notebook(tmp_path, cells))
    marked, problems = mark_cells(nb)
    analysis = analyse(nb, marked, "NB_")
    codes = [d.code for d in [*problems, *analysis.diagnostics]]
    return codes, analysis


def profile_of(out: Path, package: str = "nb") -> dict[str, Any]:
    path = out / "src" / package / "artifacts" / REFERENCE_PROFILE
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def test_reference_is_a_role_run_only_in_the_kernel(tmp_path: Path) -> None:
    codes, analysis = analysed(tmp_path, NOTEBOOK)
    assert codes == []  # %time is fine: the cell is never exported
    assert analysis.reference_cell is not None
    assert analysis.reference_cell.marked.role is Role.REFERENCE
    assert analysis.reference_needs_notebook  # uses 'train'
    exported = {b.role for b in analysis.blocks}
    assert Role.REFERENCE not in exported


def test_reference_cell_problems_are_reported(tmp_path: Path) -> None:
    two = (*NOTEBOOK, ("code", "# nb2svc: reference\nreference = train[:10]"))
    assert "NB315" in analysed(tmp_path / "two", two)[0]
    unassigned = (*TINY, ("code", "# nb2svc: reference\nref = [1]"))
    assert "NB316" in analysed(tmp_path / "none", unassigned)[0]
    nb, _ = read_notebook(
        make_notebook(
            tmp_path / "typo", [*TINY, ("code", "x = 1", ["nb2svc:refrence"])]
        )
    )
    (problem,) = mark_cells(nb)[1]
    assert problem.hint == "did you mean 'reference'?"


def test_build_packages_a_profile_not_the_rows(tmp_path: Path) -> None:
    notebook = make_notebook(tmp_path, NOTEBOOK)
    result = build(BuildOptions(notebook, tmp_path / "out"))
    assert result.executed
    out = tmp_path / "out"
    profile = profile_of(out)
    assert profile["rows"] == profile["prediction_rows"] == 400
    features = profile["features"]
    assert sorted(features) == ["a", "c"]
    assert features["a"]["kind"] == "numeric"
    assert set(features["c"]["frequencies"]) == {"x", "y", "z"}
    assert sorted(profile["predictions"]) == ["label", "y"]
    # Sorted keys, one deterministic text; hashed like the other artifacts.
    text = (out / "src/nb/artifacts" / REFERENCE_PROFILE).read_text()
    assert text == json.dumps(profile, sort_keys=True, indent=1) + "\n"
    manifest = json.loads((out / "nb2svc.json").read_text())
    assert REFERENCE_PROFILE in manifest["artifacts"]
    assert REFERENCE_PROFILE in (out / "src/nb/_artifacts.py").read_text()
    assert "reference = " not in (out / "src/nb/pipeline.py").read_text()
    requirements = (out / "pyproject.toml").read_text()
    assert '"scipy==' in requirements and '"prometheus-client==' in requirements

    # Unchanged: rebuilt from the cache, same bytes, no kernel.
    again = build(BuildOptions(notebook, out))
    assert not again.executed and again.changes == []
    # Another reference: another profile.
    other = make_notebook(
        tmp_path / "other",
        (*NOTEBOOK[:-1], ("code", "# nb2svc: reference\nreference = train[:100]")),
        name="nb.ipynb",
    )
    build(BuildOptions(other, tmp_path / "other-out"))
    assert profile_of(tmp_path / "other-out")["rows"] == 100


def test_without_reference_no_profile_and_no_scipy(tmp_path: Path) -> None:
    build(BuildOptions(make_notebook(tmp_path, TINY), tmp_path / "out"))
    out = tmp_path / "out"
    assert not (out / "src/nb/artifacts" / REFERENCE_PROFILE).exists()
    requirements = (out / "pyproject.toml").read_text()
    assert '"prometheus-client==' in requirements
    assert "scipy" not in requirements
    assert "MODEL = ModelSpec()" in (out / "src/nb/app.py").read_text()


def test_reference_columns_outside_the_inputs_are_left_out_with_a_warning(
    tmp_path: Path,
) -> None:
    cells = (
        *NOTEBOOK[:-1],
        ("code", "# nb2svc: reference\nreference = [{**r, 'label': 1} for r in train]"),
    )
    result = build(BuildOptions(make_notebook(tmp_path, cells), tmp_path / "out"))
    (warning,) = [d for d in result.diagnostics if d.code == "NB603"]
    assert warning.severity is Severity.WARNING
    assert "label" in warning.message and warning.location.cell == 4
    assert sorted(profile_of(tmp_path / "out")["features"]) == ["a", "c"]


def test_reference_the_pipeline_cannot_score_names_the_reference_cell(
    tmp_path: Path,
) -> None:
    cells = (*NOTEBOOK[:-1], ("code", "# nb2svc: reference\nreference = [{'b': 1}]"))
    with pytest.raises(NotebookExecutionError) as caught:
        build(BuildOptions(make_notebook(tmp_path, cells), tmp_path / "out"))
    (problem,) = caught.value.diagnostics
    assert problem.code == "NB602"
    assert problem.location.cell == 4
    assert "KeyError" in problem.message


def test_an_artifact_may_not_take_the_profile_s_name(tmp_path: Path) -> None:
    (tmp_path / REFERENCE_PROFILE).write_text("{}")
    cells = (
        IMPORTS_CELL,
        ("code", f"# nb2svc: load artifacts={REFERENCE_PROFILE}\nmodel = 1"),
        *NOTEBOOK[1:],
    )
    with pytest.raises(ContractError) as caught:
        build(BuildOptions(make_notebook(tmp_path, cells), tmp_path / "out"))
    assert [d.code for d in caught.value.diagnostics] == ["NB403"]
