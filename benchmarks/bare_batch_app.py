"""The least a uvicorn server does for an Arrow table: the bound of ``batch.py``'s floor.

uvicorn (uvloop and httptools, as for the other servers) hands the body to this ASGI
function, which in a worker thread decodes the Arrow stream, makes the notebook's input
from its columns (a DataFrame, or one 2-D array for an array input), calls the
generated pipeline (``score`` on a DataFrame, ``score_batch`` on the rows of an array),
encodes the outputs as an Arrow stream and sends it. No routing, validation, limits,
error handling or monitoring: what a request costs here above the in-process call is
what HTTP on loopback, a thread hand-off and Arrow's decoding and encoding cost on this
machine, and no service built on uvicorn does less.

    NB2SVC_PACKAGE=bc_frame PYTHONPATH=<service>/src:<runtime wheel> \\
        uvicorn benchmarks.bare_batch_app:app

Any POST is a table to score; any other request is a 405.
"""

from __future__ import annotations

import gc
import importlib
import os
from typing import Any

import numpy as np
import pyarrow as pa

from benchmarks.bare_asgi import answer

_PACKAGE = os.environ["NB2SVC_PACKAGE"]
pipeline: Any = importlib.import_module(f"{_PACKAGE}.pipeline")
_KIND = importlib.import_module(f"{_PACKAGE}.app").IO.kind
pipeline.load_resources()
gc.collect()  # as the generated service does once its model is loaded
gc.freeze()
_HEADERS = [(b"content-type", b"application/vnd.apache.arrow.stream")]


def _score(body: bytes) -> bytes:
    table = pa.ipc.open_stream(pa.py_buffer(body)).read_all()
    if _KIND == "frame":
        outputs = pipeline.score(table.to_pandas())
    else:
        matrix = np.column_stack([column.to_numpy() for column in table.columns])
        outputs = pipeline.score_batch(matrix)
    answer = pa.table({"prediction": pa.array(outputs)})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, answer.schema) as writer:
        writer.write_table(answer)
    return bytes(sink.getvalue().to_pybytes())


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await answer(scope, receive, send, _score, _HEADERS)
