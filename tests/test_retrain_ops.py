"""Issue 17, item 4: drift to action. A service whose notebook trains links its drift
alerts to the retrain command (README and alert rules), and its CI has a retrain job
run by hand (workflow_dispatch) whose inputs reach the shell as variables only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from nb2svc.errors import ExitCode
from tests.helpers import assert_lint_clean, run_cli
from tests.retrain_support import churn_notebook
from tests.service_support import built_service
from tests.test_ci_workflow import WORKFLOW, actionlint, workflow

pytestmark = pytest.mark.slow

COMMAND = (
    "python -m churn retrain --data NEW.csv --current models:/churn@champion "
    "--register --alias challenger"
)


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ops")
    out = folder / "service" / "churn"
    code, output = run_cli("build", churn_notebook(folder / "notebook"), "-o", out)
    assert code == ExitCode.OK, output
    return out


def alert_rules(readme: str) -> dict[str, Any]:
    block = readme.split("### Alert rules", 1)[1].split("```yaml\n", 1)[1]
    rules = yaml.safe_load(block.split("```", 1)[0])
    return {r["alert"]: r for r in rules["groups"][0]["rules"]}


def test_drift_alerts_name_the_retrain_command(churn: Path) -> None:
    readme = (churn / "README.md").read_text()
    rules = alert_rules(readme)
    for alert in ("InputDrift", "PredictionDrift"):
        action = rules[alert]["annotations"]["action"]
        assert COMMAND in action, action
        assert "README: Retrain" in action
    drift = readme.split("### Drift", 1)[1].split("### Request log", 1)[0]
    assert "A drift alert (`InputDrift`, `PredictionDrift` below) is the cue" in drift
    assert "[Retrain](#retrain)" in drift


def test_the_readme_says_how_to_retrain_and_its_exit_codes(churn: Path) -> None:
    readme = (churn / "README.md").read_text()
    section = readme.split("### Retrain\n", 1)[1].split("### Request log", 1)[0]
    assert "pip install -e '.[retrain]'" in section
    assert "python -m churn retrain --data new_data.csv" in section
    assert "cell 4 of\n`churn.ipynb`" in section
    assert "`TRAIN_PATH` set to the path" in section
    assert "(`roc_auc_score`, the notebook's;" in section
    codes = re.findall(r"^\| (\d+) \|", section, flags=re.MULTILINE)
    assert codes == ["0", "2", "3", "4", "12", "14", "130"]


def test_ci_has_a_retrain_job_run_by_hand(churn: Path) -> None:
    data = workflow(churn)
    # PyYAML reads the key `on` as True (YAML 1.1).
    triggers = data[True]
    inputs = triggers["workflow_dispatch"]["inputs"]
    assert sorted(inputs) == ["current", "data", "min_delta"]
    assert inputs["current"]["default"] == "models:/churn@champion"
    job = data["jobs"]["retrain"]
    assert job["if"] == "github.event_name == 'workflow_dispatch'"
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert 'python -m churn retrain --data "$DATA" --current "$CURRENT"' in runs
    assert "--register --alias challenger" in runs
    assert "'nbclient==" in runs and "'mlflow-skinny==" in runs
    assert "${{" not in runs  # inputs only through the environment
    assert job["env"]["DATA"] == "${{ inputs.data }}"
    assert job["env"]["MLFLOW_TRACKING_URI"] == "${{ secrets.MLFLOW_TRACKING_URI }}"
    result = actionlint(churn / WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_service_without_train_cells_has_no_retrain_job(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    out = built_service(tmp_path_factory, "fraud_scoring")
    data = workflow(out)
    assert "workflow_dispatch" not in data[True]
    assert "retrain" not in data["jobs"]
    readme = (out / "README.md").read_text()
    assert "The notebook has no `train` cell" in readme
    rules = alert_rules(readme)
    assert "action" not in rules["InputDrift"]["annotations"]
    assert not (out / "src/fraud_scoring/retrain.json").exists()


def test_a_training_service_is_lint_clean_and_typed(
    churn: Path, tmp_path: Path
) -> None:
    """Its pyproject (the retrain extra, retrain.json as package data) and code pass
    the generated package's own ruff, black and strict mypy."""
    assert_lint_clean(churn, tmp_path)
