"""The domain model: frozen dataclasses passed down the pipeline.

notebook file -> RawNotebook -> (markers) MarkedCell -> (analysis) ServiceSpec
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nb2svc.errors import Location


class Role(enum.Enum):
    IMPORTS = "imports"
    CONFIG = "config"
    LOAD = "load"
    HELPERS = "helpers"
    PREPROCESS = "preprocess"
    PREDICT = "predict"
    POSTPROCESS = "postprocess"
    EXAMPLE = "example"
    REFERENCE = "reference"
    TRAIN = "train"
    SKIP = "skip"


#: Roles whose code goes into the generated pipeline, in pipeline order.
EXPORTED_ORDER: tuple[Role, ...] = (
    Role.IMPORTS,
    Role.CONFIG,
    Role.HELPERS,
    Role.LOAD,
    Role.PREPROCESS,
    Role.PREDICT,
    Role.POSTPROCESS,
)
FUNCTION_ROLES: tuple[Role, ...] = (Role.PREPROCESS, Role.PREDICT, Role.POSTPROCESS)


@dataclass(frozen=True)
class Cell:
    """One notebook cell as read from disk."""

    index: int  # 0-based position in the notebook
    cell_id: str | None
    cell_type: str  # "code" | "markdown" | "raw"
    source: str
    tags: tuple[str, ...] = ()
    execution_count: int | None = None

    def location(self, file: str, line: int | None = None) -> Location:
        return Location(file, self.index, self.cell_id, line)


@dataclass(frozen=True)
class RawNotebook:
    """A notebook as read: its file name (never a full path) and its cells."""

    name: str  # file name shown in messages, e.g. "fraud.ipynb"
    cells: tuple[Cell, ...]
    nbformat: int = 4
    service_name: str | None = None  # metadata.nb2svc.name: overrides the file's stem


@dataclass(frozen=True)
class CellStarted:
    """Progress of a notebook run: the kernel starts one of the cells it executes."""

    number: int  # 1-based, among the `total` cells this run executes
    total: int
    cell: int | None  # the notebook cell's 0-based index; None: a step of nb2svc's own
    first_line: (
        str  # the cell's first line of code; for a step of nb2svc's, what it does
    )


#: What the core reports while it works, for the console to render (the core never
#: prints): a stage, as text, or a notebook cell starting.
ProgressEvent = str | CellStarted
Progress = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class Marker:
    role: Role
    params: tuple[tuple[str, str], ...] = ()
    origin: str = "tag"  # "tag" | "directive"


@dataclass(frozen=True)
class MarkedCell:
    cell: Cell
    role: Role | None  # None: unmarked
    params: tuple[tuple[str, str], ...] = ()
    artifacts: tuple[str, ...] = ()
    code: str = ""  # source without the directive line (line numbers preserved)


@dataclass(frozen=True)
class Setting:
    name: str  # field name, lower case
    constant: str  # the notebook's name, e.g. THRESHOLD
    env: str  # full environment variable name
    type: str  # Python type expression
    default: str  # Python literal


@dataclass(frozen=True)
class Artifact:
    name: str  # path relative to the notebook folder, posix
    sha256: str
    size: int


@dataclass(frozen=True)
class CodeBlock:
    """Code exported from one cell, with its provenance."""

    role: Role
    cell: int  # 0-based index
    cell_id: str | None
    code: str


@dataclass(frozen=True)
class RoleFunction:
    role: Role
    name: str
    param_annotation: str | None
    return_annotation: str | None


@dataclass(frozen=True)
class ExampleSet:
    """Captured examples: request inputs (JSON) and the notebook's outputs (JSON)."""

    input_kind: str  # frame | record | string | array | json
    inputs: tuple[Any, ...]
    outputs: tuple[Any, ...]
    columns: tuple[tuple[str, str], ...] = ()  # frame: (column, dtype)
    capture_key: str = ""
    array_dtype: str | None = None  # array: the numeric numpy example's dtype
    #: One pipeline call on every example combined answered the per-item outputs.
    batch_vectorised: bool = False
    #: How a combined output splits back: "item" (output i) or "rows" (row slices).
    batch_split: str = "item"
    #: Why a batch is scored item by item ("" when vectorised).
    batch_reason: str = ""
    #: The loaded model's n_features_in_ (scikit-learn), when known: array shapes.
    n_features: int | None = None

    def batch_json(self) -> dict[str, Any]:
        """The batch verdict as the golden fixture stores it."""
        return {
            "vectorised": self.batch_vectorised,
            "split": self.batch_split,
            "reason": self.batch_reason,
        }


@dataclass(frozen=True)
class Redaction:
    """A synthetic value for one leaf of one example's input (JSON path inside it)."""

    example: int
    path: tuple[str | int, ...]
    value: Any

    def as_json(self) -> dict[str, Any]:
        return {"example": self.example, "path": list(self.path), "value": self.value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Redaction:
        return cls(int(data["example"]), tuple(data["path"]), data["value"])


#: The options a train cell's marker takes (``data=``, ``holdout=``, ``metric=``).
TRAIN_OPTIONS = ("data", "holdout", "metric")


@dataclass(frozen=True)
class RetrainSpec:
    """The notebook's train cells and what they need, for the generated ``retrain``.

    ``cells`` are (role, 0-based cell index, cell id, code) in the order the retrain
    kernel runs them: imports, config, helpers, train; ``evaluate`` are the load and
    pipeline-function cells that score the held-out slice with either model."""

    data: str  # the config constant holding the training data's path
    holdout: tuple[str, str]  # names the train cells bind: held-out inputs, labels
    metric: str | None  # a function of the notebook or a sklearn.metrics name
    cells: tuple[CodeBlock, ...]
    evaluate: tuple[CodeBlock, ...]
    call: str  # the model's output for ``raw``: e.g. "predict(preprocess(raw))"
    trained: tuple[str, ...]  # the artifacts the train cells must write
    #: The postprocess cells, then the reference cell: rerun after the new model is
    #: loaded, and the reference profiled with it (empty without a reference cell).
    reference: tuple[CodeBlock, ...] = ()
    #: The pipeline's role functions (role, name) the profile calls.
    functions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ServiceSpec:
    """Everything the renderer needs; nothing here refers to the notebook's path."""

    notebook: str
    package: str
    dist_name: str
    title: str
    env_prefix: str
    python_version: str
    imports: tuple[str, ...]
    blocks: tuple[CodeBlock, ...]
    functions: tuple[RoleFunction, ...]
    load_globals: tuple[str, ...]
    settings: tuple[Setting, ...]
    artifacts: tuple[Artifact, ...]
    requirements: tuple[str, ...]
    test_requirements: tuple[str, ...]
    examples: ExampleSet
    cells_sha256: str
    warnings: tuple[Any, ...] = field(default=())
    #: The packaged reference profile's artifact name, when the notebook has one.
    reference_profile: str | None = None
    #: The notebook's classes and functions the loaded objects refer to as
    #: __main__.<name>, lent to __main__ while the load code runs (definitions.py).
    notebook_main: tuple[str, ...] = ()
    #: What `python -m <package> retrain` reruns, when the notebook has train cells.
    retrain: RetrainSpec | None = None
