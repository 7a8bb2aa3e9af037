"""Rows of a file in, the service's answers out: validation, raw inputs, pipeline calls.

Everything here runs wherever a chunk is scored (this process, a Dask worker, a Spark
executor), so it is built from a picklable :class:`ScoringSpec` and imports the
generated package by name.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from ..artifacts import sha256_of
from ..schemas import fixed_length, row_model
from ..tables import (
    FramePlan,
    TableSchema,
    build_frame,
    check_table,
    frame_plan,
    python_values,
)

InputKind = Literal["frame", "record", "string", "array", "json"]
KINDS: tuple[str, ...] = get_args(InputKind)
#: At most this many validation errors are kept per rejected row.
MAX_ERRORS_PER_ROW = 10


class ScoringError(Exception):
    """A problem with the command, the file or the artifacts: one message, no traceback."""

    exit_code = 2


class ArtifactCheckError(ScoringError):
    """An artifact is missing or is not the one the service was built with."""

    exit_code = 3


@dataclass(frozen=True)
class ScoringSpec:
    """What a worker needs to score rows: plain data, picklable.

    ``artifacts`` maps each artifact's name to the sha256 of the model scored: the
    build's, or the registered version's (``model_uri``, pinned: ``models:/NAME/N``,
    resolved by the client; None for the packaged artifacts). ``artifacts_dir`` is
    where the client has them; a worker takes them from its own installation
    (packaged), Spark's shipped files, or that folder (registered; else the version
    is downloaded from ``tracking_uri``'s registry): see ``scoring.model``.
    """

    package: str
    kind: InputKind
    artifacts_dir: str
    artifacts: tuple[tuple[str, str], ...]
    keep: tuple[str, ...] = ()
    model_uri: str | None = None
    tracking_uri: str | None = None

    @property
    def recorded(self) -> str:
        """When the artifacts' hashes were recorded, for a refusal's message."""
        if self.model_uri is None:
            return "the build"
        return f"{self.model_uri} was registered"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown input kind {self.kind!r}: one of {KINDS}")


@dataclass
class Reject:
    """A row that was not scored, with why (pydantic's loc/msg/type, never the value)."""

    row: int
    errors: list[dict[str, Any]]
    keep: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"row": self.row, "keep": self.keep, "errors": self.errors}


class Chunk:
    """Consecutive rows of the input; ``start`` is the first one's number (from 1).

    The rows come as ``records`` (one dict per row) or, from a columnar reader, as
    ``columns`` (each column's values, in the file's column order): records are then
    built only if a row must be looked at on its own. ``broken`` maps an index in the
    chunk to why that row could not be read (a JSON line that is not a JSON object):
    it is rejected without being validated. ``text``: the values are text (CSV
    cells), which the schema parses ("2.5" as a number, "true" as a boolean); typed
    values (JSON, Parquet) are validated as strictly as a request.
    """

    def __init__(
        self,
        start: int,
        records: list[dict[str, Any]] | None = None,
        broken: dict[int, str] | None = None,
        text: bool = False,
        *,
        columns: dict[str, list[Any]] | None = None,
    ) -> None:
        if (records is None) == (columns is None):
            raise ValueError("a chunk has either records or columns")
        self.start = start
        self.broken = broken or {}
        self.text = text
        self.columns = columns
        self._records = records
        if columns is not None:
            lengths = {len(values) for values in columns.values()}
            if len(lengths) > 1:
                raise ValueError(f"columns of different lengths: {sorted(lengths)}")
            self._length = lengths.pop() if lengths else 0
        else:
            self._length = len(records or ())

    def __len__(self) -> int:
        return self._length

    @property
    def records(self) -> list[dict[str, Any]]:
        """One dict per row (built from the columns the first time it is asked for)."""
        if self._records is None:
            names = list(self.columns or {})
            values = (self.columns or {}).values()
            self._records = [
                dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)
            ]
        return self._records

    def keep(self, names: Sequence[str]) -> dict[str, list[Any]]:
        """The kept columns' values, every row (None where a record lacks one)."""
        if self.columns is not None:
            return {name: self.columns[name] for name in names}
        return {name: [r.get(name) for r in self.records] for name in names}


@dataclass
class Scored:
    """A chunk's answers: ``rows[i]`` (its number) got ``outputs[i]``; ``keep`` holds
    the kept columns' values of those rows, column by column."""

    rows: list[int]
    keep: dict[str, list[Any]]
    outputs: list[Any]
    rejects: list[Reject]

    def add(self, row: int, keep: Mapping[str, Any], output: Any) -> None:
        """One more answer, with the kept values of its row."""
        self.rows.append(row)
        for name, value in keep.items():
            self.keep.setdefault(name, []).append(value)
        self.outputs.append(output)

    def kept(self, index: int) -> dict[str, Any]:
        """The kept values of the ``index``-th answer's row."""
        return {name: values[index] for name, values in self.keep.items()}


def verify_artifacts(
    folder: Path, expected: Sequence[tuple[str, str]], since: str = "the build"
) -> None:
    """Check every artifact's sha256 before anything deserialises it; ``since``:
    when the expected hashes were recorded (for the message)."""
    for name, sha256 in expected:
        path = folder / name
        if not path.is_file():
            raise ArtifactCheckError(
                f"artifact {name} is missing from {folder} (expected sha256 {sha256})"
            )
        actual = sha256_of(path)
        if actual != sha256:
            raise ArtifactCheckError(
                f"artifact {name} has sha256 {actual}, expected {sha256}: it changed "
                f"after {since}"
            )


def _row_type(request: Any) -> Any:
    """A frame request is ``list[Row]``: a file's row is one ``Row``."""
    return row_model(request)


def _adapter(annotation: Any) -> TypeAdapter[Any]:
    """Validates a list of requests, refusing NaN and Infinity as the service does."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return TypeAdapter(list[annotation])
    return TypeAdapter(list[annotation], config=ConfigDict(allow_inf_nan=False))


def input_columns(schemas: ModuleType, kind: str) -> tuple[str, ...] | None:
    """The columns a row must have, for tabular kinds; None where one column is the input."""
    request = schemas.PredictRequest
    model = _row_type(request) if kind == "frame" else request
    if (
        kind in ("frame", "record")
        and isinstance(model, type)
        and issubclass(model, BaseModel)
    ):
        return tuple(
            name if info.alias is None else info.alias
            for name, info in model.model_fields.items()
        )
    return None


def check_columns(
    spec: ScoringSpec, schemas: ModuleType, columns: Sequence[str]
) -> None:
    """Refuse a file whose columns cannot make requests, before scoring anything."""
    present = list(columns)
    missing_keep = [name for name in spec.keep if name not in present]
    if missing_keep:
        raise ScoringError(
            f"--keep {', '.join(missing_keep)}: no such column (the file has "
            f"{', '.join(present) or 'no columns'})"
        )
    wanted = input_columns(schemas, spec.kind)
    rest = [name for name in present if name not in spec.keep]
    if wanted is not None:
        missing = [name for name in wanted if name not in present]
        if missing:
            raise ScoringError(
                f"the file lacks the input column(s) {', '.join(missing)} "
                f"(the service expects {', '.join(wanted)})"
            )
        extra = [name for name in rest if name not in wanted]
        if extra:
            raise ScoringError(
                f"column(s) {', '.join(extra)} are not inputs of the service: pass them "
                "through with --keep, or drop them from the file"
            )
    elif spec.kind == "array" and (length := fixed_length(schemas.PredictRequest)):
        if len(rest) != length:
            raise ScoringError(
                f"each row is one input of exactly {length} numbers, so the file needs "
                f"{length} columns besides --keep; it has {len(rest)}"
                f"{': ' + ', '.join(rest) if rest else ''}"
            )
    elif spec.kind in ("string", "json") and len(rest) != 1:
        raise ScoringError(
            f"each row is one {spec.kind} input, so the file needs exactly one column "
            f"besides --keep; it has {', '.join(rest) or 'none'}"
        )
    elif not rest:
        raise ScoringError("the file has no input columns besides --keep")


def own_artifacts_dir(spec: ScoringSpec) -> str:
    """The folder this process's copy of the package loads its artifacts from: on a
    worker its own installation's, not the client's path (which the spec carries)."""
    try:
        module = importlib.import_module(f"{spec.package}._artifacts")
    except ImportError:
        return spec.artifacts_dir
    folder = getattr(getattr(module, "ARTIFACTS", None), "folder", None)
    folder = folder or getattr(module, "ARTIFACTS_DIR", None)
    return str(folder) if folder is not None else spec.artifacts_dir


_VERIFIED: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
_VERIFIED_LOCK = threading.Lock()


class RowScorer:
    """Scores chunks of rows in this process, as the service scores requests."""

    def __init__(self, spec: ScoringSpec, *, artifacts_dir: str | None = None) -> None:
        from .model import bind_artifacts, worker_folder

        self.spec = spec
        with _VERIFIED_LOCK:  # once per process and folder: every worker checks
            folder = worker_folder(spec, artifacts_dir)
            if (folder, spec.artifacts) not in _VERIFIED:
                verify_artifacts(Path(folder), spec.artifacts, spec.recorded)
                _VERIFIED.add((folder, spec.artifacts))
            # The pipeline loads these files, checked against these hashes, whatever
            # MODEL_URI this process's environment names.
            bind_artifacts(spec, folder)
        self.schemas = importlib.import_module(f"{spec.package}.schemas")
        self.pipeline = importlib.import_module(f"{spec.package}.pipeline")
        self.pipeline.load_resources()
        request = self.schemas.PredictRequest
        self._frame = spec.kind == "frame"
        self._adapter = _adapter(_row_type(request) if self._frame else request)
        self._columns = input_columns(self.schemas, spec.kind)
        model = row_model(request) if spec.kind in ("frame", "record") else None
        #: column by column (tables), when the rows are records of a model
        self._table = TableSchema.from_model(model) if model is not None else None
        described = getattr(self.schemas, "SCHEMAS", None)
        #: a frame is built as schemas.frame_builder builds it: from the dtypes
        self._dtypes = getattr(described, "dtypes", None)
        self._plan: FramePlan | None = None
        if self._frame and self._dtypes is None:
            self._table = None

    def _value(self, record: Mapping[str, Any]) -> Any:
        if (
            self._columns is not None
        ):  # absent (a JSON line without it): "Field required"
            return {name: record[name] for name in self._columns if name in record}
        values = [value for name, value in record.items() if name not in self.spec.keep]
        if self.spec.kind == "array":
            return values
        return values[0] if values else None

    def _keep(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return {name: record.get(name) for name in self.spec.keep}

    def _validate(
        self, values: list[Any], strict: bool
    ) -> tuple[list[int], list[Any], dict[int, list[dict[str, Any]]]]:
        """The valid rows' indexes and requests, and the others' errors."""
        validate = self._adapter.validate_python
        try:
            return list(range(len(values))), validate(values, strict=strict), {}
        except ValidationError as exc:
            errors: dict[int, list[dict[str, Any]]] = {}
            for error in exc.errors(
                include_url=False, include_context=False, include_input=False
            ):
                index, *loc = error["loc"]
                found = errors.setdefault(int(index), [])
                if len(found) < MAX_ERRORS_PER_ROW:
                    found.append(
                        {"loc": loc, "msg": error["msg"], "type": error["type"]}
                    )
        good = [i for i in range(len(values)) if i not in errors]
        return good, validate([values[i] for i in good], strict=strict), errors

    def _score(self, requests: list[Any]) -> list[Any]:
        """One pipeline call for all the requests, as the service's batch does."""
        if self._frame:
            (result,) = self.pipeline.score_batch([self.schemas.to_raw(requests)])
            if isinstance(result, list) and len(result) == len(requests):
                return result
            # Not one output per row: each row on its own, as a one-row request.
            return [self.pipeline.score(self.schemas.to_raw([row])) for row in requests]
        outputs = self.pipeline.score_batch([self.schemas.to_raw(r) for r in requests])
        return list(outputs)

    def _score_each(self, requests: list[Any]) -> list[tuple[bool, Any]]:
        """After a failed chunk: each row alone, so one bad row costs only itself."""
        results: list[tuple[bool, Any]] = []
        for request in requests:
            try:
                (output,) = self._score([request])
            except Exception as exc:  # the notebook's code failed on this row
                results.append((False, f"{type(exc).__name__}: {exc}"))
            else:
                results.append((True, output))
        return results

    def score(self, chunk: Chunk) -> Scored:
        """The chunk's answers and rejects. A chunk of valid rows whose pipeline call
        succeeds is validated column by column, without a model per row; any other
        chunk row by row, which finds each bad row and why."""
        if self._table is not None and not chunk.broken:
            scored = self._score_columns(self._table, chunk)
            if scored is not None:
                return scored
        return self._score_rows(chunk)

    def _score_columns(self, table: TableSchema, chunk: Chunk) -> Scored | None:
        """None unless every row is valid and scored in one call."""
        size = len(chunk)
        if not size:
            return None
        labels = table.labels
        try:
            if chunk.columns is not None:
                columns = [chunk.columns[label] for label in labels]
            else:
                records = chunk.records
                columns = [[record[label] for record in records] for label in labels]
        except KeyError:  # a JSON line without a column: "Field required" by row
            return None
        valid, errors = check_table(table, labels, columns, size, strict=not chunk.text)
        if errors:
            return None
        try:
            if self._frame:
                if self._plan is None:
                    self._plan = frame_plan(labels, self._dtypes or {})
                frame = build_frame(self._plan, valid, size)
                (outputs,) = self.pipeline.score_batch([frame])
            else:
                values = [python_values(valid[label]) for label in labels]
                raws = [
                    dict(zip(labels, row, strict=True))
                    for row in zip(*values, strict=True)
                ]
                outputs = self.pipeline.score_batch(raws)
        except Exception:
            return None  # the rows' way finds the row that fails
        if not isinstance(outputs, list) or len(outputs) != size:
            return None
        first = chunk.start
        return Scored(
            list(range(first, first + size)), chunk.keep(self.spec.keep), outputs, []
        )

    def _score_rows(self, chunk: Chunk) -> Scored:
        records = chunk.records
        rejects: list[Reject] = []
        readable = [i for i in range(len(records)) if i not in chunk.broken]
        for index, why in sorted(chunk.broken.items()):
            error = {"loc": [], "msg": why, "type": "unreadable_row"}
            rejects.append(Reject(chunk.start + index, [error]))
        values = [self._value(records[i]) for i in readable]
        good, requests, errors = self._validate(values, strict=not chunk.text)
        for position, found in errors.items():
            index = readable[position]
            rejects.append(
                Reject(chunk.start + index, found, self._keep(records[index]))
            )
        indexes = [readable[position] for position in good]
        scored = Scored([], {name: [] for name in self.spec.keep}, [], [])
        if requests:
            try:
                results = [(True, output) for output in self._score(requests)]
            except Exception:
                results = self._score_each(requests)
            for index, (ok, output) in zip(indexes, results, strict=True):
                if ok:
                    scored.add(chunk.start + index, self._keep(records[index]), output)
                else:
                    error = {"loc": [], "msg": output, "type": "pipeline_error"}
                    rejects.append(
                        Reject(chunk.start + index, [error], self._keep(records[index]))
                    )
        rejects.sort(key=lambda reject: reject.row)
        scored.rejects = rejects
        return scored
