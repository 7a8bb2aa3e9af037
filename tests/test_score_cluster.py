"""``score`` on real clusters on loopback (issue 15): a Dask scheduler with worker
processes started from its command line, and a Spark standalone cluster (a master and
a worker started from pyspark's own scripts) with the job sent by ``spark-submit``,
the generated package and its artifacts shipped to the executor as the generated
README says. Their output equals the local engine's, and a worker whose artifact
differs from the build's refuses: exit 3, naming the artifact.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.service_support import (
    built_service,
    free_port,
    package_of,
    service_env,
    transactions_frame,
)

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
CATEGORIES = ["grocery", "fuel", "restaurant", "electronics", "travel"]
START_SECONDS = 120.0


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


@pytest.fixture(scope="module")
def fraud(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_service(tmp_path_factory, "fraud_scoring")


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = transactions_frame(300, seed=7, categories=CATEGORIES)
    path = tmp_path_factory.mktemp("rows") / "transactions.csv"
    frame.to_csv(path, index=False)
    return path


def _score(fraud: Path, cwd: Path, *argv: str | Path, **env: str) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", package_of(fraud), "score", *map(str, argv)],
        capture_output=True, text=True, cwd=cwd, timeout=600, check=False,
        env={**service_env(fraud), **env},
    )  # fmt: skip
    return proc.returncode, proc.stderr


@pytest.fixture(scope="module")
def local(fraud: Path, rows: Path) -> bytes:
    target = rows.parent / "local.jsonl"
    code, err = _score(fraud, rows.parent, rows, "-o", target, "--keep", "tx_id")
    assert code == 0, err
    return target.read_bytes()


def _copy(fraud: Path, where: Path, tamper: bool = False) -> Path:
    """The service's package installed elsewhere (a worker's own environment)."""
    shutil.copytree(fraud / "src", where)
    if tamper:
        model = next((where / package_of(fraud) / "artifacts").glob("*.joblib"))
        model.write_bytes(model.read_bytes() + b"\0")
    return where


def _model_name(fraud: Path) -> str:
    return next((fraud / "src" / package_of(fraud) / "artifacts").glob("*.joblib")).name


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without the service on the path: workers find only theirs."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


@contextmanager
def _process(argv: list[str], log: Path, env: dict[str, str]) -> Iterator[None]:
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            argv, stdout=sink, stderr=subprocess.STDOUT, env=env,
            stdin=subprocess.DEVNULL, cwd=log.parent, start_new_session=True,
        )  # fmt: skip
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


def _wait_for(log: Path, text: str, count: int = 1) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if log.is_file() and log.read_text(errors="replace").count(text) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not in {log}:\n{log.read_text(errors='replace')}")


# --- Dask: a scheduler and worker processes, each with its own copy of the package


@contextmanager
def dask_cluster(tmp: Path, worker_paths: list[Path]) -> Iterator[str]:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    with ExitStack() as stack:
        log = tmp / "scheduler.log"
        stack.enter_context(
            _process(
                [
                    str(BIN / "dask"),
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--dashboard-address",
                    ":0",
                    "--no-show",
                ],
                log,
                _clean_env(),
            )
        )
        _wait_for(log, "Scheduler at:")
        for index, path in enumerate(worker_paths):
            folder = tmp / f"worker-{index}"
            folder.mkdir()
            stack.enter_context(
                _process(
                    [
                        str(BIN / "dask"),
                        "worker",
                        address,
                        "--nworkers",
                        "1",
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                        "--host",
                        "127.0.0.1",
                        "--local-directory",
                        str(folder),
                    ],
                    folder / "worker.log",
                    _clean_env(PYTHONPATH=str(path)),
                )
            )
            _wait_for(log, "Register worker", index + 1)
        yield address


def test_dask_workers_of_a_cluster_write_what_the_local_engine_writes(
    fraud: Path, rows: Path, local: bytes, tmp_path: Path
) -> None:
    copies = [_copy(fraud, tmp_path / f"env-{i}") for i in range(2)]
    with dask_cluster(tmp_path, copies) as scheduler:
        target = tmp_path / "dask.jsonl"
        code, err = _score(
            fraud, tmp_path, rows, "-o", target, "--keep", "tx_id",
            "--chunk-rows", "100", "--engine", "dask", "--scheduler", scheduler,
        )  # fmt: skip
    assert code == 0, err
    assert target.read_bytes() == local


def test_a_dask_worker_with_a_changed_artifact_refuses(
    fraud: Path, rows: Path, tmp_path: Path
) -> None:
    tampered = _copy(fraud, tmp_path / "env", tamper=True)
    with dask_cluster(tmp_path, [tampered]) as scheduler:
        target = tmp_path / "dask.jsonl"
        code, err = _score(
            fraud, tmp_path, rows, "-o", target, "--keep", "tx_id",
            "--engine", "dask", "--scheduler", scheduler,
        )  # fmt: skip
    assert code == 3, err
    assert f"artifact {_model_name(fraud)} has sha256" in err
    assert "changed after the build" in err and "Traceback" not in err
    assert not target.exists()


# --- Spark: a standalone master and worker, the job sent with spark-submit


@pytest.fixture(scope="module")
def spark_master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("spark")
    port = free_port()
    master = f"spark://127.0.0.1:{port}"
    home = _spark_home()
    env = _clean_env(SPARK_HOME=str(home), SPARK_LOCAL_IP="127.0.0.1")
    spark_class = str(home / "bin" / "spark-class")
    with ExitStack() as stack:
        stack.enter_context(
            _process(
                [
                    spark_class,
                    "org.apache.spark.deploy.master.Master",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--webui-port",
                    str(free_port()),
                ],
                tmp / "master.log",
                env,
            )
        )
        _wait_for(tmp / "master.log", "I have been elected leader")
        work = tmp / "work"
        work.mkdir()
        stack.enter_context(
            _process(
                [
                    spark_class,
                    "org.apache.spark.deploy.worker.Worker",
                    master,
                    "--host",
                    "127.0.0.1",
                    "--cores",
                    "2",
                    "--memory",
                    "1g",
                    "--webui-port",
                    str(free_port()),
                    "--work-dir",
                    str(work),
                ],
                tmp / "worker.log",
                env,
            )
        )
        _wait_for(tmp / "worker.log", "Successfully registered with master")
        yield master


def _submit(
    fraud: Path, master: str, cwd: Path, *argv: str | Path, files: Path | None = None
) -> tuple[int, str]:
    """The generated README's two-line driver, under spark-submit."""
    job = cwd / "score_job.py"
    job.write_text(
        "import sys\n"
        f"from {package_of(fraud)}.__main__ import main\n"
        'sys.exit(main(["score", *sys.argv[1:]]))\n'
    )
    options = ["--files", str(files)] if files is not None else []
    proc = subprocess.run(
        [str(_spark_home() / "bin" / "spark-submit"), "--master", master, "--conf",
         "spark.driver.host=127.0.0.1", "--conf", "spark.executor.memory=512m",
         *options, str(job), *map(str, argv), "--engine", "spark"],
        capture_output=True, text=True, cwd=cwd, timeout=600, check=False,
        env={**service_env(fraud), "SPARK_LOCAL_IP": "127.0.0.1",
             "SPARK_HOME": str(_spark_home()),
             "PYSPARK_PYTHON": sys.executable},
    )  # fmt: skip
    # spark-submit's Python driver writes to the JVM's stdout (its stderr, merged).
    return proc.returncode, proc.stdout + proc.stderr


def test_spark_submit_on_a_standalone_cluster_writes_what_the_local_engine_writes(
    fraud: Path, rows: Path, local: bytes, spark_master: str, tmp_path: Path
) -> None:
    target = tmp_path / "spark.jsonl"
    code, err = _submit(
        fraud, spark_master, tmp_path, rows, "-o", target, "--keep", "tx_id",
        "--chunk-rows", "100",
    )  # fmt: skip
    assert code == 0, err
    assert target.read_bytes() == local


def test_a_shipped_artifact_that_differs_is_refused_by_the_executor(
    fraud: Path, rows: Path, spark_master: str, tmp_path: Path
) -> None:
    tampered = _copy(fraud, tmp_path / "cluster-copy", tamper=True)
    model = tampered / package_of(fraud) / "artifacts" / _model_name(fraud)
    target = tmp_path / "spark.jsonl"
    code, err = _submit(
        fraud, spark_master, tmp_path, rows, "-o", target, "--keep", "tx_id",
        files=model,
    )  # fmt: skip
    assert code == 3, err[-3000:]
    assert f"on a Spark executor: artifact {_model_name(fraud)} has sha256" in err
    assert not target.exists()
