"""Regeneration in CI and review: --check, diff, hand edits, the extension module,
custom templates, --json, and the pre-commit hook."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nb2svc.errors import ExitCode
from nb2svc.templates import service_template
from tests.conftest import REPO
from tests.helpers import TINY, make_notebook, run_cli, run_module, tree_snapshot

EXT = "src/nb/extensions.py"
APP = "src/nb/app.py"


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path]:
    notebook = make_notebook(tmp_path, TINY)
    out = tmp_path / "svc"
    code, output = run_cli("build", notebook, "-o", out)
    assert code == 0, output
    return notebook, out


def test_check_fresh_then_stale_after_a_code_change(built: tuple[Path, Path]) -> None:
    notebook, out = built
    assert run_cli("build", notebook, "-o", out, "--check")[0] == ExitCode.OK
    text = notebook.read_text().replace('x[\\"a\\"] * 2', 'x[\\"a\\"] * 3')
    assert text != notebook.read_text()
    notebook.write_text(text)
    before = tree_snapshot(out)
    code, output = run_cli("build", notebook, "-o", out, "--check")
    assert code == ExitCode.DRIFT
    assert "update  src/nb/pipeline.py" in output
    assert '-    return {"y": x["a"] * 2}' in output
    assert '+    return {"y": x["a"] * 3}' in output
    assert tree_snapshot(out) == before, "--check wrote something"


def test_check_reports_a_removed_file_and_a_file_that_would_be_removed(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    notebook, out = built
    (out / "Dockerfile").unlink()
    code, output = run_cli("build", notebook, "-o", out, "--check")
    assert code == ExitCode.DRIFT
    assert "create  Dockerfile" in output
    run_cli("build", notebook, "-o", out)
    # A house template without .dockerignore: regenerating would remove that file.
    template = tmp_path / "house"
    shutil.copytree(service_template(), template)
    (template / ".dockerignore").unlink()
    code, output = run_cli(
        "build", notebook, "-o", out, "--check", "--template", template
    )
    assert code == ExitCode.DRIFT
    assert "delete  .dockerignore" in output
    assert run_cli("build", notebook, "-o", out, "--template", template)[0] == 0
    assert not (out / ".dockerignore").exists()


def test_hand_edit_is_caught_refused_and_forced(built: tuple[Path, Path]) -> None:
    notebook, out = built
    with (out / APP).open("a") as handle:
        handle.write("# a hotfix made in production\n")
    code, output = run_cli("build", notebook, "-o", out, "--check")
    assert code == ExitCode.DRIFT
    assert f"hand-edited  {APP}" in output
    before = tree_snapshot(out)
    code, output = run_cli("build", notebook, "-o", out)
    assert code == ExitCode.HAND_EDITED
    assert APP in output and "--force" in output
    assert tree_snapshot(out) == before
    assert run_cli("build", notebook, "-o", out, "--force")[0] == ExitCode.OK
    assert "hotfix" not in (out / APP).read_text()


def test_unknown_files_are_never_deleted(built: tuple[Path, Path]) -> None:
    notebook, out = built
    (out / "NOTES.md").write_text("ours\n")
    (out / "src/nb/extra.py").write_text("X = 1\n")
    assert run_cli("build", notebook, "-o", out, "--force")[0] == ExitCode.OK
    assert (out / "NOTES.md").read_text() == "ours\n"
    assert (out / "src/nb/extra.py").is_file()


def test_extension_module_is_created_once_and_then_left_alone(
    built: tuple[Path, Path],
) -> None:
    notebook, out = built
    ext = out / EXT
    assert "def configure(app: FastAPI)" in ext.read_text()
    ext.write_text(ext.read_text() + "\nTEAM = 'fraud-platform'\n")
    mine = ext.read_bytes()
    assert run_cli("build", notebook, "-o", out, "--check")[0] == ExitCode.OK
    assert run_cli("build", notebook, "-o", out)[0] == ExitCode.OK
    assert ext.read_bytes() == mine
    manifest = json.loads((out / "nb2svc.json").read_text())
    assert EXT not in manifest["files"] and EXT in manifest["user_files"]
    ext.unlink()
    code, output = run_cli("build", notebook, "-o", out, "--check")
    assert code == ExitCode.DRIFT and f"create  {EXT}" in output
    assert run_cli("build", notebook, "-o", out)[0] == ExitCode.OK
    assert ext.is_file()


def test_custom_template_is_rendered_and_missing_variables_are_errors(
    tmp_path: Path,
) -> None:
    notebook = make_notebook(tmp_path, TINY)
    template = tmp_path / "house"
    shutil.copytree(service_template(), template)
    (template / "OWNERS.jinja").write_text("team: payments ({{ service.name }})\n")
    out = tmp_path / "svc"
    assert run_cli("build", notebook, "-o", out, "--template", template)[0] == 0
    assert (out / "OWNERS").read_text() == "team: payments (nb)\n"

    (template / "OWNERS.jinja").write_text("team: {{ service.owner }}\n")
    out2 = tmp_path / "svc2"
    code, output = run_cli("build", notebook, "-o", out2, "--template", template)
    assert code == ExitCode.USER_ERROR
    assert "OWNERS.jinja" in output and "owner" in output
    assert not out2.exists()


def test_json_output_for_build_and_check(tmp_path: Path) -> None:
    notebook = make_notebook(tmp_path, TINY)
    out = tmp_path / "svc"
    proc = run_module("build", notebook, "-o", out, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["exit_code"] == 0 and data["package"] == "nb"
    assert {"path": "src/nb/pipeline.py", "kind": "create"} in data["changes"]
    (out / "Dockerfile").unlink()
    proc = run_module("build", notebook, "-o", out, "--check", "--json")
    assert proc.returncode == ExitCode.DRIFT
    assert json.loads(proc.stdout)["changes"] == [
        {"path": "Dockerfile", "kind": "create"}
    ]
    broken = make_notebook(
        tmp_path, [("code", "# nb2svc: predcit\nx = 1")], "bad.ipynb"
    )
    proc = run_module("build", broken, "-o", tmp_path / "bad", "--json")
    assert proc.returncode == ExitCode.USER_ERROR
    codes = {d["code"] for d in json.loads(proc.stdout)["diagnostics"]}
    assert "NB101" in codes


def test_diff_shows_changes_and_writes_nothing(built: tuple[Path, Path]) -> None:
    notebook, out = built
    code, output = run_cli("diff", notebook, "-o", out)
    assert code == 0 and "up to date" in output
    notebook.write_text(notebook.read_text().replace("1.5", "2.5"))
    before = tree_snapshot(out)
    code, output = run_cli("diff", notebook, "-o", out)
    assert code == 0
    assert "tests/golden/examples.json" in output and '"a": 2.5' in output
    assert tree_snapshot(out) == before


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.mark.slow
def test_pre_commit_hook_with_try_repo(tmp_path: Path) -> None:
    """The shipped hook, run by pre-commit itself against a project repository."""
    if (
        shutil.which(
            "pre-commit",
            path=str(Path(sys.executable).parent)
            + os.pathsep
            + os.environ.get("PATH", ""),
        )
        is None
    ):
        pytest.skip("pre-commit is not installed (it is in the dev extra)")
    assert (Path(sys.executable).parent / "nb2svc").exists()
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q")
    notebook = make_notebook(repo, TINY, "scoring.ipynb")
    # try-repo cannot pass hook args, so the services live in the default build/.
    assert run_cli("build", notebook, "-o", repo / "build/scoring")[0] == 0
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "notebook and its service")
    pre_commit = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    pre_commit = pre_commit or "pre-commit"
    try_repo = [pre_commit, "try-repo", str(REPO), "nb2svc-check", "--all-files"]
    # language: system runs the nb2svc on PATH: make it this environment's.
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}

    fresh = subprocess.run(try_repo, cwd=repo, capture_output=True, text=True, env=env)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "Passed" in fresh.stdout

    notebook.write_text(notebook.read_text().replace("1.5", "4.0"))
    stale = subprocess.run(try_repo, cwd=repo, capture_output=True, text=True, env=env)
    assert stale.returncode != 0
    assert "Failed" in stale.stdout
    assert (
        "out of date" in stale.stdout and "tests/golden/examples.json" in stale.stdout
    )


def test_a_rebuild_that_fails_halfway_leaves_the_previous_output(
    built: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills up as the new manifest moves in, after every other changed file
    (pipeline.py among them) was replaced: each is put back, and no staging folder is
    left behind."""
    import errno

    import nb2svc.writer

    notebook, out = built
    notebook.write_text(
        notebook.read_text().replace('x[\\"a\\"] * 2', 'x[\\"a\\"] * 3')
    )
    before = tree_snapshot(out)
    real_replace = os.replace
    calls: list[str] = []
    failed_at: list[int] = []

    def replace_until_the_disk_is_full(src: Path, dst: Path) -> None:
        calls.append(Path(dst).name)
        if Path(dst) == out / "nb2svc.json" and not failed_at:  # the new manifest
            failed_at.append(len(calls) - 1)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_replace(src, dst)

    monkeypatch.setattr(nb2svc.writer.os, "replace", replace_until_the_disk_is_full)
    code, output = run_cli("build", notebook, "-o", out)
    monkeypatch.undo()
    assert code == ExitCode.OUTPUT, output
    assert "No space left on device" in output
    assert "pipeline.py" in calls[: failed_at[0]], "pipeline.py was replaced first"
    assert tree_snapshot(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(
        ["svc", *(p.name for p in out.parent.iterdir() if p.suffix == ".ipynb")]
    ), "a staging folder was left behind"
    code, output = run_cli("build", notebook, "-o", out)
    assert code == ExitCode.OK, output
    assert tree_snapshot(out) != before
