"""The service's name: kept by `nb2svc tag -o`, set by `build --name`, and settings'
environment variables that don't repeat the service's prefix (issue 13, item 5)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nb2svc.analysis import analyse
from nb2svc.errors import ExitCode
from nb2svc.naming import SERVICE_OPTIONS, env_prefix, setting_env
from nb2svc.notebook.markers import mark_cells
from nb2svc.notebook.reader import read_notebook
from tests.helpers import TINY, make_notebook, run_cli

HERE = Path(__file__).resolve().parent
UNMARKED = HERE / "notebooks" / "unmarked"
SETTINGS_TEMPLATE = (
    HERE.parent / "templates/service/src/{{ service.package }}/settings.py.jinja"
)

CONFIG_CELL = (
    "code",
    "# nb2svc: config\nCHURN_THRESHOLD = 0.5\nLIMIT = 3\nCHURN_PORT = 1",
)
PREDICT_WITH_CONFIG = (
    "code",
    "# nb2svc: predict\ndef predict(x: dict) -> dict:\n"
    '    return {"y": x["a"] * 2, "hot": x["a"] > CHURN_THRESHOLD, "n": LIMIT}',
)
EXAMPLE = ("code", '# nb2svc: example\nexample = {"a": 1.5}')


# --- tag keeps the name ---------------------------------------------------------------


def test_tag_output_keeps_the_original_service_name(tmp_path: Path) -> None:
    source = Path(shutil.copy(UNMARKED / "churn_pipeline.ipynb", tmp_path))
    shutil.copytree(UNMARKED / "data", tmp_path / "data")
    copy = tmp_path / "churn_pipeline_tagged.ipynb"
    code, output = run_cli("tag", source, "-o", copy)
    assert code == ExitCode.OK, output
    assert "service name: churn_pipeline" in output
    nb, _ = read_notebook(copy)
    assert nb.service_name == "churn_pipeline"
    # Tagging a copy that already has a name keeps that name.
    again = tmp_path / "again.ipynb"
    data = json.loads(source.read_text())
    data["metadata"]["nb2svc"] = {"name": "retention"}
    renamed = tmp_path / "renamed.ipynb"
    renamed.write_text(json.dumps(data))
    code, _ = run_cli("tag", renamed, "-o", again)
    assert code == ExitCode.OK
    assert read_notebook(again)[0].service_name == "retention"


def test_tag_output_of_a_percent_script_keeps_the_name(tmp_path: Path) -> None:
    nb = nbformat.read(str(UNMARKED / "ticket_text.ipynb"), as_version=4)
    import jupytext

    source = tmp_path / "tickets.py"
    source.write_text(jupytext.writes(nb, fmt="py:percent"), encoding="utf-8")
    copy = tmp_path / "tickets_tagged.py"
    code, output = run_cli("tag", source, "-o", copy)
    assert code == ExitCode.OK, output
    assert read_notebook(copy)[0].service_name == "tickets"


# --- build honours it, --name sets it ------------------------------------------------


def _settings_env(out: Path, package: str, env: dict[str, str]) -> dict[str, object]:
    """The generated Settings' notebook fields, read in a fresh interpreter with env."""
    code = (
        f"from {package}.settings import Settings\n"
        "import json\n"
        "s = Settings()\n"
        "print(json.dumps({k: getattr(s, k) for k in "
        "('churn_threshold', 'limit', 'churn_port')}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(out / "src"), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_build_uses_the_stored_name_and_name_overrides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = make_notebook(
        tmp_path,
        [TINY[0], CONFIG_CELL, PREDICT_WITH_CONFIG, EXAMPLE],
        "churn_tagged.ipynb",
    )
    data = json.loads(path.read_text())
    data["metadata"]["nb2svc"] = {"name": "churn"}
    path.write_text(json.dumps(data))

    code, output = run_cli("build", path)
    assert code == ExitCode.OK, output
    out = tmp_path / "build" / "churn"
    assert (out / "src" / "churn" / "settings.py").is_file()
    assert not (tmp_path / "build" / "churn_tagged").exists()
    readme = (out / "README.md").read_text()
    # No stutter: CHURN_THRESHOLD, not CHURN_CHURN_THRESHOLD; LIMIT gets the prefix;
    # CHURN_PORT would be the service's own port variable, so it keeps the prefix.
    assert "`CHURN_THRESHOLD`" in readme and "CHURN_CHURN_THRESHOLD" not in readme
    assert "`CHURN_LIMIT`" in readme and "`CHURN_CHURN_PORT`" in readme
    assert _settings_env(out, "churn", {}) == {
        "churn_threshold": 0.5,
        "limit": 3,
        "churn_port": 1,
    }
    assert _settings_env(
        out,
        "churn",
        {"CHURN_THRESHOLD": "0.9", "CHURN_LIMIT": "7", "CHURN_CHURN_PORT": "2"},
    ) == {"churn_threshold": 0.9, "limit": 7, "churn_port": 2}

    code, output = run_cli("build", path, "--name", "Churn Scoring")
    assert code == ExitCode.OK, output
    out = tmp_path / "build" / "churn_scoring"
    assert (out / "src" / "churn_scoring" / "settings.py").is_file()
    readme = (out / "README.md").read_text()
    assert "`CHURN_SCORING_CHURN_THRESHOLD`" in readme


# --- the rule ------------------------------------------------------------------------


def test_setting_env_does_not_repeat_the_prefix() -> None:
    assert setting_env("CHURN_", "churn_threshold") == "CHURN_THRESHOLD"
    assert setting_env("CHURN_", "threshold") == "CHURN_THRESHOLD"
    assert setting_env("FRAUD_SCORING_", "threshold") == "FRAUD_SCORING_THRESHOLD"
    # taken by another setting, or by the service itself: the prefix stays
    others = frozenset({"threshold"})
    assert setting_env("CHURN_", "churn_threshold", others) == "CHURN_CHURN_THRESHOLD"
    assert setting_env("CHURN_", "churn_port") == "CHURN_CHURN_PORT"
    # only the prefix is no name
    assert setting_env("CHURN_", "churn_") == "CHURN_CHURN_"
    assert setting_env("CHURNED_", "churn_rate") == "CHURNED_CHURN_RATE"


names = st.lists(
    st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True), unique=True, max_size=6
)


@given(
    st.from_regex(r"[a-z][a-z0-9]{0,6}(_[a-z0-9]{1,4})?", fullmatch=True),
    names,
)
def test_setting_envs_never_collide(package: str, fields: list[str]) -> None:
    prefix = env_prefix(package)
    taken = frozenset(fields)
    envs = [setting_env(prefix, f, taken - {f}) for f in fields]
    assert len(set(envs)) == len(envs)
    service = {f"{prefix}{o.upper()}" for o in SERVICE_OPTIONS}
    assert not (set(envs) - {f"{prefix}{f.upper()}" for f in fields}) & service


def test_analysis_gives_the_settings_their_variables(tmp_path: Path) -> None:
    path = make_notebook(tmp_path, [CONFIG_CELL], "churn.ipynb")
    nb, _ = read_notebook(path)
    marked, _ = mark_cells(nb)
    settings = analyse(nb, marked, env_prefix("churn")).settings
    assert [(s.name, s.env) for s in settings] == [
        ("churn_threshold", "CHURN_THRESHOLD"),
        ("limit", "CHURN_LIMIT"),
        ("churn_port", "CHURN_CHURN_PORT"),
    ]


def test_service_options_match_the_settings_template() -> None:
    """SERVICE_OPTIONS must list the template's own fields, or a config setting could
    take one of their variables."""
    text = SETTINGS_TEMPLATE.read_text(encoding="utf-8")
    own = text.split("# Notebook config")[0]
    import re

    fields = set(re.findall(r"^    ([a-z_]+): ", own, flags=re.MULTILINE))
    assert fields == set(SERVICE_OPTIONS)
