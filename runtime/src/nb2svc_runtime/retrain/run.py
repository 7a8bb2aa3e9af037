"""One retrain: the train cells on new data, both models scored on the held-out
slice, the drift profile rebuilt from the reference cell with the new model, the new
artifacts written atomically, the gate judged."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..artifacts import sha256_of
from ..reference import profile_bytes, profile_call
from .gate import Gate, Verdict, greater_is_better
from .kernel import KernelError, Step, run_steps
from .plan import PlanCell, RetrainPlan

#: The model's output for ``raw``: the pipeline's function calls, nothing else.
_CALL = re.compile(r"(?:[A-Za-z_]\w*\()*raw\)*")
#: Our step profiling the reference data (its failures name the reference cell).
_PROFILE_STEP = "profile the reference data with the new model"


class RetrainError(RuntimeError):
    """Retraining could not finish; ``code`` is the exit code (README, "Retrain")."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class RetrainOptions:
    data: Path
    out: Path
    current: Path  # the current model's artifacts (checked)
    metric: str
    greater_is_better: bool
    gate: Gate = field(default_factory=Gate)
    timeout: int = 1800


@dataclass(frozen=True)
class RebuiltProfile:
    """The drift profile rebuilt from the reference cell on the new data."""

    file: str
    rows: int  # reference rows profiled
    prediction_rows: int
    notes: tuple[str, ...]  # what the profile left out (as the build warns)


@dataclass(frozen=True)
class RetrainResult:
    metric: str
    greater_is_better: bool
    rows: int
    verdict: Verdict
    gate: Gate
    artifacts: dict[str, str]  # name: sha256 of the new model's files
    out: Path
    data_sha256: str
    profile: RebuiltProfile | None = None  # None: the notebook has no reference cell


def _cell_step(cell: PlanCell) -> Step:
    """A notebook cell as a kernel cell. IPython drops a cell's leading blank lines
    (where the build blanked the ``# nb2svc:`` directive): a comment keeps each line
    where the notebook has it, so errors name the notebook's line."""
    lines = cell.code.split("\n")
    for index, line in enumerate(lines):
        if line.strip():
            break
        lines[index] = "#"
    return Step("\n".join(lines), cell=cell)


def _score_step(plan: RetrainPlan, target: str) -> Step:
    """Score the held-out inputs with the model the load cells just loaded."""
    kind = repr(plan.input_kind)
    code = (
        f"def _nb2svc_model(raw):\n    return {plan.call}\n"
        f"if {kind} == 'frame':\n"
        f"    {target} = _nb2svc_model(_nb2svc_X)\n"
        "else:\n"
        "    _nb2svc_rows = (\n"
        "        _nb2svc_X.to_dict('records')\n"
        f"        if {kind} == 'record' and hasattr(_nb2svc_X, 'to_dict')\n"
        "        else list(_nb2svc_X)\n"
        "    )\n"
        f"    {target} = [_nb2svc_model(_r) for _r in _nb2svc_rows]\n"
    )
    return Step(code, what=f"score the held-out slice ({target[8:]} model)")


def _steps(
    plan: RetrainPlan, options: RetrainOptions, result_file: Path, profile_file: Path
) -> list[Step]:
    """The notebook's cells with the data path set, then our evaluation steps, then
    (with a reference cell) the drift profile's."""
    names = [plan.data, *plan.holdout]
    if not all(n.isidentifier() for n in names) or not _CALL.fullmatch(plan.call):
        raise RetrainError("the packaged retrain plan is damaged: rebuild", 2)
    steps: list[Step] = []
    override = Step(
        f"{plan.data} = {str(options.data.resolve())!r}",
        what=f"set {plan.data} to the new data's path",
    )
    for cell in plan.cells:
        if override not in steps and cell.role not in ("imports", "config"):
            steps.append(override)
        steps.append(_cell_step(cell))
    x, y = plan.holdout
    steps.append(
        Step(
            "import os as _nb2svc_os\n"
            f"_nb2svc_missing = [n for n in {list(plan.trained)!r} "
            "if not _nb2svc_os.path.isfile(n)]\n"
            "if _nb2svc_missing:\n"
            "    raise FileNotFoundError(\n"
            "        f'the train cells wrote no {_nb2svc_missing}, which the load cell "
            "reads: save the model there'\n"
            "    )\n"
            f"_nb2svc_X, _nb2svc_y = {x}, {y}\n"
            "_nb2svc_stage = _nb2svc_os.getcwd()\n",
            what="check the new artifacts and take the held-out slice",
        )
    )
    for side, folder in (("current", options.current), ("new", None)):
        where = repr(str(folder.resolve())) if folder else "_nb2svc_stage"
        steps.append(Step(f"_nb2svc_os.chdir({where})", what=f"load the {side} model"))
        steps += [_cell_step(cell) for cell in plan.evaluate]
        steps.append(_score_step(plan, f"_nb2svc_{side}"))
    steps.append(_metric_step(options, result_file))
    if plan.reference is not None:
        steps += _profile_steps(plan, profile_file)
    return steps


def _metric_step(options: RetrainOptions, result_file: Path) -> Step:
    """Both models' scores on the held-out slice, into ``result_file``."""
    return Step(
        "_nb2svc_os.chdir(_nb2svc_stage)\n"
        "import json as _nb2svc_json\n"
        f"_nb2svc_metric = globals().get({options.metric!r})\n"
        "if not callable(_nb2svc_metric):\n"
        "    import sklearn.metrics as _nb2svc_metrics\n"
        f"    _nb2svc_metric = getattr(_nb2svc_metrics, {options.metric!r}, None)\n"
        "if not callable(_nb2svc_metric):\n"
        "    raise NameError(\n"
        f"        {options.metric + ' is neither a function of the notebook '!r}\n"
        "        'nor one of sklearn.metrics'\n"
        "    )\n"
        f"with open({str(result_file)!r}, 'w', encoding='utf-8') as _f:\n"
        "    _nb2svc_json.dump({\n"
        "        'current': float(_nb2svc_metric(_nb2svc_y, _nb2svc_current)),\n"
        "        'new': float(_nb2svc_metric(_nb2svc_y, _nb2svc_new)),\n"
        "        'rows': len(_nb2svc_y),\n"
        "    }, _f)\n",
        what=f"compute {options.metric} for both models",
    )


def _profile_steps(plan: RetrainPlan, profile_file: Path) -> list[Step]:
    """The postprocess and reference cells (the new data, the new model loaded), then
    the profile, computed by the code the build runs (``nb2svc_runtime.reference``)."""
    reference = plan.reference
    assert reference is not None
    basis = {
        "kind": plan.input_kind,
        "columns": [list(c) for c in reference.columns],
        "names": list(reference.names),
    }
    steps = [_cell_step(cell) for cell in reference.cells]
    code = profile_call(str(profile_file), repr(basis), reference.functions)
    steps.append(Step(code, what=_PROFILE_STEP))
    return steps


def _failure(plan: RetrainPlan, exc: KernelError) -> RetrainError:
    if exc.step.what == _PROFILE_STEP and plan.reference is not None:
        where = plan.where(plan.reference.cell)
        return RetrainError(
            f"{where}: profiling the reference data with the new model failed: "
            f"{exc.message} ('reference' must hold raw inputs like the example's, "
            "which the pipeline can score)",
            4,
        )
    if exc.step.cell is not None:
        where = plan.where(exc.step.cell, exc.line)
        role = exc.step.cell.role
        return RetrainError(f"{where}: {role} cell raised {exc.message}", 4)
    return RetrainError(f"{plan.notebook}: {exc.step.what}: {exc.message}", 4)


def _rebuilt(plan: RetrainPlan) -> list[str]:
    """The artifacts the retrain makes: the train cells', and the drift profile."""
    profile = [plan.reference.file] if plan.reference is not None else []
    return [*plan.trained, *profile]


def _read_profile(plan: RetrainPlan, profile_file: Path, stage: Path) -> RebuiltProfile:
    """The profile the kernel computed, written to ``stage`` as the build writes it."""
    assert plan.reference is not None
    computed = json.loads(profile_file.read_text(encoding="utf-8"))
    profile = computed["profile"]
    (stage / plan.reference.file).write_bytes(profile_bytes(profile))
    return RebuiltProfile(
        plan.reference.file,
        int(profile["rows"]),
        int(profile["prediction_rows"]),
        tuple(str(n) for n in computed["notes"]),
    )


def _write_out(stage: Path, plan: RetrainPlan, options: RetrainOptions) -> None:
    """The new artifacts (the train cells' and the kept ones) in ``out``, all at
    once: a folder built beside it, then swapped in."""
    out = options.out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for name in _rebuilt(plan):
            (building / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(stage / name, building / name)
        for name in plan.kept:
            (building / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(options.current / name, building / name)
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}-old-", dir=out.parent))
            os.replace(out, old / out.name)
        os.replace(building, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(building, ignore_errors=True)


def retrain(plan: RetrainPlan, options: RetrainOptions) -> RetrainResult:
    """Rerun the train cells on ``options.data``; write the new artifacts to
    ``options.out`` and judge the gate (registering is the caller's)."""
    data = options.data
    if not data.exists() or not os.access(data, os.R_OK):
        raise RetrainError(f"--data {data}: no such file, or not readable", 3)
    data_sha256 = sha256_of(data) if data.is_file() else ""
    with tempfile.TemporaryDirectory(prefix="nb2svc-retrain-") as tmp:
        stage, result_file = Path(tmp) / "work", Path(tmp) / "result.json"
        profile_file = Path(tmp) / "profile.json"
        stage.mkdir()
        steps = _steps(plan, options, result_file, profile_file)
        try:
            run_steps(steps, stage, Path(tmp), options.timeout)
        except KernelError as exc:
            raise _failure(plan, exc) from None
        scores = json.loads(result_file.read_text(encoding="utf-8"))
        profile = (
            _read_profile(plan, profile_file, stage)
            if plan.reference is not None
            else None
        )
        _write_out(stage, plan, options)
    out = options.out.resolve()
    artifacts = {
        name: sha256_of(out / name) for name in sorted([*_rebuilt(plan), *plan.kept])
    }
    verdict = options.gate.judge(
        scores["current"], scores["new"], options.greater_is_better
    )
    return RetrainResult(
        options.metric,
        options.greater_is_better,
        int(scores["rows"]),
        verdict,
        options.gate,
        artifacts,
        out,
        data_sha256,
        profile,
    )


__all__ = [
    "RebuiltProfile",
    "RetrainError",
    "RetrainOptions",
    "RetrainResult",
    "greater_is_better",
]
