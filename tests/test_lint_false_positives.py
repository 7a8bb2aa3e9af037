"""Lint without false alarms (issue 13, item 6): a printed float is not a card number,
`%%capture out` defines `out`, one broken cell does not make every name it defines
"used before defined", and a failed notebook run is reported first, with exit 4."""

from __future__ import annotations

from pathlib import Path

from nb2svc.errors import ExitCode
from nb2svc.lint import lint_notebook
from tests.helpers import make_notebook, run_cli
from tests.test_lint import saved_notebook, stream, unmarked


def hidden_names(path: Path) -> list[tuple[int | None, str]]:
    return [
        (d.location.cell, d.message.split("'")[1])
        for d in lint_notebook(path).diagnostics
        if d.code == "NB1102"
    ]


# --- card numbers ----------------------------------------------------------------------


def test_the_decimals_of_a_printed_float_are_not_a_card_number(tmp_path: Path) -> None:
    path = saved_notebook(
        tmp_path,
        [
            {
                "source": "auc = 0.4010792443028479\nprint(auc)",
                "count": 1,
                "outputs": [
                    stream("0.4010792443028479\n"),
                    stream("[0.4010792443028479 1.4010792443028479e-05]\n"),
                ],
            },
            {"source": "big = 4010792443028479.5", "count": 2},
        ],
    )
    found = {d.code for d in lint_notebook(path).diagnostics}
    assert not found & {"NB1103", "NB1104"}


def test_a_card_number_is_still_found(tmp_path: Path) -> None:
    path = saved_notebook(
        tmp_path,
        [
            {
                "source": "print(card)",
                "count": 1,
                "outputs": [stream("charged 4111 1111 1111 1111.\n")],
            },
            {"source": 'card = "4111111111111111"', "count": 2},
        ],
    )
    found = [d.code for d in lint_notebook(path).diagnostics]
    assert "NB1103" in found and "NB1104" in found


# --- %%capture ---------------------------------------------------------------------


def test_capture_magic_defines_its_variable(tmp_path: Path) -> None:
    path = unmarked(
        tmp_path,
        "%%capture out --no-stderr\nprint('training...')",
        "%%capture --no-display log\nx = 1",
        "%%capture\ny = 2",
        "out.show()\nprint(log.stdout, x, y)",
    )
    assert hidden_names(path) == []


# --- one broken cell -----------------------------------------------------------------


def test_a_broken_cell_does_not_make_its_names_undefined(tmp_path: Path) -> None:
    path = unmarked(
        tmp_path,
        "import pandas as pd",
        "from sklearn.linear_model import LogisticRegression\n"
        "import numpy as np\n"
        'with open("rows.txt") as fh:\n'
        "    rows = fh.read()\n"
        "for col in ['a']:\n"
        "    pass\n"
        "model = LogisticRegression(C=1.0\n"
        "X = np.zeros((3, 2))\n"
        "@staticmethod\n"
        "def helper(v):\n"
        "    return v\n",
        "model = LogisticRegression()\n"
        "print(pd, np, fh, rows, col, X, helper)\n"
        "print(never_defined)",
    )
    diagnostics = lint_notebook(path).diagnostics
    assert [d.code for d in diagnostics if d.location.cell == 1] == ["NB1111"]
    # The broken cell's names are not "used before defined"; a real one still is.
    assert hidden_names(path) == [(2, "never_defined")]


# --- a failed run: its cause first, exit 4 -------------------------------------------


def test_build_reports_the_failed_cell_first_with_exit_4(tmp_path: Path) -> None:
    path = make_notebook(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport pickle"),
            ("code", "raise RuntimeError('the training data is gone')"),
            (
                "code",
                "# nb2svc: load artifacts=model.pkl\n"
                "with open('model.pkl', 'rb') as f:\n"
                "    model = pickle.load(f)",
            ),
            (
                "code",
                "# nb2svc: predict\ndef predict(x: dict) -> dict:\n"
                '    return {"y": model(x["a"])}',
            ),
            ("code", '# nb2svc: example\nexample = {"a": 1.5}'),
        ],
    )
    code, output = run_cli("build", path, "--out", tmp_path / "out")
    assert code == ExitCode.NOTEBOOK_FAILED, output
    lines = [line for line in output.splitlines() if ": error " in line]
    assert "executing the notebook failed" in lines[0]
    assert "RuntimeError" in lines[0] and "cell 2" in lines[0]
    # What follows from it comes after: the artifact the failed run never made.
    assert any("model.pkl" in line and "NB402" in line for line in lines[1:])
    assert not (tmp_path / "out").exists()


def test_verify_reports_the_failed_cell_before_its_notes(tmp_path: Path) -> None:
    path = make_notebook(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport os"),
            (
                "code",
                "if os.path.exists('fail.flag'):\n    raise RuntimeError('flagged')",
            ),
            (
                "code",
                "# nb2svc: predict\ndef predict(x: dict) -> dict:\n"
                '    return {"y": x["a"] * 2}',
            ),
            ("code", '# nb2svc: example\nexample = {"a": 1.5}'),
        ],
    )
    out = tmp_path / "out"
    code, output = run_cli("build", path, "--out", out)
    assert code == ExitCode.OK, output
    with (out / "README.md").open("a", encoding="utf-8") as readme:
        readme.write("\nedited by hand\n")  # verify then notes NB1002
    (tmp_path / "fail.flag").write_text("", encoding="utf-8")

    code, output = run_cli("verify", path, "--out", out, "--no-build")
    assert code == ExitCode.NOTEBOOK_FAILED, output
    reported = [
        line
        for line in output.splitlines()
        if ": error " in line or ": warning " in line
    ]
    assert "NB601" in reported[0] and "flagged" in reported[0], reported
    assert any("NB1002" in line for line in reported[1:]), reported
