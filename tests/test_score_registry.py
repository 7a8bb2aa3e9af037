"""``score`` scores the registered model version the service would serve: a real
``mlflow server`` on loopback holding the fraud example twice (version 1 as bundled,
version 2 retrained; alias ``challenger`` on version 2), and the version-1 service
scoring a file with ``FRAUD_SCORING_MODEL_URI=models:/fraud@challenger`` on the local
engine, a Dask LocalCluster and local Spark. Every engine's answers are version 2's, as
the same service started with that MODEL_URI answers them over HTTP (real uvicorn), and
not the packaged model's; ``--model-uri packaged`` scores the packaged model whatever
the workers' environment says; a changed cached download, an unknown alias and an
unreachable registry stop the run with exit 3 and no output.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.registry_support import Registered, registered, registry
from tests.service_support import (
    free_port,
    package_of,
    service_env,
    serving,
    transactions_frame,
)
from tests.test_score_cluster import _spark_home, dask_cluster, spark_master

__all__ = ["registered", "registry", "spark_master"]  # the fixtures

pytestmark = pytest.mark.slow

VARIABLE = "FRAUD_SCORING_MODEL_URI"
CHALLENGER = "models:/fraud@challenger"
EXIT_ARTIFACTS = 3
KEEP = ("--keep", "tx_id")


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    frame = transactions_frame(240, seed=29)
    path = tmp_path_factory.mktemp("score-registry") / "transactions.csv"
    frame.to_csv(path, index=False)
    return path, frame


def env_for(
    done: Registered, cache: Path, model_uri: str | None = None, **extra: str
) -> dict[str, str]:
    """The version-1 service's environment, the registry named as MLflow reads it."""
    env = service_env(done.champion)
    env.pop("NB2SVC_MODEL_PINNED", None)
    env.update(MLFLOW_TRACKING_URI=done.registry.url, NB2SVC_MODEL_CACHE=str(cache))
    if model_uri is not None:
        env[VARIABLE] = model_uri
    return {**env, **extra}


def score(
    done: Registered, env: dict[str, str], cwd: Path, *argv: str | Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", package_of(done.champion), "score", *map(str, argv)],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=600, check=False,
    )  # fmt: skip


def answers(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def served(
    done: Registered, frame: pd.DataFrame, tmp: Path, model_uri: str | None
) -> list[dict[str, Any]]:
    """What the version-1 service answers for the rows, started with ``model_uri``
    (uvicorn on loopback), each with its tx_id as score writes it."""
    requests = frame.drop(columns="tx_id").to_dict(orient="records")
    settings = {"model_uri": model_uri} if model_uri is not None else {}
    got: list[dict[str, Any]] = []
    with serving(done.champion, tmp / "serve.log", **settings) as service:
        for start in range(0, len(requests), 100):
            response = httpx.post(
                f"{service.url}/predict", json=requests[start : start + 100], timeout=60
            )
            assert response.status_code == 200, response.text
            got.extend(response.json())
    return [
        {"tx_id": tx_id, **answer}
        for tx_id, answer in zip(frame["tx_id"], got, strict=True)
    ]


@pytest.fixture(scope="module")
def challenger_answers(
    registered: Registered,
    rows: tuple[Path, pd.DataFrame],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch_module: pytest.MonkeyPatch,
) -> list[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("serve-challenger")
    monkeypatch_module.setenv("MLFLOW_TRACKING_URI", registered.registry.url)
    monkeypatch_module.setenv("NB2SVC_MODEL_CACHE", str(tmp / "cache"))
    monkeypatch_module.delenv("NB2SVC_MODEL_PINNED", raising=False)
    return served(registered, rows[1], tmp, CHALLENGER)


@pytest.fixture(scope="module")
def packaged_answers(
    registered: Registered,
    rows: tuple[Path, pd.DataFrame],
    tmp_path_factory: pytest.TempPathFactory,
) -> list[dict[str, Any]]:
    return served(registered, rows[1], tmp_path_factory.mktemp("serve-packaged"), None)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_the_two_versions_answer_differently(
    challenger_answers: list[dict[str, Any]], packaged_answers: list[dict[str, Any]]
) -> None:
    """The premise of every test below: the retrained version is told apart."""
    differ = sum(
        a != b for a, b in zip(challenger_answers, packaged_answers, strict=True)
    )
    assert differ > len(packaged_answers) // 10


@pytest.mark.parametrize("engine", ["local", "dask", "spark"])
def test_every_engine_scores_the_aliased_registered_version(
    registered: Registered,
    rows: tuple[Path, pd.DataFrame],
    challenger_answers: list[dict[str, Any]],
    packaged_answers: list[dict[str, Any]],
    tmp_path: Path,
    engine: str,
) -> None:
    path, _ = rows
    target = tmp_path / f"{engine}.jsonl"
    options = {
        "local": [],
        "dask": ["--workers", "2"],
        "spark": ["--master", "local[2]"],
    }
    result = score(
        registered, env_for(registered, tmp_path / "cache", CHALLENGER), tmp_path,
        path, "-o", target, "--keep", "tx_id", "--chunk-rows", "60", "--stats",
        "--engine", engine, *options[engine],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "scoring models:/fraud/2 (alias challenger)" in result.stderr
    stats = json.loads(result.stderr.strip().splitlines()[-1])
    assert stats["model"] == "models:/fraud/2" and stats["rows"] == len(rows[1])
    scored = answers(target)
    assert scored == challenger_answers
    assert scored != packaged_answers


def test_dask_workers_whose_environment_names_another_version_score_the_clients(
    registered: Registered,
    rows: tuple[Path, pd.DataFrame],
    challenger_answers: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Worker processes started on their own, each with its installation of the
    version-1 service and an environment naming the champion alias (version 1): the
    client resolved the challenger, and they score version 2."""
    path, _ = rows
    monkeypatch.setenv(VARIABLE, "models:/fraud@champion")  # the workers' environment
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered.registry.url)
    monkeypatch.setenv("NB2SVC_MODEL_CACHE", str(tmp_path / "worker-cache"))
    copies = []
    for index in range(2):
        copy = tmp_path / f"env-{index}"
        shutil.copytree(registered.champion / "src", copy)
        copies.append(copy)
    target = tmp_path / "dask.jsonl"
    with dask_cluster(tmp_path, copies) as scheduler:
        result = score(
            registered, env_for(registered, tmp_path / "cache", CHALLENGER), tmp_path,
            path, "-o", target, *KEEP, "--chunk-rows", "60", "--engine", "dask",
            "--scheduler", scheduler,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert answers(target) == challenger_answers


def test_spark_submit_ships_the_registered_version_to_the_executors(
    registered: Registered,
    rows: tuple[Path, pd.DataFrame],
    challenger_answers: list[dict[str, Any]],
    spark_master: str,
    tmp_path: Path,
) -> None:
    """A Spark standalone cluster: the driver resolves the challenger, the executors
    get its downloaded files (addFile), not the packaged ones, and check them."""
    path, _ = rows
    job = tmp_path / "score_job.py"
    job.write_text(
        "import sys\n"
        f"from {package_of(registered.champion)}.__main__ import main\n"
        'sys.exit(main(["score", *sys.argv[1:]]))\n'
    )
    target = tmp_path / "spark.jsonl"
    env = env_for(
        registered, tmp_path / "cache", CHALLENGER, SPARK_LOCAL_IP="127.0.0.1",
        SPARK_HOME=str(_spark_home()), PYSPARK_PYTHON=sys.executable,
    )  # fmt: skip
    proc = subprocess.run(
        [str(_spark_home() / "bin" / "spark-submit"), "--master", spark_master,
         "--conf", "spark.driver.host=127.0.0.1", "--conf",
         "spark.executor.memory=512m", str(job), str(path), "-o", str(target),
         *KEEP, "--chunk-rows", "60", "--engine", "spark"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600,
        check=False,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert answers(target) == challenger_answers
    assert "scoring models:/fraud/2 (alias challenger)" in output


def test_the_option_names_a_version_and_overrides_the_environment(
    registered: Registered,
    rows: tuple[Path, pd.DataFrame],
    challenger_answers: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    path, _ = rows
    target = tmp_path / "scores.jsonl"
    env = env_for(registered, tmp_path / "cache", "models:/fraud@champion")
    result = score(
        registered, env, tmp_path, path, "-o", target, "--keep", "tx_id",
        "--model-uri", "models:/fraud/2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "scoring models:/fraud/2\n" in result.stderr
    assert answers(target) == challenger_answers


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_model_uri_packaged_scores_the_packaged_model_on_every_worker(
    registered: Registered,
    rows: tuple[Path, pd.DataFrame],
    packaged_answers: list[dict[str, Any]],
    tmp_path: Path,
    engine: str,
) -> None:
    """The workers' environment names the challenger (a LocalCluster's workers
    inherit it): they still load the packaged model."""
    path, _ = rows
    target = tmp_path / "scores.jsonl"
    options = ["--workers", "2"] if engine == "dask" else []
    result = score(
        registered, env_for(registered, tmp_path / "cache", CHALLENGER), tmp_path,
        path, "-o", target, "--keep", "tx_id", "--chunk-rows", "60", "--stats",
        "--model-uri", "packaged", "--engine", engine, *options,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "scoring the packaged artifacts" in result.stderr
    assert json.loads(result.stderr.strip().splitlines()[-1])["model"] == "packaged"
    assert answers(target) == packaged_answers


def refused(result: subprocess.CompletedProcess[str], target: Path) -> str:
    assert result.returncode == EXIT_ARTIFACTS, result.stderr
    assert "Traceback" not in result.stderr
    assert not target.exists()
    assert not Path(f"{target}.rejects.jsonl").exists()
    (line,) = result.stderr.strip().splitlines()
    return line


def test_a_tampered_cached_download_is_refused(
    registered: Registered, rows: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    path, _ = rows
    cache = tmp_path / "cache"
    env = env_for(registered, cache, CHALLENGER)
    first = tmp_path / "first.jsonl"
    assert (
        score(registered, env, tmp_path, path, "-o", first, "-q", *KEEP).returncode == 0
    )
    (model,) = cache.rglob("fraud_model.joblib")
    model.write_bytes(model.read_bytes() + b"\0")
    target = tmp_path / "scores.jsonl"
    result = score(registered, env, tmp_path, path, "-o", target, *KEEP)
    line = refused(result, target)
    assert line.startswith("error: models:/fraud/2: artifact fraud_model.joblib has ")
    assert "changed after registration" in line
    # The changed copy was dropped: the next run downloads the version again.
    again = score(registered, env, tmp_path, path, "-o", target, "-q", *KEEP)
    assert again.returncode == 0, again.stderr


def test_an_unknown_alias_is_refused(
    registered: Registered, rows: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    target = tmp_path / "scores.jsonl"
    env = env_for(registered, tmp_path / "cache", "models:/fraud@nope")
    line = refused(
        score(registered, env, tmp_path, rows[0], "-o", target, *KEEP), target
    )
    assert line.startswith("error: models:/fraud@nope: the registry has no alias")


def test_an_unreachable_registry_is_refused(
    registered: Registered, rows: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    target = tmp_path / "scores.jsonl"
    env = env_for(
        registered,
        tmp_path / "cache",
        CHALLENGER,
        MLFLOW_TRACKING_URI=f"http://127.0.0.1:{free_port()}",
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
    )
    line = refused(
        score(registered, env, tmp_path, rows[0], "-o", target, *KEEP), target
    )
    prefix = "error: models:/fraud@challenger: asking the registry at http://127.0.0.1:"
    assert line.startswith(prefix) and "failed with exception" in line


def test_without_the_registry_extra_the_version_is_refused(
    registered: Registered, rows: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    """An installation without MLflow (an empty ``mlflow`` first on the path, as
    Python sees a missing package): the client refuses, it never scores the packaged
    model instead."""
    shadow = tmp_path / "no-mlflow" / "mlflow"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('no mlflow here')\n")
    env = env_for(registered, tmp_path / "cache", CHALLENGER)
    env["PYTHONPATH"] = f"{shadow.parent}:{env['PYTHONPATH']}"
    target = tmp_path / "scores.jsonl"
    line = refused(
        score(registered, env, tmp_path, rows[0], "-o", target, *KEEP), target
    )
    assert line == (
        "error: MODEL_URI needs the MLflow client: pip install "
        "'nb2svc-runtime[registry]'"
    )


def test_a_malformed_option_is_a_usage_error(
    registered: Registered, rows: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    target = tmp_path / "scores.jsonl"
    env = env_for(registered, tmp_path / "cache")
    result = score(
        registered, env, tmp_path, rows[0], "-o", target, *KEEP,
        "--model-uri", "fraud@challenger",
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        "error: --model-uri 'fraud@challenger' is not models:/<name>@<alias>, "
        "models:/<name>/<version> or packaged\n"
    )
    assert not target.exists()


WORKER = """
import json, sys
from nb2svc_runtime.scoring.core import Chunk, RowScorer, ScoringSpec
spec = ScoringSpec(
    "fraud_scoring", "frame", sys.argv[1], tuple(json.loads(sys.argv[2]).items()),
    model_uri="models:/fraud/2", tracking_uri=sys.argv[3],
)
rows = json.loads(sys.stdin.read())
print(json.dumps(RowScorer(spec).score(Chunk(1, rows)).outputs))
"""


def test_a_worker_without_the_clients_folder_downloads_the_pinned_version(
    registered: Registered,
    rows: tuple[Path, pd.DataFrame],
    challenger_answers: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    """A Dask worker on another machine: the client's cache folder is not there, and
    its own environment names another model: it takes version 2 from the registry
    (pinned, alias not asked again), checked against the client's hashes."""
    manifest = json.loads((registered.challenger / "nb2svc.json").read_text())
    records = rows[1].drop(columns="tx_id").head(20).to_dict(orient="records")
    env = env_for(registered, tmp_path / "worker-cache", "models:/fraud@champion")
    env.pop("MLFLOW_TRACKING_URI")  # the worker knows the registry from the spec only
    argv = [str(tmp_path / "not-here"), json.dumps(manifest["artifacts"])]
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(WORKER), *argv, registered.registry.url],
        input=json.dumps(records), capture_output=True, text=True, env=env,
        timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    expected = [
        {k: v for k, v in a.items() if k != "tx_id"} for a in challenger_answers[:20]
    ]
    assert json.loads(result.stdout) == expected
    assert list((tmp_path / "worker-cache").rglob("fraud_model.joblib"))
