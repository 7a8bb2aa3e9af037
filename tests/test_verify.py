"""nb2svc verify for real: notebooks run in kernels, services run by uvicorn.

Every example notebook verifies; services whose pipeline was altered (a tiny numeric
change, a dropped preprocessing step, a reordered output) fail with the mismatch code
and the differing path; a notebook with unseeded randomness is nondeterministic; a
failing cell, a service that cannot start, and the HTML report in a real browser.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nb2svc.errors import ExitCode
from tests.helpers import (
    EXAMPLE_CELL,
    PREDICT_CELL,
    make_notebook,
    png_size,
    render_in_chromium,
    run_cli,
    run_module,
)

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "notebooks"


@dataclass
class Verified:
    code: int
    output: str
    out: Path
    report: dict[str, Any] | None = None
    html: Path | None = None

    def paths(self) -> list[str]:
        assert self.report is not None
        return [d["path"] for d in self.report["differences"]]


def read_report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def verify(notebook: Path, out: Path, *args: str) -> Verified:
    """``nb2svc verify`` in-process, with a JSON and an HTML report."""
    report, html = out.parent / f"{out.name}.json", out.parent / f"{out.name}.html"
    code, output = run_cli(
        "verify", notebook, "--out", out, "--report", report, "--html", html, *args
    )
    return Verified(code, output, out, read_report(report), html)


def kernels() -> set[int]:
    """Pids of this process's ipykernel children."""
    ps = subprocess.run(
        ["ps", "-o", "pid=,args=", "--ppid", str(os.getpid())],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return {int(line.split()[0]) for line in ps.splitlines() if "ipykernel" in line}


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example notebooks in a scratch folder (running them writes artifacts)."""
    folder = tmp_path_factory.mktemp("notebooks")
    for notebook in EXAMPLES.glob("*.ipynb"):
        shutil.copy(notebook, folder / notebook.name)
    return folder


@pytest.fixture(scope="module")
def verified(
    notebooks: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], Verified]]:
    """Each example notebook built and verified once, through a different door."""
    done: dict[str, Verified] = {}
    services = tmp_path_factory.mktemp("services")

    def get(stem: str) -> Verified:
        if stem not in done:
            notebook, out = notebooks / f"{stem}.ipynb", services / stem
            if stem == "ticket_router":  # both in one go, as a real process
                proc = run_module("build", notebook, "-o", out, "--verify")
                done[stem] = Verified(proc.returncode, proc.stdout + proc.stderr, out)
            elif stem == "diabetes_progression":
                done[stem] = verify(notebook, out, "--runs", "2")
            else:
                done[stem] = verify(notebook, out)
        return done[stem]

    yield get


@pytest.mark.parametrize(
    "stem", ["fraud_scoring", "ticket_router", "diabetes_progression"]
)
def test_every_example_notebook_verifies(
    stem: str, verified: Callable[[str], Verified]
) -> None:
    result = verified(stem)
    assert result.code == ExitCode.OK, result.output
    assert "the service matches the notebook" in result.output
    if result.report is None:  # build --verify
        assert re.search(r"built ticket_router in .*", result.output)
        return
    report = result.report
    assert report["outcome"] == "match"
    assert report["exit_code"] == 0
    assert report["build"] == "built"
    assert report["differences"] == report["nondeterminism"] == []
    assert report["summary"]["examples"] == report["summary"]["matched"] >= 1
    env = report["environment"]
    assert env["service python"].startswith(sys.executable)
    assert env["service stop"] == "cleanly"
    assert f"python -m {stem} serve --host 127.0.0.1 --port" in env["service command"]
    for example in report["examples"]:
        assert example["status"] == "match"
        assert example["service"] == example["notebook"] == example["batch"]
        assert example["latency_ms"] > 0
    assert result.html is not None
    assert "MATCH" in result.html.read_text(encoding="utf-8")


# --- services altered by hand must fail with the mismatch code ----------------------


def alter(
    base: Verified, tmp_path: Path, package: str, old: str, new: str, count: int = 1
) -> Path:
    """A copy of a verified service with one edit in its pipeline.py."""
    out = tmp_path / base.out.name
    shutil.copytree(base.out, out)
    pipeline = out / "src" / package / "pipeline.py"
    text = pipeline.read_text(encoding="utf-8")
    assert text.count(old) == count, f"{old!r} not found in\n{text}"
    pipeline.write_text(text.replace(old, new), encoding="utf-8")
    return out


def assert_not_rebuilt(result: Verified, package: str, edit: str) -> None:
    assert result.report is not None
    assert (
        result.report["build"] == "out of date, not rebuilt: files were edited by hand"
    )
    assert edit in (result.out / "src" / package / "pipeline.py").read_text()
    assert f"{result.out}/src/{package}/pipeline.py: warning NB1002" in result.output


def test_tiny_numeric_change_is_a_mismatch(
    verified: Callable[[str], Verified], notebooks: Path, tmp_path: Path
) -> None:
    pkg = "diabetes_progression"
    edit = "round(value * 1.00001, 4)"
    out = alter(verified(pkg), tmp_path, pkg, "round(value, 4)", edit)
    result = verify(notebooks / f"{pkg}.ipynb", out)
    assert result.code == ExitCode.MISMATCH, result.output
    assert result.paths() == ["examples[0].progression", "batch[0].progression"]
    assert re.search(
        r"examples\[0\]\.progression: notebook [\d.]+ vs service [\d.]+ "
        r"\(rel (9\.\d|1\.\d)e-[56]\)",
        result.output,
    ), result.output
    assert_not_rebuilt(result, pkg, edit)

    # A tolerance wider than the change lets it pass.
    loose = verify(notebooks / f"{pkg}.ipynb", out, "--rtol", "1e-4")
    assert loose.code == ExitCode.OK, loose.output
    assert loose.report is not None
    assert loose.report["tolerance"] == {"rtol": 1e-4, "atol": 1e-9}
    assert loose.report["summary"]["max_rel_error"] > 1e-6


def test_generated_tests_keep_parity_without_the_notebook(
    verified: Callable[[str], Verified], tmp_path: Path
) -> None:
    """The golden fixtures catch the same tiny change in the service's own CI.

    (That the generated tests pass on an unaltered service, tests/test_e2e.py shows.)
    """
    pkg = "diabetes_progression"
    edit = "round(value * 1.00001, 4)"
    altered = alter(verified(pkg), tmp_path, pkg, "round(value, 4)", edit)
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"),
            *("-k", "matches_notebook", "tests/test_notebook.py"),
        ],
        cwd=altered,
        env={**os.environ, "PYTHONPATH": str(altered / "src")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "$.progression: expected" in proc.stdout
    assert "2 failed" in proc.stdout  # /predict and /predict/batch


DROPPED_LOG = '"amount_log": df["amount"].astype("float64"),'


@pytest.fixture(scope="module")
def dropped_step(
    verified: Callable[[str], Verified],
    notebooks: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Verified:
    """fraud_scoring's service with the log transform of the amount dropped."""
    pkg = "fraud_scoring"
    old = '"amount_log": np.log1p(df["amount"].astype("float64")),'
    tmp = tmp_path_factory.mktemp("dropped")
    out = alter(verified(pkg), tmp, pkg, old, DROPPED_LOG)
    return verify(notebooks / f"{pkg}.ipynb", out)


def test_dropped_preprocessing_step_is_a_mismatch(dropped_step: Verified) -> None:
    result = dropped_step
    assert result.code == ExitCode.MISMATCH, result.output
    assert "examples[0][0].fraud_probability" in result.paths()
    assert "batch[0][0].fraud_probability" in result.paths()
    assert re.search(
        r"examples\[\d\]\[0\]\.fraud_probability: notebook [\d.e-]+ vs service "
        r"[\d.e-]+ \(rel [\d.]+e-?\d+\)",
        result.output,
    ), result.output
    assert_not_rebuilt(result, "fraud_scoring", DROPPED_LOG)


def test_dropped_preprocess_call_is_a_mismatch(
    verified: Callable[[str], Verified], notebooks: Path, tmp_path: Path
) -> None:
    pkg = "diabetes_progression"
    edit = "return postprocess(predict(raw))"
    old = "return postprocess(predict(preprocess(raw)))"
    out = alter(verified(pkg), tmp_path, pkg, old, edit)
    result = verify(notebooks / f"{pkg}.ipynb", out)
    assert result.code == ExitCode.MISMATCH, result.output
    assert result.paths() == ["batch", "examples[0]"]
    assert re.search(
        r"examples\[0\]: notebook \{\"progression\": [\d.]+, \"risk_band\": "
        r"\"\w+\"\} vs service answered HTTP 500 prediction_failed",
        result.output,
    ), result.output
    assert result.report is not None
    assert result.report["examples"][0]["status"] == "error"


def test_reordered_batch_output_is_a_mismatch(
    verified: Callable[[str], Verified], notebooks: Path, tmp_path: Path
) -> None:
    """One row at a time the reversal changes nothing: only batch parity catches it."""
    pkg = "fraud_scoring"
    old = "        for p in probs\n    ]\n"
    edit = "        for p in probs\n    ][::-1]\n"
    out = alter(verified(pkg), tmp_path, pkg, old, edit)
    result = verify(notebooks / f"{pkg}.ipynb", out)
    assert result.code == ExitCode.MISMATCH, result.output
    paths = result.paths()
    assert not [p for p in paths if p.startswith("examples")], paths
    assert "batch[0][0].fraud_probability" in paths
    assert re.search(r"batch\[0\]\[0\]\.fraud_probability: notebook", result.output)
    assert result.report is not None
    # Five examples reversed: only the middle one stays in place.
    assert [e["status"] for e in result.report["examples"]] == [
        "mismatch",
        "mismatch",
        "match",
        "mismatch",
        "mismatch",
    ]


def test_reordered_array_output_is_a_mismatch(
    verified: Callable[[str], Verified], notebooks: Path, tmp_path: Path
) -> None:
    pkg = "ticket_router"
    old = "return model.predict_proba(texts)"
    edit = "return model.predict_proba(texts)[:, ::-1]"
    out = alter(verified(pkg), tmp_path, pkg, old, edit)
    result = verify(notebooks / f"{pkg}.ipynb", out)
    assert result.code == ExitCode.MISMATCH, result.output
    assert 'examples[1].label: notebook "technical" vs service "account"' in (
        result.output
    )
    assert "examples[0].scores.account" in result.paths()


# --- the notebook disagreeing with itself --------------------------------------------


def test_unseeded_randomness_is_reported_as_nondeterministic(tmp_path: Path) -> None:
    notebook = make_notebook(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport random"),
            ("code", "# nb2svc: load\nnoise = random.random()"),
            (
                "code",
                "# nb2svc: predict\ndef predict(x: dict) -> dict:\n"
                '    return {"y": x["a"] * 2 + noise}',
            ),
            EXAMPLE_CELL,
        ],
    )
    result = verify(notebook, tmp_path / "svc", "--runs", "2")
    assert result.code == ExitCode.NONDETERMINISTIC, result.output
    assert re.search(
        r"examples\[0\]\.y: run 1 [\d.]+ vs run 2 [\d.]+ \(rel", result.output
    )
    assert "the notebook disagrees with itself" in result.output
    assert result.report is not None
    assert result.report["outcome"] == "nondeterministic"
    assert result.report["examples"] == []  # the service was not blamed


def test_randomness_inside_predict_shows_in_a_single_run(tmp_path: Path) -> None:
    notebook = make_notebook(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport numpy as np"),
            (
                "code",
                "# nb2svc: predict\ndef predict(x: dict) -> dict:\n"
                '    return {"y": float(x["a"] + np.random.rand())}',
            ),
            EXAMPLE_CELL,
        ],
    )
    result = verify(notebook, tmp_path / "svc")
    assert result.code == ExitCode.NONDETERMINISTIC, result.output
    assert "examples[0].y: run 1 call 1" in result.output


# --- the notebook failing -----------------------------------------------------------


@pytest.fixture(scope="module")
def fragile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A notebook whose unmarked cell fails as NB2SVC_TEST_MODE says, and its build.

    The build runs only the exported cells, so it succeeds; verify runs them all.
    """
    folder = tmp_path_factory.mktemp("fragile")
    notebook = make_notebook(
        folder,
        [
            ("code", "# nb2svc: imports\nimport math"),
            (
                "code",
                "import os, time\n"
                "mode = os.environ.get('NB2SVC_TEST_MODE', '')\n"
                "if mode == 'raise':\n"
                "    raise RuntimeError('training data not found')\n"
                "if mode == 'sleep':\n"
                "    time.sleep(120)\n"
                "if mode == 'die':\n"
                "    os._exit(3)\n",
            ),
            PREDICT_CELL,
            EXAMPLE_CELL,
        ],
    )
    out = folder / "svc"
    code, output = run_cli("build", notebook, "-o", out)
    assert code == 0, output
    return notebook, out


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        (
            "raise",
            "nb.ipynb: cell 2 (id=cell-1): line 4: error NB601 executing the notebook "
            "failed: raised RuntimeError: training data not found",
        ),
        (
            "sleep",
            "nb.ipynb: cell 2 (id=cell-1): error NB601 executing the notebook "
            "failed: timed out after 2 s",
        ),
        (
            "die",
            "nb.ipynb: cell 2 (id=cell-1): error NB601 executing the notebook "
            "failed: the kernel died while running this cell",
        ),
    ],
)
def test_failing_cell_is_named_and_the_kernel_stopped(
    mode: str,
    message: str,
    fragile: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    notebook, out = fragile
    before = kernels()
    monkeypatch.setenv("NB2SVC_TEST_MODE", mode)
    result = verify(notebook, out, "--timeout", "2")
    assert result.code == ExitCode.NOTEBOOK_FAILED, result.output
    assert message in result.output
    assert "executing the notebook failed; exit code 4" in result.output
    assert result.report is not None
    assert result.report["outcome"] == "notebook_failed"
    assert result.report["diagnostics"][-1]["location"].startswith("nb.ipynb: cell 2")
    assert kernels() <= before


# --- the service failing, and what verify builds ------------------------------------


def test_service_that_cannot_start_is_reported(tmp_path: Path) -> None:
    notebook = make_notebook(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport json"),
            (
                "code",
                "# nb2svc: load artifacts=params.json\n"
                "with open('params.json') as f:\n"
                "    params = json.load(f)",
            ),
            (
                "code",
                "# nb2svc: predict\ndef predict(x: dict) -> dict:\n"
                '    return {"y": x["a"] * params["k"]}',
            ),
            EXAMPLE_CELL,
        ],
    )
    (tmp_path / "params.json").write_text('{"k": 2}')
    out = tmp_path / "svc"
    code, output = run_cli("build", notebook, "-o", out)
    assert code == 0, output
    (out / "src" / "nb" / "artifacts" / "params.json").write_text('{"k": 3}')
    result = verify(notebook, out)
    assert result.code == ExitCode.SERVICE_FAILED, result.output
    assert "the service exited with code" in result.output
    assert "before it was ready; its log ends with:" in result.output
    assert "params.json" in result.output  # the artifact check names the file
    assert result.report is not None
    assert result.report["outcome"] == "service_failed"


def test_out_of_date_service_is_rebuilt_then_verified(tmp_path: Path) -> None:
    cells = [("code", "# nb2svc: imports\nimport math"), PREDICT_CELL, EXAMPLE_CELL]
    notebook = make_notebook(tmp_path, cells)
    out = tmp_path / "svc"
    code, output = run_cli("build", notebook, "-o", out)
    assert code == 0, output
    changed = PREDICT_CELL[1].replace('x["a"] * 2', 'x["a"] * 3')
    make_notebook(tmp_path, [cells[0], ("code", changed), EXAMPLE_CELL])
    result = verify(notebook, out)
    assert result.code == ExitCode.OK, result.output
    assert result.report is not None
    assert result.report["build"] == "rebuilt: it was out of date"
    assert 'x["a"] * 3' in (out / "src" / "nb" / "pipeline.py").read_text()
    assert result.report["examples"][0]["service"] == {"y": 4.5}


def test_no_build_needs_an_existing_service(tmp_path: Path) -> None:
    notebook = make_notebook(
        tmp_path,
        [("code", "# nb2svc: imports\nimport math"), PREDICT_CELL, EXAMPLE_CELL],
    )
    code, output = run_cli("verify", notebook, "-o", tmp_path / "none", "--no-build")
    assert code == ExitCode.INPUT, output
    assert "no service generated by nb2svc here" in output
    assert not (tmp_path / "none").exists()


def test_service_of_another_notebook_is_refused(
    fragile: tuple[Path, Path], tmp_path: Path
) -> None:
    cells = [("code", "# nb2svc: imports\nimport math"), PREDICT_CELL, EXAMPLE_CELL]
    notebook = make_notebook(tmp_path, cells, name="other.ipynb")
    code, output = run_cli("verify", notebook, "-o", fragile[1])
    assert code == ExitCode.INPUT, output
    assert "was generated from nb.ipynb, not other.ipynb" in output


# --- the HTML report in a real browser ----------------------------------------------


def test_html_report_renders_in_a_headless_browser(
    dropped_step: Verified, tmp_path: Path
) -> None:
    result = dropped_step
    assert result.code == ExitCode.MISMATCH, result.output
    assert result.html is not None
    data, dom = render_in_chromium(result.html, tmp_path)
    assert png_size(data) == (1200, 900)
    assert len(data) > 30_000  # a blank page compresses to a few kB
    assert "MISMATCH" in dom
    assert dom.count("<svg") == 2
    assert dom.count("<circle") >= 20  # 5 examples x (/predict + batch) x 2 plots
    assert "examples[0][0].fraud_probability: notebook" in dom
