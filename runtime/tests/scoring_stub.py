"""A stand-in for a generated package, written to disk for the scoring tests.

``stub_frame`` takes a table (``list[Row]``) as the fraud example does; ``stub_record``
one object per request. Their pipelines are plain arithmetic, so a test can compute
every expected answer; they count their calls in ``CALLS`` and fail on request
(``amount == 13`` raises in the notebook's code; ``FAIL_AT`` interrupts a call).
"""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

SCHEMAS_FRAME = """
from typing import Any, TypeAlias
import pandas as pd
from pydantic import BaseModel, ConfigDict


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    amount: float
    category: str
    count: int
    flag: bool


PredictRequest: TypeAlias = list[Row]
BatchRequest: TypeAlias = list[PredictRequest]


def to_raw(body: Any) -> Any:
    return pd.DataFrame([row.model_dump() for row in body])
"""

SCHEMAS_RECORD = """
from typing import Any, TypeAlias
from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    amount: float
    category: str
    count: int
    flag: bool


PredictRequest: TypeAlias = Record
BatchRequest: TypeAlias = list[PredictRequest]


def to_raw(body: Any) -> Any:
    return body.model_dump()
"""

PIPELINE_FRAME = """
import os
from typing import Any
from ._artifacts import ARTIFACTS_DIR

CALLS: list[int] = []
FAIL_AT = int(os.environ.get("STUB_FAIL_AT", "0"))  # interrupt the n-th call
LOADED = False


def load_resources() -> None:
    global LOADED, OFFSET
    OFFSET = float((ARTIFACTS_DIR / "offset.txt").read_text())
    LOADED = True


def score(raw: Any) -> Any:
    CALLS.append(len(raw))
    if FAIL_AT and len(CALLS) == FAIL_AT:
        raise KeyboardInterrupt
    if (raw["amount"] == 13).any():
        raise ValueError("unlucky amount")
    return [
        {"score": round(a * 2 + c + OFFSET, 6), "label": f"{k}-{f}", "extra": {"n": c}}
        for a, k, c, f in zip(raw["amount"], raw["category"], raw["count"], raw["flag"])
    ]


def score_batch(raws: list[Any]) -> list[Any]:
    return [score(raw) for raw in raws]
"""

PIPELINE_RECORD = """
from typing import Any
from ._artifacts import ARTIFACTS_DIR

CALLS: list[int] = []


def load_resources() -> None:
    global OFFSET
    OFFSET = float((ARTIFACTS_DIR / "offset.txt").read_text())


def _one(raw: dict[str, Any]) -> Any:
    if raw["amount"] == 13:
        raise ValueError("unlucky amount")
    return {"score": round(raw["amount"] * 2 + raw["count"] + OFFSET, 6)}


def score(raw: Any) -> Any:
    return score_batch([raw])[0]


def score_batch(raws: list[Any]) -> list[Any]:
    CALLS.append(len(raws))
    return [_one(raw) for raw in raws]
"""

ARTIFACTS = """
from pathlib import Path

ARTIFACTS_DIR = Path(__file__).parent / "artifacts"
"""


def write_stub(root: Path, name: str, kind: str) -> dict[str, str]:
    """The package ``name`` under ``root``; returns its artifacts' sha256."""
    package = root / name
    (package / "artifacts").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "_artifacts.py").write_text(ARTIFACTS)
    schemas, pipeline = {
        "frame": (SCHEMAS_FRAME, PIPELINE_FRAME),
        "record": (SCHEMAS_RECORD, PIPELINE_RECORD),
    }[kind]
    (package / "schemas.py").write_text(textwrap.dedent(schemas))
    (package / "pipeline.py").write_text(textwrap.dedent(pipeline))
    offset = package / "artifacts" / "offset.txt"
    offset.write_text("0.5\n")
    return {"offset.txt": hashlib.sha256(offset.read_bytes()).hexdigest()}


def expected(amount: float, category: str, count: int, flag: bool) -> dict[str, object]:
    """The frame stub's answer, flattened as a table row."""
    return {
        "score": round(amount * 2 + count + 0.5, 6),
        "label": f"{category}-{flag}",
        "extra.n": count,
    }
