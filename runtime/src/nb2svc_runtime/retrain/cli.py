"""``python -m <package> retrain``: options, the report (text or JSON), exit codes.

Exit codes: 0 the new model passed the gate (and was registered, with
``--register``); 2 bad command line, or nothing to retrain; 3 the data file is
missing or unreadable, or the current model's artifacts can't be had; 4 a cell failed
on the new data, timed out, or wrote no artifact (cell and line named); 12 the
registry can't be reached or refused; 14 the new model did not pass the gate
(nothing registered); 130 interrupted (the kernel stopped, nothing written).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..artifacts import ArtifactError, Artifacts
from ..registry import PINNED_ENV
from ..spec import ServiceInfo
from .gate import Gate, greater_is_better
from .plan import PlanError, RetrainPlan, load_plan
from .run import RetrainError, RetrainOptions, RetrainResult, retrain

PASSED, USAGE, BAD_DATA, FAILED_CELL, REGISTRY, FAILED_GATE = 0, 2, 3, 4, 12, 14
INTERRUPTED = 130


def _add_gate_options(parser: argparse.ArgumentParser) -> None:
    """The metric's direction and the gate."""
    direction = parser.add_mutually_exclusive_group()
    direction.add_argument("--greater-is-better", dest="greater", action="store_true")
    direction.add_argument(
        "--lower-is-better",
        dest="lower",
        action="store_true",
        help="the metric's direction [default: lower for *_error, *_loss, *_deviance]",
    )
    gate = parser.add_mutually_exclusive_group()
    gate.add_argument(
        "--min-delta",
        type=float,
        help="the new model must beat the current one by this much [default: 0]",
    )
    gate.add_argument(
        "--max-regression",
        type=float,
        help="the new model may be worse than the current one by this much",
    )


def build_parser(info: ServiceInfo) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{info.name} retrain",
        description=(
            f"Rerun the train cells of {info.notebook} on new data in a fresh kernel, "
            "score the new model against the current one on the held-out slice, and "
            "register it only when it passes the gate."
        ),
    )
    parser.add_argument(
        "--data", type=Path, required=True, help="the new training data"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("retrained"),
        help="folder for the new artifacts [default: retrained]",
    )
    parser.add_argument(
        "--metric",
        help="a function of the notebook or of sklearn.metrics, metric(y_true, y_pred) "
        "[default: the notebook's metric=]",
    )
    _add_gate_options(parser)
    parser.add_argument(
        "--current",
        help="the current model: models:/NAME@ALIAS or models:/NAME/VERSION "
        f"[default: {info.env_prefix}MODEL_URI, else the packaged artifacts]",
    )
    parser.add_argument(
        "--register", action="store_true", help="register the new model if it passes"
    )
    parser.add_argument(
        "--registry", help="MLflow tracking URI [default: MLFLOW_TRACKING_URI]"
    )
    parser.add_argument(
        "--registered-name",
        help="registered model [default: the --current model's, else the package]",
    )
    parser.add_argument("--alias", help="set this alias on the registered version")
    parser.add_argument(
        "--timeout", type=int, default=1800, help="seconds per cell [default: 1800]"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def _current(artifacts: Artifacts, uri: str | None) -> tuple[Artifacts, str]:
    """The current model's checked artifacts, and what they are (a registered
    version's URI, or ``packaged``)."""
    current = copy.copy(artifacts)
    current.sha256 = dict(artifacts.sha256)
    variable = artifacts.model_uri_variable
    if uri and variable:
        os.environ[variable] = uri
    chosen = os.environ.get(variable or "") or None
    current.verify()
    if not chosen:
        return current, "packaged"
    pinned: dict[str, str] = json.loads(os.environ.get(PINNED_ENV) or "{}")
    return current, pinned.get(chosen, chosen)


def _report(
    args: argparse.Namespace,
    result: RetrainResult,
    current: str,
    registered: str | None,
) -> dict[str, Any]:
    verdict = result.verdict
    return {
        "data": str(args.data),
        "data_sha256": result.data_sha256,
        "metric": result.metric,
        "greater_is_better": result.greater_is_better,
        "rows": result.rows,
        "current": {"model": current, "score": verdict.current},
        "new": {
            "score": verdict.new,
            "out": str(result.out),
            "artifacts": result.artifacts,
        },
        "delta": verdict.delta,
        "gate": {"min_delta": result.gate.min_delta},
        "passed": verdict.passed,
        "outcome": "passed" if verdict.passed else "failed_gate",
        "registered": registered,
        "profile": _profile_report(result),
    }


def _profile_report(result: RetrainResult) -> dict[str, Any] | None:
    """The drift profile rebuilt from the reference cell (None: no reference cell)."""
    profile = result.profile
    if profile is None:
        return None
    return {
        "file": profile.file,
        "rebuilt": True,
        "rows": profile.rows,
        "prediction_rows": profile.prediction_rows,
        "notes": list(profile.notes),
    }


def _print(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return
    better = "higher" if report["greater_is_better"] else "lower"
    print(f"{report['metric']} ({better} is better) on {report['rows']} held-out rows:")
    print(
        f"  current  {report['current']['score']:.6g}  ({report['current']['model']})"
    )
    print(f"  new      {report['new']['score']:.6g}  ({report['new']['out']})")
    print(
        f"  change   {report['delta']:+.6g}  (gate: at least "
        f"{report['gate']['min_delta']:+.6g})"
    )
    for name, sha in sorted(report["new"]["artifacts"].items()):
        print(f"  {name}  sha256 {sha}")
    profile = report["profile"]
    if profile is not None:
        print(
            f"drift profile rebuilt from {profile['rows']} reference rows of the new "
            f"data: {profile['file']}"
        )
        for note in profile["notes"]:
            print(f"  {note}")
    if not report["passed"]:
        print("gate: FAILED, nothing registered")
    elif report.get("register_error"):
        print("gate: passed, but NOT registered (the registry failed)")
    elif report["registered"] and not report.get("created", True):
        print(
            f"gate: passed, already registered (same fingerprint): "
            f"{report['registered']}"
        )
    elif report["registered"]:
        print(f"gate: passed, registered: {report['registered']}")
    else:
        print("gate: passed")


def _register(
    args: argparse.Namespace,
    plan: RetrainPlan,
    result: RetrainResult,
    current: str,
    report: dict[str, Any],
) -> str:
    from ..registry import parse_model_uri
    from .register import register_retrained

    name = args.registered_name
    if name is None:  # the current version's registered model, else the package's
        name = parse_model_uri(current)[0] if current != "packaged" else plan.service
    tags = {
        "nb2svc.service": plan.service,
        "nb2svc.notebook": plan.notebook,
        "nb2svc.cells_sha256": plan.cells_sha256,
        "nb2svc.retrain.data_sha256": result.data_sha256,
        "nb2svc.retrain.metric": result.metric,
        "nb2svc.retrain.current": current,
        "nb2svc.retrain.score": repr(result.verdict.new),
        "nb2svc.retrain.current_score": repr(result.verdict.current),
    }
    # MLflow prints links to the run on stdout: keep stdout for the report (--json).
    with contextlib.redirect_stdout(sys.stderr):
        done = register_retrained(
            args.registry, name, result.out, result.artifacts, tags, report, args.alias
        )
    report["created"] = done.created  # false: a version had these very files
    return done.uri


def _checked(args: argparse.Namespace, plan: RetrainPlan) -> tuple[str, bool, float]:
    """The metric, its direction and the gate's minimum change; ``_Refused`` with
    an exit code when the command line or the data can't be used."""
    metric = args.metric or plan.metric
    if not metric or not metric.isidentifier():
        raise _Refused(
            USAGE,
            f"{plan.notebook} names no metric: give --metric (a function of "
            "sklearn.metrics, e.g. --metric roc_auc_score)",
        )
    greater = (
        True if args.greater else False if args.lower else greater_is_better(metric)
    )
    min_delta = (
        -args.max_regression if args.max_regression is not None else args.min_delta
    )
    if args.register and not (args.registry or os.environ.get("MLFLOW_TRACKING_URI")):
        raise _Refused(
            USAGE,
            "--register needs a registry: --registry URI or MLFLOW_TRACKING_URI",
        )
    if not args.data.exists() or not os.access(args.data, os.R_OK):
        raise _Refused(BAD_DATA, f"--data {args.data}: no such file, or not readable")
    return metric, greater, min_delta or 0.0


class _Refused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def main(info: ServiceInfo, artifacts: Artifacts, argv: Sequence[str]) -> int:
    args = build_parser(info).parse_args(argv)
    if args.registry:
        os.environ["MLFLOW_TRACKING_URI"] = args.registry
    try:
        plan = load_plan(info.package)
        metric, greater, min_delta = _checked(args, plan)
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE
    except _Refused as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.code
    try:
        current, what = _current(artifacts, args.current)
    except ArtifactError as exc:
        print(f"error: the current model: {exc}", file=sys.stderr)
        return BAD_DATA
    options = RetrainOptions(
        data=args.data,
        out=args.out,
        current=current.folder,
        metric=metric,
        greater_is_better=greater,
        gate=Gate(min_delta),
        timeout=args.timeout,
    )
    try:
        result = retrain(plan, options)
    except RetrainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(
            f"interrupted: nothing written ({args.out} is as it was)", file=sys.stderr
        )
        return INTERRUPTED
    report = _report(args, result, what, None)
    if result.verdict.passed and args.register:
        from .register import RegisterError

        try:
            report["registered"] = _register(args, plan, result, what, report)
        except RegisterError as exc:
            report["register_error"] = str(exc)
            _print(report, args.json)
            print(f"error: {exc}", file=sys.stderr)
            return REGISTRY
    _print(report, args.json)
    return PASSED if result.verdict.passed else FAILED_GATE
