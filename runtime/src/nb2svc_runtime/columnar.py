"""Columnar request and response bodies: pandas' split JSON and Arrow IPC streams.

A columnar body is a table: one column per input, one row per input row. It is what
``/predict`` takes for a DataFrame input (the table) and what ``/predict/batch`` takes
for record and array inputs (one input per row). The answer is JSON unless the
``Accept`` header prefers split JSON or Arrow; then it is a table too, one row per
input row (an output's fields as columns, or one ``prediction`` column).

Bodies pass the same guards as JSON (size, deadline, rows) and are validated column
by column (``tables``) with the errors a JSON request of the same rows gets, their
``loc`` ``["body", row, column]``. Decoding, validation, scoring and encoding run in
the app's worker threads.
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from .errors import RequestError
from .log import logger
from .predict import JSON, MAX_ERROR_DETAILS, Predictor, dumps
from .tables import (
    Column,
    FramePlan,
    TableSchema,
    array_element,
    build_frame,
    check_column,
    check_table,
    frame_plan,
    python_values,
    row_model,
)

if TYPE_CHECKING:
    from .spec import Schemas

#: pandas' ``DataFrame.to_json(orient="split")``: {"columns": [...], "data": [[...]]}
SPLIT_JSON = "application/json; orient=split"
#: The Apache Arrow IPC streaming format (IANA registered).
ARROW_STREAM = "application/vnd.apache.arrow.stream"
#: What the service's answers carry; the column of outputs that are not objects.
PREDICTION_COLUMN = "prediction"
ARROW_EXTRA = "arrow"
#: JSON records bodies from this size on are validated column by column (a single
#: row's request keeps pydantic's way, and with it micro-batching).
RECORDS_BY_COLUMN_BYTES = 8192
Endpoint = Callable[[Request], Awaitable[Response]]


def arrow_available() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _media(value: str) -> tuple[str, dict[str, str]]:
    """A media type, lower-case, and its parameters."""
    kind, *params = value.split(";")
    parsed = {}
    for param in params:
        name, _, given = param.partition("=")
        parsed[name.strip().lower()] = given.strip().strip('"').lower()
    return kind.strip().lower(), parsed


def body_format(content_type: str) -> str:
    """ "json", "split", "arrow" or "other", from the Content-Type header."""
    kind, params = _media(content_type)
    if kind == ARROW_STREAM:
        return "arrow"
    if kind == "application/json" or kind.endswith("+json"):
        return "split" if params.get("orient") == "split" else "json"
    return "other"


def answer_format(accept: str | None) -> str:
    """ "json", "split" or "arrow": the one ``Accept`` prefers (JSON on a tie, when
    absent, or when it names nothing the service makes)."""
    if not accept:
        return "json"
    best: tuple[tuple[float, bool, int], str] | None = None
    for order, part in enumerate(accept.split(",")):
        kind, params = _media(part)
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            continue
        if kind in ("*/*", "application/*"):
            found = "json"
        elif kind == ARROW_STREAM:
            found = "arrow"
        elif kind == "application/json":
            found = "split" if params.get("orient") == "split" else "json"
        else:
            continue
        # Higher q wins; on equal q JSON, then the order the client listed them in.
        key = (q, found == "json", -order)
        if q > 0 and (best is None or key > best[0]):
            best = (key, found)
    return "json" if best is None else best[1]


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
        if kind in ("frame", "record"):
            model = row_model(schemas.request)
            if model is not None:
                self.schema = TableSchema.from_model(model)
                self.table_batch = kind == "record"
        elif kind == "array":
            element = array_element(schemas.request)
            if element is not None:
                self.element = Column.of("", element)
                self.table_batch = True

    def takes_table(self, batch: bool) -> bool:
        return self.table_batch is not None and self.table_batch == batch

    def endpoint(self, batch: bool) -> Endpoint:
        """``/predict`` (batch False) or ``/predict/batch``, columnar bodies included."""
        plain = self.predictor.predict_batch if batch else self.predictor.predict

        async def endpoint(request: Request) -> Response:
            given = body_format(request.headers.get("content-type", ""))
            wanted = answer_format(request.headers.get("accept"))
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
            decoded = decode_records(job.source, job.limit, arrays=self.schema is None)
            if decoded is None:
                return None
            try:
                body, raw = self.validate(*decoded)
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

    def validate(
        self, names: Sequence[Any], columns: Sequence[Any], rows: int
    ) -> tuple[Any, Any]:
        """The table's valid values as the monitor's body and the notebook's input."""
        if self.schema is not None:
            return self._validate_table(self.schema, names, columns, rows)
        assert self.element is not None
        return self._validate_array(self.element, columns, rows)

    def _validate_table(
        self,
        schema: TableSchema,
        names: Sequence[Any],
        columns: Sequence[Any],
        rows: int,
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
        valid, cell_errors = check_table(schema, labels, columns, rows)
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
        self, element: Column, columns: Sequence[Any], rows: int
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
            checked, found = check_column(element, values, rows)
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
        stacked = self.predictor.schemas.to_raw(matrix)
        body = _Rows({str(i): v for i, v in enumerate(valid)}, rows, as_lists=True)
        return body, list(stacked)


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


def invalid(details: list[dict[str, Any]]) -> RequestError:
    count = len(details)
    return RequestError(
        422,
        "invalid_request",
        f"The request body is invalid ({count} error{'' if count == 1 else 's'}).",
        details=details[:MAX_ERROR_DETAILS],
    )


def too_many_rows(rows: int, limit: int) -> RequestError:
    return RequestError(
        413,
        "too_many_rows",
        f"The request holds {rows} rows; at most {limit} are accepted.",
    )


def decode_records(
    raw: bytes, limit: int, *, arrays: bool = False
) -> tuple[list[Any], list[Sequence[Any]], int] | None:
    """A JSON array of objects with the same keys (with ``arrays``: of arrays of one
    length), as columns; None for anything else (not JSON, not such an array), which
    pydantic then refuses or accepts."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(doc) is not list or not doc:
        return None
    if set(map(type, doc)) != ({list} if arrays else {dict}):
        return None
    if len(doc) > limit:
        raise too_many_rows(len(doc), limit)
    columns: list[Sequence[Any]]
    if arrays:  # one column per element
        widths = set(map(len, doc))
        if len(widths) != 1:
            return None
        (width,) = widths
        columns = list(zip(*doc, strict=True)) if width else []
        return list(range(width)), columns, len(doc)
    keys = doc[0].keys()
    if any(record.keys() != keys for record in doc):
        return None
    names = list(keys)
    if len(names) == 1:
        (name,) = names
        return names, [[record[name] for record in doc]], len(doc)
    columns = list(zip(*map(operator.itemgetter(*names), doc), strict=True))
    return names, columns, len(doc)


def decode_split(
    raw: bytes, limit: int, *, names_required: bool = True
) -> tuple[list[Any], list[Sequence[Any]], int]:
    """pandas' split orientation: the column names, each column's values, the rows.

    ``index`` (which pandas writes) is ignored. Without ``names_required`` (array
    inputs) ``columns`` is ignored too: the rows' length says how many.
    """
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid(
            [{"loc": ["body"], "msg": "Invalid JSON", "type": "json_invalid"}]
        ) from None
    shape_error = {
        "loc": ["body"],
        "msg": 'A split body is an object with "columns" (the names) and "data" '
        "(the rows, each a list of values)",
        "type": "split_format",
    }
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise invalid([shape_error])
    extra = [key for key in doc if key not in ("columns", "data", "index")]
    if extra:
        raise invalid(
            [
                {
                    "loc": ["body", key],
                    "msg": "Extra inputs are not permitted",
                    "type": "extra_forbidden",
                }
                for key in extra
            ]
        )
    if not isinstance(doc.get("index", []), list):
        raise invalid(
            [
                {
                    "loc": ["body", "index"],
                    "msg": "Input should be a valid list",
                    "type": "list_type",
                }
            ]
        )
    data: list[Any] = doc["data"]
    if len(data) > limit:
        raise too_many_rows(len(data), limit)
    names = doc.get("columns", None if names_required else [])
    if not isinstance(names, list):
        raise invalid([shape_error])
    if not names_required:  # arrays: the rows say how many columns; names ignored
        first = data[0] if data else []
        names = list(range(len(first))) if isinstance(first, list) else []
    width = len(names)
    if not set(map(type, data)) <= {list} or not set(map(len, data)) <= {width}:
        raise invalid(
            [
                {
                    "loc": ["body", "data", index],
                    "msg": f"A row should be a list of {width} values, one per column",
                    "type": "row_length",
                }
                for index, row in enumerate(data)
                if not isinstance(row, list) or len(row) != width
            ]
        )
    columns: list[Sequence[Any]] = (
        list(zip(*data, strict=True)) if data else [()] * width
    )
    return names, columns, len(data)


def decode_arrow(
    raw: bytes, limit: int, max_bytes: int
) -> tuple[list[Any], list[Any], int]:
    """An Arrow IPC stream: its column names, columns and rows. The rows are counted
    batch by batch (413 past ``limit``), and the decoded size is bounded too: a
    compressed stream may not unpack to more than 64 times the body limit."""
    import pyarrow as pa

    try:
        reader = pa.ipc.open_stream(pa.py_buffer(raw))
        batches, rows, size = [], 0, 0
        for batch in reader:
            rows += batch.num_rows
            size += batch.nbytes
            if rows > limit:
                raise too_many_rows(rows, limit)
            if size > 64 * max_bytes:
                raise RequestError(
                    413,
                    "payload_too_large",
                    f"The Arrow body unpacks to more than {64 * max_bytes} bytes.",
                )
            batches.append(batch)
        table = pa.Table.from_batches(batches, schema=reader.schema)
    except (pa.ArrowException, OSError):  # a bad stream may raise OSError
        raise invalid(
            [
                {
                    "loc": ["body"],
                    "msg": "Invalid Arrow IPC stream",
                    "type": "arrow_invalid",
                }
            ]
        ) from None
    return list(table.column_names), list(table.columns), table.num_rows


def output_table(outputs: list[Any]) -> tuple[list[str], list[list[Any]]]:
    """One row per output: an object's members as columns, else one column."""
    if outputs and all(isinstance(output, dict) for output in outputs):
        names = list(dict.fromkeys(key for output in outputs for key in output))
        return names, [[output.get(name) for output in outputs] for name in names]
    return [PREDICTION_COLUMN], [list(outputs)]


def encode(outputs: list[Any], wanted: str) -> bytes:
    names, columns = output_table(outputs)
    if wanted == "split":
        return dumps({"columns": names, "data": list(zip(*columns, strict=True))})
    import pyarrow as pa

    try:
        table = pa.table(
            {
                name: pa.array(column)
                for name, column in zip(names, columns, strict=True)
            }
        )
    except pa.ArrowException:
        raise RequestError(
            406,
            "not_arrow",
            "The predictions do not fit an Arrow table (a column mixes types): ask "
            "for JSON.",
        ) from None
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def split_table(rows: list[Any], labels: Sequence[str] | None) -> dict[str, Any]:
    """Rows (records, or arrays without ``labels``) as a split JSON body."""
    if labels is None:  # arrays: the rows as they are
        return {"data": rows}
    return {
        "columns": list(labels),
        "data": [[row.get(n) for n in labels] for row in rows],
    }


def document(
    columnar: Columnar,
    batch: bool,
    openapi_extra: dict[str, Any],
    responses: dict[int | str, Any],
    known: dict[str, Any],
) -> None:
    """Add the columnar media types to a route's OpenAPI request body and answer."""
    schemas = columnar.predictor.schemas
    example, answer = schemas.example_request, schemas.example_response
    if columnar.answers(batch):
        outputs = [answer] if batch else answer
        if isinstance(outputs, list):
            names, columns = output_table(outputs)
            content = responses[200].setdefault("content", {})
            content[SPLIT_JSON] = {
                "schema": _split_schema(None, known),
                "example": {
                    "columns": names,
                    "data": [list(row) for row in zip(*columns, strict=True)],
                },
            }
            content[ARROW_STREAM] = {
                "schema": {
                    "type": "string",
                    "format": "binary",
                    "description": "An Arrow IPC stream: one row per input row, "
                    f"columns {', '.join(names)}.",
                }
            }
            responses[406] = {
                "description": "Arrow was asked for but pyarrow is not installed, "
                "or the predictions do not fit an Arrow table",
            }
    if not columnar.takes_table(batch):
        return
    rows = [example] if batch else example
    labels = columnar.schema.labels if columnar.schema is not None else None
    body = openapi_extra["requestBody"]["content"]
    body[SPLIT_JSON] = {
        "schema": _split_schema(columnar, known),
        "examples": {
            "notebook": {
                "summary": "The notebook's example, as a split table",
                "value": split_table(rows, labels),
            }
        },
    }
    described = (
        f"columns {', '.join(labels)}"
        if labels is not None
        else "one column per element"
    )
    body[ARROW_STREAM] = {
        "schema": {
            "type": "string",
            "format": "binary",
            "description": f"An Arrow IPC stream, one row per input row: {described} "
            f"(needs the service's '{ARROW_EXTRA}' extra).",
        }
    }


def _split_schema(columnar: Columnar | None, known: dict[str, Any]) -> dict[str, Any]:
    """The split body's JSON Schema. A table's columns are documented in the model's
    order with each cell's schema (another order of the same columns is accepted too);
    an array's rows with the element's schema. ``None``: an answer (any table)."""
    columns: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
    row: dict[str, Any] = {"type": "array", "items": {}}
    data: dict[str, Any] = {"type": "array", "items": row}
    required = ["columns", "data"]
    if columnar is not None and columnar.schema is not None:
        cells = _cell_schemas(columnar, known)
        labels = columnar.schema.labels
        width = len(labels)
        if cells is not None:
            columns = {"type": "array", "prefixItems": [{"const": x} for x in labels]}
            row = {"type": "array", "prefixItems": [cells[x] for x in labels]}
            for schema in (columns, row):
                schema.update(items=False, minItems=width, maxItems=width)
            data["items"] = row
        else:  # optional columns: which are sent decides the row
            columns["items"]["enum"] = list(labels)
            columns["uniqueItems"] = True
        if not columnar.table_batch:
            data["minItems"] = 1  # a DataFrame needs a row
    elif columnar is not None and columnar.element is not None:
        item = columnar.predictor.one.json_schema(
            ref_template="#/components/schemas/{model}"
        )
        known.update(item.pop("$defs", {}))
        data["items"] = item
        columns = {"type": "array", "description": "ignored for arrays"}
        required = ["data"]
    return {
        "type": "object",
        "description": "pandas' split orientation (DataFrame.to_json(orient='split'));"
        " 'index' is ignored.",
        "properties": {"columns": columns, "data": data, "index": {"type": "array"}},
        "required": required,
        "additionalProperties": False,
    }


def _cell_schemas(columnar: Columnar, known: dict[str, Any]) -> dict[str, Any] | None:
    """Each column's value schema, from the row model's JSON Schema; None when a
    column may be left out (then rows are as long as the columns sent)."""
    from pydantic import TypeAdapter

    assert columnar.schema is not None
    if not all(column.required for column in columnar.schema.columns):
        return None
    model = row_model(columnar.predictor.schemas.request)
    assert model is not None
    schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
    known.update(schema.pop("$defs", {}))
    properties: dict[str, Any] = schema.get("properties", {})
    return {label: properties.get(label, {}) for label in columnar.schema.labels}
