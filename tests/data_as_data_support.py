"""Render a service from a ServiceSpec made in memory (no kernel), write it, and run it
in a subprocess with Starlette's TestClient: for the hostile-input tests."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nb2svc.model import (
    Artifact,
    CodeBlock,
    ExampleSet,
    Role,
    RoleFunction,
    ServiceSpec,
    Setting,
)
from nb2svc.naming import dist_name, env_prefix, package_name, title

#: The marker a hostile name's code would leave: it must never appear.
SENTINEL = "INJECTED"

#: The pipeline: answers the names it was given, the config value and the input.
FRAME_PREDICT = (
    "def predict(df):\n"
    "    return {'columns': [str(c) for c in df.columns], 'label': LABEL,"
    " 'first': [None if v != v else v for v in df.iloc[0].tolist()]}\n"
)
RECORD_PREDICT = (
    "def predict(x):\n    return {'keys': list(x), 'label': LABEL, 'echo': x}\n"
)

#: Imports the generated app, waits for it, posts the request read from stdin and
#: prints the status and body. Any side effect of the import shows in the cwd.
DRIVER = """
import importlib, json, sys, time
from fastapi.testclient import TestClient

app = importlib.import_module(sys.argv[1] + ".app").app
request = json.loads(sys.stdin.read())
with TestClient(app) as client:
    deadline = time.monotonic() + 60
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "not ready"
        time.sleep(0.02)
    response = client.post("/predict", json=request)
    print(json.dumps({"status": response.status_code, "body": response.json()}))
"""


def make_spec(
    notebook: str,
    examples: ExampleSet,
    label: str = "label",
    artifacts: Sequence[str] = (),
) -> ServiceSpec:
    """A spec as ``nb2svc build`` would make it, for a pipeline echoing its input."""
    package = package_name(Path(notebook).stem)
    prefix = env_prefix(package)
    code = FRAME_PREDICT if examples.input_kind == "frame" else RECORD_PREDICT
    return ServiceSpec(
        notebook=notebook,
        package=package,
        dist_name=dist_name(package),
        title=title(package),
        env_prefix=prefix,
        python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
        imports=(),
        blocks=(
            CodeBlock(Role.CONFIG, 0, "cell-0", f"LABEL = {label!r}"),
            CodeBlock(Role.PREDICT, 1, "cell-1", code),
        ),
        functions=(RoleFunction(Role.PREDICT, "predict", None, None),),
        load_globals=(),
        settings=(Setting("label", "LABEL", f"{prefix}LABEL", "str", repr(label)),),
        artifacts=tuple(
            Artifact(name, hashlib.sha256(name.encode()).hexdigest(), len(name))
            for name in sorted(artifacts)
        ),
        requirements=("fastapi==0.1",),
        test_requirements=("pytest==8",),
        examples=examples,
        cells_sha256="0" * 64,
    )


def frame_examples(columns: Sequence[str], value: str, label: str) -> ExampleSet:
    """One row: an integer in every column but the last, a category holding ``value``."""
    row: dict[str, Any] = {c: i for i, c in enumerate(columns[:-1])}
    row[columns[-1]] = value
    dtypes = (*((c, "int64") for c in columns[:-1]), (columns[-1], "category"))
    output = {"columns": list(columns), "label": label, "first": list(row.values())}
    return ExampleSet("frame", ([row],), (output,), columns=dtypes)


def record_examples(example: dict[str, Any], label: str) -> ExampleSet:
    output = {"keys": list(example), "label": label, "echo": example}
    return ExampleSet("record", (example,), (output,))


def write_package(files: dict[str, bytes], out: Path, spec: ServiceSpec) -> None:
    for rel, content in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    for artifact in spec.artifacts:  # the service checks each one's sha256
        path = out / "src" / spec.package / "artifacts" / artifact.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(artifact.name.encode())


def call_service(out: Path, package: str, request: Any) -> dict[str, Any]:
    """Import the package's app in a fresh interpreter (cwd: ``out``) and POST
    ``request`` to /predict; returns {"status", "body"}."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHONPATH")}
    env["PYTHONPATH"] = str(out / "src")
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, package],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=out,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    answer: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return answer


def side_effects(out: Path) -> list[str]:
    """Files the injected code would have created (``touch INJECTED``, anywhere under
    ``out``; an artifact whose name merely holds the text does not count)."""
    return sorted(p.relative_to(out).as_posix() for p in out.rglob(SENTINEL))
