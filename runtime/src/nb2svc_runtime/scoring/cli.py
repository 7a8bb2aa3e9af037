"""``python -m <package> score INPUT -o OUTPUT``: the command line of file scoring.

Exit codes (the generated README's "Scoring files" lists them too):

* 0: every row scored;
* 1: some rows rejected (invalid for the schema, or the notebook's code failed on
  them): the others are in OUTPUT, the rejected ones in the rejects file;
* 2: a bad command line or input file (unreadable, missing or unknown columns);
* 3: an artifact is missing or changed since the build, or the registered model
  version can't be scored (unknown version or alias, registry unreachable, the
  ``registry`` extra missing, a file that differs from the registered one);
* 130: interrupted (Ctrl-C): nothing written.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TextIO

from .core import (
    KINDS,
    Scored,
    ScoringError,
    ScoringSpec,
    check_columns,
    verify_artifacts,
)
from .engines import run_dask, run_local, run_spark
from .formats import (
    FORMATS,
    Format,
    RejectsWriter,
    TableWriter,
    atomic_file,
    count_rows,
    detect_format,
    read_columns,
)
from .model import ResolvedModel, resolve_model
from .progress import Progress

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_ARTIFACTS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DEFAULT_CHUNK_ROWS = 10_000


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{prog} score",
        description=(
            "Score every row of a CSV, Parquet or JSON lines file, as the service would "
            "answer it, into OUTPUT (same formats). Rows the schema refuses go to a "
            "rejects file with their row number. Exit codes: 0 all scored, 1 some rows "
            "rejected, 2 bad command or input, 3 artifacts changed or the registered "
            "model can't be scored, 130 interrupted."
        ),
    )
    parser.add_argument("input", type=Path, help="file to score")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="file to write"
    )
    parser.add_argument(
        "--format", choices=FORMATS, help="input format [default: from its suffix]"
    )
    parser.add_argument(
        "--output-format",
        choices=FORMATS,
        help="output format [default: from its suffix]",
    )
    parser.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="COLUMN",
        help="pass this column (an id) through to the output; repeatable",
    )
    parser.add_argument(
        "--rejects",
        type=Path,
        help="where rejected rows go (JSON lines) [default: OUTPUT.rejects.jsonl]",
    )
    parser.add_argument(
        "--chunk-rows",
        type=_positive,
        default=DEFAULT_CHUNK_ROWS,
        help=f"rows per pipeline call (and per partition) [default: {DEFAULT_CHUNK_ROWS}]",
    )
    _add_model_and_engine_options(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    parser.add_argument(
        "--stats",
        action="store_true",
        help=(
            "print the run's figures as one JSON line on stderr at the end: rows, "
            "rejected, seconds and rows_per_s from the engine ready to the output "
            "closed (start-up excluded), setup_seconds before that"
        ),
    )
    return parser


def _add_model_and_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model-uri",
        metavar="URI",
        help=(
            "the registered model version to score with, models:/NAME@ALIAS or "
            "models:/NAME/VERSION (MLFLOW_TRACKING_URI's registry), or 'packaged' "
            "for the packaged artifacts [default: the service's MODEL_URI setting, "
            "else packaged]"
        ),
    )
    parser.add_argument(
        "--engine",
        choices=("local", "dask", "spark"),
        default="local",
        help="where to score [default: local, this process]",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="dask: the cluster's scheduler [default: a LocalCluster]",
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        default=2,
        help="dask: the LocalCluster's worker processes [default: 2]",
    )
    parser.add_argument(
        "--master",
        help="spark: the master URL [default: spark-submit's, else local[*]]",
    )


def _engine(
    args: argparse.Namespace, spec: ScoringSpec, fmt: Format
) -> contextlib.AbstractContextManager[Iterator[Scored]]:
    """The engine's context: entering it starts the engine (loads the model, starts
    a cluster or a Spark session); it gives the scored chunks, in the file's order."""
    if args.engine == "dask":
        return run_dask(
            spec,
            args.input,
            fmt,
            args.chunk_rows,
            scheduler=args.scheduler,
            workers=args.workers,
        )
    if args.engine == "spark":
        return run_spark(spec, args.input, fmt, args.chunk_rows, master=args.master)
    return run_local(spec, args.input, fmt, args.chunk_rows)


def score_file(
    args: argparse.Namespace,
    spec: ScoringSpec,
    schemas: ModuleType,
    stderr: TextIO,
    model_uri_variable: str | None = None,
) -> int:
    begun = time.monotonic()
    if not args.input.is_file():
        raise ScoringError(f"{args.input}: no such file")
    fmt = detect_format(args.input, args.format)
    out_fmt = detect_format(args.output, args.output_format)
    rejects_path = args.rejects or args.output.with_name(
        args.output.name + ".rejects.jsonl"
    )
    if args.output.resolve() in (args.input.resolve(), rejects_path.resolve()):
        raise ScoringError(
            f"{args.output}: the output must be a new file, not the input"
        )
    check_columns(spec, schemas, read_columns(args.input, fmt))
    model, spec = _resolve(args, spec, model_uri_variable, stderr)
    progress = Progress(
        count_rows(args.input, fmt), stream=stderr, enabled=not args.quiet
    )
    rejects = RejectsWriter(rejects_path)
    with contextlib.ExitStack() as stack:
        output = stack.enter_context(atomic_file(args.output))
        rejects.path = stack.enter_context(atomic_file(rejects_path))
        table = TableWriter(output, out_fmt, spec.keep)
        try:
            with _engine(args, spec, fmt) as chunks:
                progress.start()  # the engine is up: the steady state's clock starts
                for scored in chunks:
                    table.write(scored)
                    rejects.write(scored.rejects)
                    progress.update(len(scored.outputs), len(scored.rejects))
        finally:
            table.close()
            rejects.close()
        if not rejects.count:  # no rejects: no file (nor a stale one from a run before)
            rejects.path.write_bytes(b"")
    if not rejects.count:
        rejects_path.unlink(missing_ok=True)
    seconds = progress.elapsed()  # the output closed (and in place)
    progress.finish()
    if args.stats:
        setup = progress.started - begun
        stats = _stats(args, model, progress, seconds, setup)
        print(json.dumps(stats), file=stderr)
    if rejects.count:
        print(
            f"{rejects.count:,} row{'' if rejects.count == 1 else 's'} rejected: see "
            f"{rejects_path} (row numbers from 1, and why)",
            file=stderr,
        )
        return EXIT_REJECTED
    return EXIT_OK


def _resolve(
    args: argparse.Namespace,
    spec: ScoringSpec,
    model_uri_variable: str | None,
    stderr: TextIO,
) -> tuple[ResolvedModel, ScoringSpec]:
    """The model, resolved once here as serve resolves it, its files checked; the
    spec every worker scores with it."""
    model = resolve_model(
        args.model_uri, model_uri_variable, spec.artifacts_dir, dict(spec.artifacts)
    )
    spec = dataclasses.replace(
        spec,
        artifacts_dir=model.folder,
        artifacts=model.sha256,
        model_uri=model.uri,
        tracking_uri=model.tracking_uri,
    )
    print(f"scoring {model.description}", file=stderr)
    verify_artifacts(Path(spec.artifacts_dir), spec.artifacts, spec.recorded)
    return model, spec


def _stats(
    args: argparse.Namespace,
    model: ResolvedModel,
    progress: Progress,
    seconds: float,
    setup: float,
) -> dict[str, object]:
    """The run's figures, measured here: ``seconds`` from the engine ready (model
    loaded, cluster or session started) to the output closed, so start-up is not in
    ``rows_per_s``; ``setup_seconds`` from the command's start (its arguments parsed)
    to the engine ready: checking the file and the artifacts, starting the engine.
    ``model``: the registered version scored (``models:/NAME/N``), or ``packaged``."""
    return {
        "stats": "score",
        "engine": args.engine,
        "model": model.label,
        "chunk_rows": args.chunk_rows,
        "rows": progress.rows,
        "rejected": progress.rejected,
        "seconds": round(seconds, 6),
        "rows_per_s": round(progress.rows / max(seconds, 1e-9), 1),
        "setup_seconds": round(setup, 6),
    }


def main(
    argv: Sequence[str] | None = None,
    *,
    package: str,
    schemas: ModuleType,
    kind: str,
    artifacts_dir: Path | str,
    artifacts: Mapping[str, str],
    prog: str | None = None,
    stderr: TextIO | None = None,
    model_uri_variable: str | None = None,
) -> int:
    """Run ``score`` for a generated package; returns the exit code.

    ``package`` is imported by name wherever rows are scored (its ``pipeline`` and
    ``schemas`` modules); ``kind`` is its input kind (one of ``KINDS``); ``artifacts``
    maps each artifact in ``artifacts_dir`` to its sha256 at build time;
    ``model_uri_variable`` is the environment variable naming a registered model
    version to score instead (the service's ``<PREFIX>MODEL_URI``).
    """
    err = stderr if stderr is not None else sys.stderr
    if kind not in KINDS:
        raise ValueError(f"unknown input kind {kind!r}")
    args = build_parser(prog or f"python -m {package}").parse_args(argv)
    spec = ScoringSpec(
        package=package,
        kind=kind,  # type: ignore[arg-type]
        artifacts_dir=str(artifacts_dir),
        artifacts=tuple(sorted(artifacts.items())),
        keep=tuple(dict.fromkeys(args.keep)),
    )
    try:
        return score_file(args, spec, schemas, err, model_uri_variable)
    except ScoringError as exc:
        print(f"error: {exc}", file=err)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"interrupted: {args.output} not written", file=err)
        return EXIT_INTERRUPTED
