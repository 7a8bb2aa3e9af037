"""End to end on unmarked notebooks: `nb2svc tag --write`, then `nb2svc build --verify`
(the service answers what the notebook computes); `build --capture` for a model that
lives only in the kernel; and a planted credential never reaching generated files.
"""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nb2svc.errors import ExitCode
from tests.helpers import make_notebook, run_module
from tests.test_tag import BUILDABLE, UNMARKED

pytestmark = pytest.mark.slow

PLANTED = ("Tr0ub4dor-and-3", "AKIA4Q7XK2M9R8T3WZ5N")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("e2e") / "unmarked"
    shutil.copytree(UNMARKED, target)
    return target


def _tag_build_verify(folder: Path, stem: str) -> tuple[str, int, str]:
    notebook = folder / f"{stem}.ipynb"
    tagged = run_module("tag", notebook, "--write")
    if tagged.returncode != 0:
        return "tag", tagged.returncode, tagged.stdout + tagged.stderr
    built = run_module(
        "build", notebook, "-o", folder / f"out_{stem}", "--verify", timeout=600
    )
    return "build", built.returncode, built.stdout + built.stderr


@pytest.fixture(scope="module")
def results(workspace: Path) -> dict[str, tuple[str, int, str]]:
    """Every buildable notebook tagged, built and verified (a few at a time)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            stem: pool.submit(_tag_build_verify, workspace, stem) for stem in BUILDABLE
        }
        return {stem: f.result() for stem, f in futures.items()}


@pytest.mark.parametrize("stem", BUILDABLE)
def test_tag_then_build_and_verify(
    results: dict[str, tuple[str, int, str]], workspace: Path, stem: str
) -> None:
    step, code, output = results[stem]
    assert (step, code) == ("build", 0), output
    assert "the service matches the notebook (5/5 examples)" in output
    assert (workspace / f"{stem}.ipynb.bak").is_file()


def test_planted_credentials_never_reach_the_generated_files(
    results: dict[str, tuple[str, int, str]], workspace: Path
) -> None:
    assert results["churn_credentials"][1] == 0
    out = workspace / "out_churn_credentials"
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) > 10
    for path in files:
        content = path.read_bytes()
        for secret in PLANTED:
            assert secret.encode() not in content, path
    assert not any(secret in results["churn_credentials"][2] for secret in PLANTED)


# --- build --capture -------------------------------------------------------------

KERNEL_MODEL = (
    ("code", "# nb2svc: imports\nimport numpy as np"),
    (
        "code",
        "from sklearn.linear_model import LinearRegression\n"
        "X = np.arange(20.0).reshape(10, 2)\n"
        "y = X @ np.array([1.5, -2.0]) + 0.5\n"
        "model = LinearRegression().fit(X, y)",
    ),
    (
        "code",
        "# nb2svc: predict\ndef predict(x: list) -> float:\n"
        "    return float(model.predict(np.asarray([x]))[0])",
    ),
    ("code", "# nb2svc: example\nexamples = [list(row) for row in X[:3]]"),
)


def test_capture_a_model_that_lives_only_in_the_kernel(tmp_path: Path) -> None:
    notebook = make_notebook(tmp_path, KERNEL_MODEL, "kernel_model.ipynb")
    out = tmp_path / "out"
    plain = run_module("build", notebook, "-o", out)
    assert plain.returncode == ExitCode.USER_ERROR and "NB304" in plain.stderr
    built = run_module("build", notebook, "-o", out, "--capture", "model", "--verify")
    assert built.returncode == 0, built.stdout + built.stderr
    assert "the service matches the notebook (3/3 examples)" in built.stdout
    pipeline = (out / "src/kernel_model/pipeline.py").read_text()
    assert 'joblib.load(artifact_path("nb2svc-captured/model.joblib"))' in pipeline
    manifest = (out / "nb2svc.json").read_text()
    assert '"nb2svc-captured/model.joblib": "' in manifest  # with its sha256
    # Unchanged code: no kernel, no change; verify finds --capture in the manifest.
    again = run_module("build", notebook, "-o", out, "--capture", "model")
    assert again.returncode == 0 and "(0 created, 0 updated, 0 deleted)" in again.stdout
    verified = run_module("verify", notebook, "-o", out)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_capture_with_skops(tmp_path: Path) -> None:
    notebook = make_notebook(tmp_path, KERNEL_MODEL, "kernel_model.ipynb")
    out = tmp_path / "out"
    built = run_module(
        "build", notebook, "-o", out, "--capture", "model:skops", "--verify"
    )
    assert built.returncode == 0, built.stdout + built.stderr
    pipeline = (out / "src/kernel_model/pipeline.py").read_text()
    assert "skops.io.load(" in pipeline
    assert "skops==" in (out / "pyproject.toml").read_text()


def test_capture_mistakes(tmp_path: Path) -> None:
    notebook = make_notebook(tmp_path, KERNEL_MODEL, "kernel_model.ipynb")
    typo = run_module("build", notebook, "--capture", "modle")
    assert typo.returncode == ExitCode.USER_ERROR
    assert "NB1301" in typo.stderr and "did you mean 'model'?" in typo.stderr
    bad = run_module("build", notebook, "--capture", "model:pickle,2x")
    assert bad.returncode == ExitCode.USAGE and "unknown format" in bad.stderr


def test_capture_refuses_classes_defined_in_the_notebook(tmp_path: Path) -> None:
    notebook = make_notebook(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport math"),
            (
                "code",
                "class Doubler:\n    def predict(self, x):\n        return 2 * x\n"
                "model = Doubler()",
            ),
            (
                "code",
                "# nb2svc: predict\ndef predict(x: float) -> float:\n"
                "    return model.predict(x)",
            ),
            ("code", "# nb2svc: example\nexample = 1.5"),
        ],
        "local_class.ipynb",
    )
    built = run_module("build", notebook, "-o", tmp_path / "out", "--capture", "model")
    assert built.returncode == ExitCode.NOTEBOOK_FAILED
    assert (
        "cell 2" in built.stderr and "Doubler, defined in the notebook" in built.stderr
    )
    assert not (tmp_path / "out").exists()


# --- build never writes a secret -------------------------------------------------


def test_build_refuses_to_write_a_secret_into_the_service(tmp_path: Path) -> None:
    key = "sk-proj-4f9XkL2mQ8vR1tY7uW3zA6bC0dE5gH9jK2nP4sT"
    notebook = make_notebook(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport math"),
            ("code", f'# nb2svc: config\nAPI_KEY = "{key}"\nSCALE = 2.0'),
            (
                "code",
                "# nb2svc: predict\ndef predict(x: dict) -> dict:\n"
                '    return {"y": x["a"] * SCALE}',
            ),
            ("code", '# nb2svc: example\nexample = {"a": 1.5}'),
        ],
        "leaky.ipynb",
    )
    out = tmp_path / "out"
    built = run_module("build", notebook, "-o", out)
    assert built.returncode == ExitCode.USER_ERROR
    assert "NB1110" in built.stderr and "cell 2" in built.stderr
    assert key not in built.stdout + built.stderr
    assert not out.exists()
    leftovers = subprocess.run(
        ["grep", "-rl", key, str(tmp_path)], capture_output=True, text=True
    ).stdout.split()
    assert leftovers == [str(notebook)]
