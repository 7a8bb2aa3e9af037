"""``retrain.json``: the notebook's cells to rerun, as the build wrote them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

PLAN_FILE = "retrain.json"
FORMAT = 1


class PlanError(RuntimeError):
    """The package has no (readable) retrain plan: its notebook has no train cells."""


@dataclass(frozen=True)
class PlanCell:
    role: str
    cell: int  # 1-based, as messages show it
    cell_id: str | None
    code: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlanCell:
        return cls(str(data["role"]), int(data["cell"]), data["cell_id"], data["code"])


@dataclass(frozen=True)
class ReferencePlan:
    """The drift profile, rebuilt on the new data as the build made it."""

    file: str  # the profile's artifact name
    cells: tuple[PlanCell, ...]  # postprocess, then the reference cell
    functions: dict[str, str]  # the pipeline's role functions (role: name)
    columns: tuple[tuple[str, str], ...]  # a table example's (column, dtype)
    names: tuple[str, ...]  # the features the service monitors

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ReferencePlan | None:
        if data is None:
            return None
        return cls(
            file=str(data["file"]),
            cells=tuple(PlanCell.from_json(c) for c in data["cells"]),
            functions={str(k): str(v) for k, v in data["functions"].items()},
            columns=tuple((str(c), str(t)) for c, t in data["columns"]),
            names=tuple(str(n) for n in data["names"]),
        )

    @property
    def cell(self) -> PlanCell:
        """The reference cell."""
        return self.cells[-1]


@dataclass(frozen=True)
class RetrainPlan:
    notebook: str
    service: str
    cells_sha256: str
    data: str  # the config constant holding the training data's path
    holdout: tuple[str, str]  # held-out raw inputs and labels, bound by train cells
    metric: str | None
    cells: tuple[PlanCell, ...]  # imports, config, helpers, train
    evaluate: tuple[PlanCell, ...]  # load, preprocess, predict
    call: str  # the model's output for ``raw``
    input_kind: str
    trained: tuple[str, ...]  # the artifacts the train cells write
    kept: tuple[str, ...]  # the other artifacts, carried over from the current model
    reference: ReferencePlan | None = None  # with a reference cell: rebuild its profile

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RetrainPlan:
        if data.get("format") != FORMAT:
            raise PlanError(
                f"{PLAN_FILE} has format {data.get('format')!r}, this runtime reads "
                f"{FORMAT}: rebuild the service with the nb2svc that pins this runtime"
            )
        x, y = data["holdout"]
        return cls(
            notebook=str(data["notebook"]),
            service=str(data["service"]),
            cells_sha256=str(data["cells_sha256"]),
            data=str(data["data"]),
            holdout=(str(x), str(y)),
            metric=data["metric"],
            cells=tuple(PlanCell.from_json(c) for c in data["cells"]),
            evaluate=tuple(PlanCell.from_json(c) for c in data["evaluate"]),
            call=str(data["call"]),
            input_kind=str(data["input_kind"]),
            trained=tuple(data["trained"]),
            kept=tuple(data["kept"]),
            reference=ReferencePlan.from_json(data.get("reference")),
        )

    def where(self, cell: PlanCell, line: int | None = None) -> str:
        """``fraud.ipynb: cell 13 (id=…): line 2``: where a message points."""
        text = f"{self.notebook}: cell {cell.cell}"
        if cell.cell_id:
            text += f" (id={cell.cell_id})"
        return text + (f": line {line}" if line else "")


def load_plan(package: str) -> RetrainPlan:
    """The retrain plan the build packaged in ``package``."""
    try:
        text = resources.files(package).joinpath(PLAN_FILE).read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):
        raise PlanError(
            f"{package} has nothing to retrain: its notebook has no train cell "
            "(mark the cells that fit the model '# nb2svc: train data=TRAIN_PATH "
            "holdout=X_test,y_test' and rebuild)"
        ) from None
    try:
        return RetrainPlan.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError) as exc:
        raise PlanError(
            f"{package}/{PLAN_FILE} is not a retrain plan ({exc})"
        ) from None
