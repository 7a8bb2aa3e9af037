"""``score``: files in, the service's answers out, on a stub package (no build).

The engine tests (Dask, Spark) are in test_scoring_engines.py; a real built service
scoring real files against its own HTTP answers is in the builder's
tests/test_score_files.py.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from scoring_stub import expected, write_stub

from nb2svc_runtime.scoring import cli

HEADER = ["id", "amount", "category", "count", "flag"]
Run = Callable[..., tuple[int, str]]
_names = itertools.count()


def rows(n: int) -> list[list[Any]]:
    return [
        [f"0{i:04d}", 100 + i / 4, "abc"[i % 3], i % 7, i % 2 == 0] for i in range(n)
    ]


def write_csv(path: Path, body: list[list[Any]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(body)
    return path


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def answer_rows(body: list[list[Any]]) -> list[dict[str, object]]:
    return [
        {"id": r[0], **expected(float(r[1]), str(r[2]), int(r[3]), bool(r[4]))}
        for r in body
    ]


@pytest.fixture
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    return root


def make_runner(packages: Path, kind: str) -> tuple[str, Run]:
    name = f"stub_{kind}_{next(_names)}"  # a fresh module: its own CALLS
    sha = write_stub(packages, name, kind)

    def run(*argv: str | Path) -> tuple[int, str]:
        stderr = io.StringIO()
        schemas = __import__(f"{name}.schemas", fromlist=["x"])
        code = cli.main(
            [str(a) for a in argv],
            package=name,
            schemas=schemas,
            kind=kind,
            artifacts_dir=packages / name / "artifacts",
            artifacts=sha,
            stderr=stderr,
        )
        return code, stderr.getvalue()

    return name, run


@pytest.fixture
def frame(packages: Path) -> Iterator[tuple[str, Run]]:
    yield make_runner(packages, "frame")


def calls(name: str) -> list[int]:
    return list(sys.modules[f"{name}.pipeline"].CALLS)


def test_a_csv_is_scored_row_for_row_in_one_pipeline_call_per_chunk(
    frame: tuple[str, Run], tmp_path: Path
) -> None:
    name, run = frame
    body = rows(25)
    source = write_csv(tmp_path / "in.csv", body)
    code, err = run(
        source, "-o", tmp_path / "out.csv", "--keep", "id", "--chunk-rows", "10"
    )
    assert code == 0, err
    out = pd.read_csv(tmp_path / "out.csv", dtype={"id": str})
    assert out.to_dict(orient="records") == answer_rows(body)
    assert calls(name) == [10, 10, 5]  # one call per chunk, every row in it
    assert "25 rows" in err and "rows/s" in err
    assert not (tmp_path / "out.csv.rejects.jsonl").exists()


def test_bad_rows_are_reported_with_their_row_number_and_the_rest_scored(
    frame: tuple[str, Run], tmp_path: Path
) -> None:
    _, run = frame
    body = rows(12)
    body[3][1] = "n/a"  # not a number
    body[7][3] = ""  # missing
    body[9][1] = 13  # the notebook's code raises on it
    source = write_csv(tmp_path / "in.csv", body)
    code, err = run(
        source, "-o", tmp_path / "out.csv", "--keep", "id", "--chunk-rows", "5"
    )
    assert code == cli.EXIT_REJECTED
    assert "3 rows rejected" in err
    rejects = jsonl(tmp_path / "out.csv.rejects.jsonl")
    assert [(r["row"], r["keep"]["id"]) for r in rejects] == [
        (4, "00003"),
        (8, "00007"),
        (10, "00009"),
    ]
    assert rejects[0]["errors"][0]["loc"] == ["amount"]
    assert rejects[1]["errors"][0]["loc"] == ["count"]
    assert rejects[2]["errors"] == [
        {"loc": [], "msg": "ValueError: unlucky amount", "type": "pipeline_error"}
    ]
    out = pd.read_csv(tmp_path / "out.csv", dtype={"id": str})
    good = [r for i, r in enumerate(body) if i not in (3, 7, 9)]
    assert out.to_dict(orient="records") == answer_rows(good)


def test_json_lines_are_validated_as_strictly_as_requests(
    packages: Path, tmp_path: Path
) -> None:
    name, run = make_runner(packages, "record")
    lines = [
        json.dumps({"id": 1, "amount": 1.5, "category": "a", "count": 2, "flag": True}),
        json.dumps(
            {"id": 2, "amount": "1.5", "category": "a", "count": 2, "flag": True}
        ),
        "{not json",
        json.dumps({"id": 4, "amount": 2, "category": "b", "count": 3, "flag": False}),
        json.dumps([1, 2]),
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    code, _ = run(source, "-o", tmp_path / "out.jsonl", "--keep", "id")
    assert code == cli.EXIT_REJECTED
    out = jsonl(tmp_path / "out.jsonl")
    assert out == [{"id": 1, "score": 5.5}, {"id": 4, "score": 7.5}]
    rejects = jsonl(tmp_path / "out.jsonl.rejects.jsonl")
    assert [r["row"] for r in rejects] == [2, 3, 5]  # line numbers
    assert rejects[0]["errors"][0]["type"] == "float_type"  # "1.5" is no number in JSON
    assert rejects[1]["errors"][0]["type"] == "unreadable_row"
    assert calls(name) == [2]


def test_parquet_in_and_out(frame: tuple[str, Run], tmp_path: Path) -> None:
    _, run = frame
    body = rows(30)
    table = pd.DataFrame(body, columns=HEADER)
    table.to_parquet(tmp_path / "in.parquet")
    code, err = run(
        tmp_path / "in.parquet", "-o", tmp_path / "out.parquet", "--keep", "id",
        "--chunk-rows", "7",
    )  # fmt: skip
    assert code == 0, err
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out.to_dict(orient="records") == answer_rows(body)
    assert "30/30 rows (100%)" in err


def test_an_interrupted_run_writes_nothing_and_exits_130(
    frame: tuple[str, Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STUB_FAIL_AT", "3")  # Ctrl-C during the third chunk
    _, run = frame
    source = write_csv(tmp_path / "in.csv", rows(50))
    target = tmp_path / "out" / "scores.csv"
    target.parent.mkdir()
    target.write_text("yesterday's scores\n")
    code, err = run(source, "-o", target, "--keep", "id", "--chunk-rows", "10")
    assert code == cli.EXIT_INTERRUPTED
    assert "interrupted" in err
    assert target.read_text() == "yesterday's scores\n"  # untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["scores.csv"]


def test_changed_artifacts_stop_before_scoring(
    frame: tuple[str, Run], packages: Path, tmp_path: Path
) -> None:
    name, run = frame
    (packages / name / "artifacts" / "offset.txt").write_text("1000\n")
    source = write_csv(tmp_path / "in.csv", rows(3))
    code, err = run(source, "-o", tmp_path / "out.csv", "--keep", "id")
    assert code == cli.EXIT_ARTIFACTS
    assert "offset.txt has sha256" in err and "changed after the build" in err
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize(
    ("header", "argv", "message"),
    [
        (["id", "amount", "category", "count"], ["--keep", "id"], "lacks the input column(s) flag"),
        (HEADER, [], "column(s) id are not inputs of the service: pass them through with --keep"),
        (HEADER, ["--keep", "id", "--keep", "ref"], "--keep ref: no such column"),
    ],
)  # fmt: skip
def test_columns_that_cannot_make_requests_are_refused_up_front(
    frame: tuple[str, Run],
    tmp_path: Path,
    header: list[str],
    argv: list[str],
    message: str,
) -> None:
    name, run = frame
    source = write_csv(tmp_path / "in.csv", [r[: len(header)] for r in rows(3)], header)
    code, err = run(source, "-o", tmp_path / "out.csv", *argv)
    assert code == cli.EXIT_USAGE
    assert message in err
    assert f"{name}.pipeline" not in sys.modules  # the model not even loaded
    assert not (tmp_path / "out.csv").exists()


def test_unknown_suffix_and_missing_input_are_usage_errors(
    frame: tuple[str, Run], tmp_path: Path
) -> None:
    _, run = frame
    source = write_csv(tmp_path / "in.txt", rows(2))
    code, err = run(source, "-o", tmp_path / "out.csv")
    assert code == cli.EXIT_USAGE and "pass --format" in err
    code, _ = run(source, "-o", tmp_path / "out.csv", "--format", "csv", "--keep", "id")
    assert code == 0
    code, err = run(tmp_path / "nope.csv", "-o", tmp_path / "out.csv")
    assert code == cli.EXIT_USAGE and "no such file" in err


MEMORY_SCRIPT = textwrap.dedent("""
    import resource, sys
    from pathlib import Path
    from nb2svc_runtime.scoring import cli
    import {name}.schemas as schemas

    def run(source, chunk):
        code = cli.main(
            [source, "-o", sys.argv[1] + ".out.csv", "--keep", "id", "-q",
             "--chunk-rows", chunk],
            package="{name}", schemas=schemas, kind="frame",
            artifacts_dir=Path("{artifacts}"), artifacts={sha!r},
        )
        assert code == 0, code
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    before = run(sys.argv[2], "1000")  # warm: imports, the model, a first chunk
    after = run(sys.argv[1], sys.argv[3])
    print((after - before) // 1024)
    """)


@pytest.mark.slow
def test_memory_stays_bounded_on_a_file_much_larger_than_a_chunk(
    packages: Path, tmp_path: Path
) -> None:
    name = f"stub_memory_{next(_names)}"
    sha = write_stub(packages, name, "frame")
    big = write_csv(tmp_path / "big.csv", rows(300_000))  # 300 chunks of 1,000
    small = write_csv(tmp_path / "small.csv", rows(1_000))
    script = tmp_path / "measure.py"
    script.write_text(
        MEMORY_SCRIPT.format(
            name=name, artifacts=packages / name / "artifacts", sha=sha
        )
    )
    env = {**os.environ, "PYTHONPATH": str(packages)}

    def growth_mb(chunk: int) -> int:
        result = subprocess.run(
            [sys.executable, str(script), str(big), str(small), str(chunk)],
            capture_output=True, text=True, env=env, timeout=600, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return int(result.stdout.split()[-1])

    streamed = growth_mb(1_000)
    whole = growth_mb(300_000)  # the same file as one chunk: what streaming saves
    assert streamed < 25, f"peak RSS grew by {streamed} MB scoring 1,000-row chunks"
    assert whole > 4 * max(streamed, 10), (streamed, whole)
