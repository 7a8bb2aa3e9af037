"""The columnar side of the prediction endpoints: which requests it takes, and the
work (decode, validate, score, encode) it runs in the app's worker threads."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import Response

from ..errors import RequestError
from ..log import logger
from ..predict import JSON, Predictor, dumps
from ..schemas import row_model
from ..tables import (
    Column,
    FramePlan,
    TableSchema,
    array_element,
    build_frame,
    check_column,
    check_table,
    frame_plan,
    python_values,
)
from .codecs import (
    ARROW_EXTRA,
    ARROW_STREAM,
    SPLIT_JSON,
    answer_format,
    arrow_available,
    body_format,
    decode_arrow,
    decode_records,
    decode_split,
    encode,
    invalid,
    too_many_rows,
)
from .records import ArraysDecoder, RecordsDecoder

if TYPE_CHECKING:
    from ..spec import Schemas

#: JSON records bodies from this size on are validated column by column (a single
#: row's request keeps pydantic's way, and with it micro-batching).
RECORDS_BY_COLUMN_BYTES = 8192
Endpoint = Callable[[Request], Awaitable[Response]]


class _Rows(Sequence[Any]):
    """A validated table, as the drift window and the feature log read a body: a
    sequence of rows (dicts by label, or lists for arrays), built only if read."""

    def __init__(self, columns: dict[str, Any], rows: int, as_lists: bool) -> None:
        self._columns, self._rows, self._as_lists = columns, rows, as_lists
        self._built: list[Any] | None = None

    def _all(self) -> list[Any]:
        if self._built is None:
            labels = list(self._columns)
            values = [python_values(v) for v in self._columns.values()]
            rows = zip(*values, strict=True) if values else iter([()] * self._rows)
            self._built = (
                [list(row) for row in rows]
                if self._as_lists
                else [dict(zip(labels, row, strict=True)) for row in rows]
            )
        return self._built

    def __len__(self) -> int:
        return self._rows

    def __getitem__(self, index: Any) -> Any:
        return self._all()[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._all())

    def model_dump(self, *, mode: str = "python", **_: Any) -> list[Any]:
        """The rows, as a model's ``model_dump`` gives them (JSON values in "json")."""
        if mode == "json":
            from pydantic_core import to_jsonable_python

            return list(to_jsonable_python(self._all()))
        return self._all()


class Columnar:
    """The columnar side of the prediction endpoints: decides, per request, whether
    the body or the answer is columnar, and otherwise hands the request on."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        schemas: Schemas = predictor.schemas
        kind = predictor.io.kind
        #: where a columnar body is a table of inputs: "/predict" (a DataFrame) or
        #: "/predict/batch" (one input per row); None: this input takes none
        self.table_batch: bool | None = None
        self.schema: TableSchema | None = None
        self.element: Column | None = None
        self.plan: FramePlan | None = None  # a frame's dtypes, resolved at first use
        # JSON records (a table) or arrays (an array input's batch), typed by msgspec
        self.records: RecordsDecoder | ArraysDecoder | None = None
        if kind in ("frame", "record"):
            model = row_model(schemas.request)
            if model is not None:
                self.schema = TableSchema.from_model(model)
                self.table_batch = kind == "record"
                self.records = RecordsDecoder.of(self.schema)
        elif kind == "array":
            element = array_element(schemas.request)
            if element is not None:
                self.element = Column.of("", element)
                self.records = ArraysDecoder(self.element)
                self.table_batch = True

    def takes_table(self, batch: bool) -> bool:
        return self.table_batch is not None and self.table_batch == batch

    def endpoint(self, batch: bool) -> Endpoint:
        """``/predict`` (batch False) or ``/predict/batch``, columnar bodies included."""
        plain = self.predictor.predict_batch if batch else self.predictor.predict

        async def endpoint(request: Request) -> Response:
            given = body_format(request.headers.get("content-type", ""))
            wanted = answer_format(
                request.headers.get("accept"), arrow=arrow_available()
            )
            if given == "other":
                raise self.unsupported(batch)
            if given == "json" and self.records_by_column(batch, request):
                # A big table of JSON records: validated by column too, unless a
                # record is off (then pydantic's way below words the errors).
                answer = await self.handle(
                    request, batch, "records", wanted if self.answers(batch) else "json"
                )
                if answer is not None:
                    return answer
            if given == "json" and (wanted == "json" or not self.answers(batch)):
                return await plain(request)
            answer = await self.handle(request, batch, given, wanted)
            assert answer is not None  # only "records" falls back
            return answer

        return endpoint

    def records_by_column(self, batch: bool, request: Request) -> bool:
        """Whether a JSON body is a table of records worth validating by column."""
        if not self.takes_table(batch):
            return False
        length = request.headers.get("content-length", "")
        return length.isdigit() and int(length) >= RECORDS_BY_COLUMN_BYTES

    def answers(self, batch: bool) -> bool:
        """Whether this endpoint's answer is a table (one output per row)."""
        kind = self.predictor.io.kind
        return batch != (kind == "frame")

    def unsupported(self, batch: bool) -> RequestError:
        media = [JSON]
        if self.takes_table(batch):
            media += [SPLIT_JSON, ARROW_STREAM]
        message = f"The request body must be {' or '.join(media)}."
        if not self.takes_table(batch) and self.takes_table(not batch):
            other = "/predict/batch" if not batch else "/predict"
            message += f" Columnar tables (split JSON, Arrow) go to {other}."
        return RequestError(415, "unsupported_media_type", message)

    async def handle(
        self, request: Request, batch: bool, given: str, wanted: str
    ) -> Response | None:
        """The answer; None when JSON records are not all regular ("records")."""
        predictor = self.predictor
        if given not in ("json", "records") and not self.takes_table(batch):
            raise self.unsupported(batch)
        if "arrow" in (given, wanted) and not arrow_available():
            raise RequestError(
                415 if given == "arrow" else 406,
                "arrow_not_installed",
                "Arrow bodies need pyarrow, which this service was installed without: "
                f"install the service with its '{ARROW_EXTRA}' extra.",
            )
        state = request.app.state
        if given == "json":  # JSON in, a table out
            parsed = await predictor.parse(
                request, predictor.many if batch else predictor.one
            )
            predictor.check_rows(
                request, predictor.rows(parsed) if batch else len(parsed)
            )
            source: Any = parsed
        else:
            if not state.ready:
                await predictor.parse(request, predictor.one)  # 503 not_ready
            source = await request.body()
        monitor = state.monitor
        job = _Job(
            given,
            source,
            batch,
            wanted,
            state.settings.max_batch_rows,
            state.settings.max_body_bytes,
            monitor.metrics and monitor.window is not None,
        )
        loop = asyncio.get_running_loop()
        try:
            done = await loop.run_in_executor(state.executor, self.run, job)
        except _ScoringFailed as failed:
            logger.error(
                "prediction failed: %s (request_id=%s)",
                type(failed.error).__name__,
                request.state.request_id,
                exc_info=failed.error if state.settings.debug_errors else None,
            )
            raise RequestError(
                500,
                "prediction_failed",
                "The model could not produce a prediction for this request.",
            ) from None
        if done is None:
            return None
        body, content, media, for_monitor = done
        monitor.observe(request, body, for_monitor, batch)
        return Response(content, media_type=media)

    # In a worker thread.

    def run(self, job: _Job) -> tuple[Any, bytes, str, bytes] | None:
        """Decode, validate, score, encode: (body for the monitor, answer, its media
        type, the answer as JSON for the drift window); None for JSON records that
        are not all regular and valid (pydantic's way then words the errors)."""
        predictor = self.predictor
        body: Any
        raw: Any
        if job.given == "records":
            decoded, typed = self.decode_records(job.source, job.limit)
            if decoded is None:
                return None
            try:
                body, raw = self.validate(*decoded, typed=typed)
            except RequestError as error:
                if error.status == 422:
                    return None
                raise
        elif job.given == "json":
            body = job.source
            to_raw = predictor.schemas.to_raw
            raw = [to_raw(item) for item in body] if job.batch else to_raw(body)
        else:
            if job.given == "split":
                names, columns, rows = decode_split(
                    job.source, job.limit, names_required=self.schema is not None
                )
            else:
                names, columns, rows = decode_arrow(
                    job.source, job.limit, job.max_bytes
                )
            body, raw = self.validate(names, columns, rows)
        try:
            pipeline = predictor.pipeline
            outputs = pipeline.score_batch(raw) if job.batch else pipeline.score(raw)
        except Exception as exc:
            raise _ScoringFailed(exc) from None
        rows_out = len(body) if not job.batch else None
        tabular = isinstance(outputs, list) and (
            rows_out is None or len(outputs) == rows_out
        )
        as_json = b""
        if job.wanted == "json" or not tabular or job.monitored:
            as_json = dumps(outputs)
        if job.wanted == "json" or not tabular:
            return body, as_json, JSON, as_json
        content = encode(outputs, job.wanted)
        return (
            body,
            content,
            SPLIT_JSON if job.wanted == "split" else ARROW_STREAM,
            as_json,
        )

    def decode_records(
        self, raw: bytes, limit: int
    ) -> tuple[tuple[list[Any], list[Sequence[Any]], int] | None, Collection[Any]]:
        """A JSON records body's columns (None: not regular records) and the labels
        (an array's positions) of the columns whose values came typed."""
        if self.records is not None:
            decoded = self.records.decode(raw)
            if decoded is not None:
                if decoded[2] > limit:
                    raise too_many_rows(decoded[2], limit)
                return decoded, decoded[0]
        return decode_records(raw, limit, arrays=self.schema is None), ()

    def validate(
        self,
        names: Sequence[Any],
        columns: Sequence[Any],
        rows: int,
        *,
        typed: Collection[Any] = (),
    ) -> tuple[Any, Any]:
        """The table's valid values as the monitor's body and the notebook's input."""
        if self.schema is not None:
            return self._validate_table(self.schema, names, columns, rows, typed)
        assert self.element is not None
        return self._validate_array(self.element, columns, rows, bool(typed))

    def _validate_table(
        self,
        schema: TableSchema,
        names: Sequence[Any],
        columns: Sequence[Any],
        rows: int,
        typed: Collection[Any],
    ) -> tuple[Any, Any]:
        labels, errors = schema.match(names)
        if errors:
            raise invalid([{**e, "loc": ["body", *e["loc"]]} for e in errors])
        if rows == 0 and not self.table_batch:
            raise invalid(
                [
                    {
                        "loc": ["body"],
                        "msg": "List should have at least 1 item after validation, not 0",
                        "type": "too_short",
                    }
                ]
            )
        valid, cell_errors = check_table(schema, labels, columns, rows, typed=typed)
        if cell_errors:
            raise invalid(
                [
                    {"loc": ["body", row, label], "msg": msg, "type": kind}
                    for row, label, msg, kind in cell_errors
                ]
            )
        body = _Rows(valid, rows, as_lists=False)
        if self.table_batch:  # records: one dict per row
            return body, list(body)
        if self.plan is None:
            self.plan = frame_plan(schema.labels, self.predictor.schemas.dtypes or {})
        return body, build_frame(self.plan, valid, rows)

    def _validate_array(
        self, element: Column, columns: Sequence[Any], rows: int, typed: bool
    ) -> tuple[Any, Any]:
        import numpy as np
        from pydantic import ValidationError

        probe = {"float": 0.0, "int": 0, "bool": False}[element.kind]
        try:  # the length (and any shape) the schema wants, once for every row
            self.predictor.one.validate_python([probe] * len(columns), strict=True)
        except ValidationError as exc:
            raise invalid(
                [
                    {"loc": ["body", "columns"], "msg": e["msg"], "type": e["type"]}
                    for e in exc.errors(
                        include_url=False, include_context=False, include_input=False
                    )
                ]
            ) from None
        valid, errors = [], []
        for index, values in enumerate(columns):
            checked, found = check_column(element, values, rows, typed=typed)
            valid.append(checked)
            errors += [(row, index, msg, kind) for row, _, msg, kind in found]
        if errors:
            errors.sort()
            raise invalid(
                [
                    {"loc": ["body", row, index], "msg": msg, "type": kind}
                    for row, index, msg, kind in errors
                ]
            )
        matrix = (
            np.column_stack([np.asarray(v) for v in valid])
            if valid
            else np.empty((rows, 0))
        )
        body = _Rows({str(i): v for i, v in enumerate(valid)}, rows, as_lists=True)
        # The rows stay stacked: a vectorised score_batch takes the 2-D array as it
        # is (one row per input), one call per row iterates its rows.
        return body, self.predictor.schemas.to_raw(matrix)


class _Job:
    """One columnar request's work, handed to a worker thread."""

    def __init__(
        self,
        given: str,
        source: Any,
        batch: bool,
        wanted: str,
        limit: int,
        max_bytes: int,
        monitored: bool,
    ) -> None:
        self.given, self.source, self.batch, self.wanted = given, source, batch, wanted
        self.limit, self.max_bytes, self.monitored = limit, max_bytes, monitored


class _ScoringFailed(Exception):
    def __init__(self, error: Exception) -> None:
        super().__init__(type(error).__name__)
        self.error = error
