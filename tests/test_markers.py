"""mark_cells: the marker grammar (tags, directives, papermill) and its diagnostics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from nb2svc.errors import Diagnostic, Severity
from nb2svc.model import MarkedCell, Role
from nb2svc.notebook.markers import mark_cells
from nb2svc.notebook.reader import read_notebook
from tests.helpers import CellSpec, make_notebook


def marks(
    tmp_path: Path, cells: Sequence[CellSpec]
) -> tuple[list[MarkedCell], list[Diagnostic]]:
    nb, _ = read_notebook(make_notebook(tmp_path, cells, "model.ipynb"))
    return mark_cells(nb)


def only(problems: list[Diagnostic]) -> Diagnostic:
    assert len(problems) == 1, [str(p) for p in problems]
    assert problems[0].severity is Severity.ERROR
    return problems[0]


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_tag_and_directive_mean_the_same(tmp_path: Path, role: Role) -> None:
    body = "x = 1\ny = 2\n"
    marked, problems = marks(
        tmp_path,
        [
            ("code", body, [f"nb2svc:{role.value}"]),
            ("code", f"# nb2svc: {role.value}\n{body}"),
        ],
    )
    assert problems == []
    tagged, directed = marked
    assert tagged.role is directed.role is role
    assert tagged.code == body
    # The directive line is blanked, not removed: line numbers still match the cell.
    assert directed.code == "\n" + body
    assert [m.cell.index for m in marked] == [0, 1]


def test_forms_mix_in_one_notebook_and_on_one_cell(tmp_path: Path) -> None:
    marked, problems = marks(
        tmp_path,
        [
            ("code", "import math", ["nb2svc:imports"]),
            ("code", "# nb2svc: predict\ndef predict(x):\n    return x"),
            ("code", "# nb2svc: example\nexample = 1", ["nb2svc:example"]),
            ("code", "plt.plot()", ["hide-input", "remove-output"]),
        ],
    )
    assert problems == []
    assert [m.role for m in marked] == [Role.IMPORTS, Role.PREDICT, Role.EXAMPLE, None]


@pytest.mark.parametrize(
    "line",
    ["#nb2svc:predict", "  #   nb2svc :  predict  ", "# nb2svc: predict   "],
)
def test_directive_spacing_is_forgiving(tmp_path: Path, line: str) -> None:
    marked, problems = marks(tmp_path, [("code", f"{line}\ndef predict(x): ...")])
    assert problems == []
    assert marked[0].role is Role.PREDICT


def test_directive_only_on_the_first_non_blank_line(tmp_path: Path) -> None:
    marked, problems = marks(
        tmp_path,
        [
            ("code", "\n\n# nb2svc: load\nmodel = 1"),
            ("code", "model = 1\n# nb2svc: load"),
        ],
    )
    assert problems == []
    assert marked[0].role is Role.LOAD
    assert marked[0].code == "\n\n\nmodel = 1"
    assert marked[1].role is None  # a comment further down is just a comment
    assert marked[1].code == "model = 1\n# nb2svc: load"


def test_unmarked_cells_and_other_tags_are_not_exported(tmp_path: Path) -> None:
    marked, problems = marks(
        tmp_path,
        [("code", "model.fit(X, y)", ["parameters-ish", "nb2svc"]), ("markdown", "x")],
    )
    assert problems == []
    assert [m.role for m in marked] == [None, None]
    assert marked[1].code == ""


def test_papermill_parameters_tag_is_config(tmp_path: Path) -> None:
    marked, problems = marks(
        tmp_path,
        [
            ("code", "THRESHOLD = 0.7", ["parameters"]),
            ("code", "LIMIT = 3", ["parameters", "nb2svc:config"]),
            ("code", "# nb2svc: config\nRATE = 0.1", ["parameters"]),
        ],
    )
    assert problems == []
    assert [m.role for m in marked] == [Role.CONFIG] * 3


@pytest.mark.parametrize(
    "cell",
    [
        ("code", "# nb2svc: predict\ndef predict(x): ...", ["nb2svc:skip"]),
        ("code", "# nb2svc: skip\ndef predict(x): ...", ["nb2svc:predict"]),
        ("code", "x = 1", ["nb2svc:skip", "nb2svc:load", "nb2svc:config"]),
        ("code", "x = 1", ["nb2svc:skip", "parameters"]),
        ("code", "# nb2svc: skip artifacts=model.joblib\nx = 1"),
    ],
)
def test_skip_wins_over_every_other_marker(tmp_path: Path, cell: CellSpec) -> None:
    marked, problems = marks(tmp_path, [cell])
    assert problems == []
    assert marked[0].role is Role.SKIP


def test_two_roles_on_one_cell(tmp_path: Path) -> None:
    marked, problems = marks(
        tmp_path,
        [
            ("code", "x = 1"),
            ("code", "\n# nb2svc: load\nmodel = 1", ["nb2svc:predict"]),
        ],
    )
    problem = only(problems)
    assert problem.code == "NB104"
    assert (problem.location.cell, problem.location.line) == (1, 2)
    assert "several roles: load, predict" in problem.message
    assert str(problem).startswith("model.ipynb: cell 2 (id=cell-1): line 2: error")
    assert marked[1].role is None


def test_two_role_tags(tmp_path: Path) -> None:
    _, problems = marks(tmp_path, [("code", "x", ["nb2svc:load", "nb2svc:helpers"])])
    problem = only(problems)
    assert problem.code == "NB104" and problem.location.line is None


@pytest.mark.parametrize(
    ("tag", "suggestion"),
    [
        ("nb2svc:predcit", "predict"),
        ("nb2svc:imports ", "imports"),  # trailing space is stripped, no error
        ("nb2svc:import", "imports"),
        ("nb2svc:preprocessing", "preprocess"),
        ("nb2svc:helper", "helpers"),
        ("nb2svc:Load", "load"),
    ],
)
def test_unknown_role_tag_with_did_you_mean(
    tmp_path: Path, tag: str, suggestion: str
) -> None:
    marked, problems = marks(tmp_path, [("code", "x = 1"), ("code", "x = 2", [tag])])
    if tag.strip() == f"nb2svc:{suggestion}":
        assert problems == [] and marked[1].role is Role(suggestion)
        return
    problem = only(problems)
    assert problem.code == "NB101"
    assert problem.location.cell == 1 and problem.location.line is None
    assert f"unknown nb2svc role '{tag.removeprefix('nb2svc:')}'" in problem.message
    assert problem.hint == f"did you mean '{suggestion}'?"
    assert f"did you mean '{suggestion}'?" in str(problem)
    assert marked[1].role is None


def test_unknown_role_directive_names_its_line(tmp_path: Path) -> None:
    _, problems = marks(tmp_path, [("code", "\n\n# nb2svc: lod\nmodel = 1")])
    problem = only(problems)
    assert problem.code == "NB101"
    assert (problem.location.cell, problem.location.line) == (0, 3)
    assert problem.hint == "did you mean 'load'?"
    assert "model.ipynb: cell 1 (id=cell-0): line 3: " in str(problem)


def test_far_off_role_lists_the_roles_instead(tmp_path: Path) -> None:
    _, problems = marks(tmp_path, [("code", "x", ["nb2svc:banana"])])
    problem = only(problems)
    assert problem.hint is not None
    assert "did you mean" not in problem.hint
    assert all(r.value in problem.hint for r in Role)


def test_directive_without_role(tmp_path: Path) -> None:
    _, problems = marks(tmp_path, [("code", "# nb2svc:\nx = 1")])
    problem = only(problems)
    assert problem.code == "NB102" and problem.location.line == 1


@pytest.mark.parametrize("kind", ["markdown", "raw"])
def test_role_on_a_non_code_cell(tmp_path: Path, kind: str) -> None:
    marked, problems = marks(
        tmp_path,
        [
            (kind, "Model notes", ["nb2svc:helpers"]),
            (kind, "# nb2svc: predict\nThe model predicts churn."),
        ],
    )
    assert [p.code for p in problems] == ["NB105", "NB105"]
    assert [p.location.cell for p in problems] == [0, 1]
    assert f"role 'helpers' on a {kind} cell" in problems[0].message
    assert f"role 'predict' on a {kind} cell" in problems[1].message
    assert [m.role for m in marked] == [None, None]


def test_markdown_heading_is_not_a_directive(tmp_path: Path) -> None:
    marked, problems = marks(tmp_path, [("markdown", "# Model\nnb2svc: predict")])
    assert problems == [] and marked[0].role is None


def test_artifacts_by_directive_and_by_tag_agree(tmp_path: Path) -> None:
    marked, problems = marks(
        tmp_path,
        [
            ("code", "# nb2svc: load artifacts=model.joblib,data/vocab.json\nm = 1"),
            (
                "code",
                "m = 1",
                [
                    "nb2svc:load",
                    "nb2svc:artifact=model.joblib",
                    "nb2svc:artifact=data/vocab.json",
                ],
            ),
        ],
    )
    assert problems == []
    assert {m.artifacts for m in marked} == {("model.joblib", "data/vocab.json")}
    assert {m.role for m in marked} == {Role.LOAD}


def test_artifact_spelling_is_forgiving_both_ways(tmp_path: Path) -> None:
    """The tag says artifact=, the directive artifacts=; each accepts the other."""
    marked, problems = marks(
        tmp_path,
        [
            ("code", "# nb2svc: load artifact=model.joblib\nm = 1"),
            ("code", "m = 1", ["nb2svc:load", "nb2svc:artifacts=model.joblib"]),
        ],
    )
    assert problems == []
    assert [m.artifacts for m in marked] == [("model.joblib",), ("model.joblib",)]


def test_duplicate_artifacts_are_declared_once(tmp_path: Path) -> None:
    marked, _ = marks(
        tmp_path,
        [
            (
                "code",
                "# nb2svc: load artifacts=a.bin,a.bin\nm = 1",
                ["nb2svc:artifact=a.bin"],
            )
        ],
    )
    assert marked[0].artifacts == ("a.bin",)


def test_unknown_directive_option_is_an_error(tmp_path: Path) -> None:
    """An ignored option would fail silently: a misspelt artifacts= ships no model."""
    _, problems = marks(
        tmp_path, [("code", "# nb2svc: load artefacts=m.joblib\nm = 1")]
    )
    problem = only(problems)
    assert problem.code == "NB107"
    assert problem.location.line == 1
    assert "'artefacts'" in problem.message


def test_directive_option_must_be_key_value(tmp_path: Path) -> None:
    _, problems = marks(tmp_path, [("code", "# nb2svc: load model.joblib\nm = 1")])
    problem = only(problems)
    assert problem.code == "NB103" and problem.location.line == 1


@pytest.mark.parametrize(
    "cell",
    [
        ("code", "# nb2svc: predict artifacts=model.joblib\ndef predict(x): ..."),
        ("code", "def predict(x): ...", ["nb2svc:predict", "nb2svc:artifact=m.joblib"]),
        ("code", "m = 1", ["nb2svc:artifact=m.joblib"]),  # unmarked
    ],
)
def test_artifacts_on_a_cell_that_is_not_load(tmp_path: Path, cell: CellSpec) -> None:
    _, problems = marks(tmp_path, [cell])
    problem = only(problems)
    assert problem.code == "NB106"
    assert problem.location.cell == 0
    assert "not a load cell" in problem.message


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    _, problems = marks(
        tmp_path,
        [
            ("code", "x", ["nb2svc:predcit"]),
            ("markdown", "y", ["nb2svc:load"]),
            ("code", "# nb2svc: lod\nz = 1"),
        ],
    )
    assert [(p.code, p.location.cell) for p in problems] == [
        ("NB101", 0),
        ("NB105", 1),
        ("NB101", 2),
    ]
