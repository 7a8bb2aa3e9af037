"""The columnar formats: media types, Accept, decoding a body into columns, encoding
the answers as a table. No FastAPI here: plain values in, values or bytes out."""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from typing import Any

import orjson

from ..errors import RequestError
from ..predict import MAX_ERROR_DETAILS, dumps

SPLIT_JSON = "application/json; orient=split"
#: The Apache Arrow IPC streaming format (IANA registered).
ARROW_STREAM = "application/vnd.apache.arrow.stream"
#: What the service's answers carry; the column of outputs that are not objects.
PREDICTION_COLUMN = "prediction"
ARROW_EXTRA = "arrow"


@functools.cache
def arrow_available() -> bool:
    """Whether pyarrow imports (asked once: a failed import searches the path)."""
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


def answer_format(accept: str | None, *, arrow: bool = True) -> str:
    """ "json", "split" or "arrow": the one ``Accept`` prefers (JSON on a tie, when
    absent, or when it names nothing the service makes). Without ``arrow`` (pyarrow
    not installed) Arrow is passed over for the next acceptable format; "arrow" only
    when the client accepts nothing else (the answer is then a 406 naming the extra)."""
    if not accept:
        return "json"
    best: tuple[tuple[float, bool, int], str] | None = None
    arrow_asked = False
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
        if found == "arrow" and not arrow:
            arrow_asked = arrow_asked or q > 0
            continue
        # Higher q wins; on equal q JSON, then the order the client listed them in.
        key = (q, found == "json", -order)
        if q > 0 and (best is None or key > best[0]):
            best = (key, found)
    if best is None:
        return "arrow" if arrow_asked else "json"
    return best[1]


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
    names = list(doc[0])
    # The same number of keys, and the first record's all there: the same keys.
    if not names or set(map(len, doc)) != {len(names)}:
        return None
    try:
        if len(names) == 1:
            (name,) = names
            return names, [[record[name] for record in doc]], len(doc)
        columns = list(zip(*map(operator.itemgetter(*names), doc), strict=True))
    except KeyError:
        return None
    return names, columns, len(doc)


SPLIT_FORMAT = {
    "loc": ["body"],
    "msg": 'A split body is an object with "columns" (the names) and "data" '
    "(the rows, each a list of values)",
    "type": "split_format",
}


def _split_document(raw: bytes) -> dict[str, Any]:
    """The split body's object: "data" a list, "index" (if any) a list, no other
    member than "columns"."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid(
            [{"loc": ["body"], "msg": "Invalid JSON", "type": "json_invalid"}]
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise invalid([SPLIT_FORMAT])
    errors = [
        {
            "loc": ["body", key],
            "msg": "Extra inputs are not permitted",
            "type": "extra_forbidden",
        }
        for key in doc
        if key not in ("columns", "data", "index")
    ]
    if not isinstance(doc.get("index", []), list):
        errors.append(
            {
                "loc": ["body", "index"],
                "msg": "Input should be a valid list",
                "type": "list_type",
            }
        )
    if errors:
        raise invalid(errors)
    return doc


def decode_split(
    raw: bytes, limit: int, *, names_required: bool = True
) -> tuple[list[Any], list[Sequence[Any]], int]:
    """pandas' split orientation: the column names, each column's values, the rows.

    ``index`` (which pandas writes) is ignored. Without ``names_required`` (array
    inputs) ``columns`` is ignored too: the rows' length says how many.
    """
    doc = _split_document(raw)
    data: list[Any] = doc["data"]
    if len(data) > limit:
        raise too_many_rows(len(data), limit)
    names = doc.get("columns", None if names_required else [])
    if not isinstance(names, list):
        raise invalid([SPLIT_FORMAT])
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
