"""A stand-in for generated packages, served by a real uvicorn for the columnar tests.

``python columnar_stub.py KIND PORT [no-arrow]`` serves a frame (``/predict`` takes a
table), record, array or matrix (each input a 2-D array) service. The pipelines are arithmetic a test can check, and
the frame's answer names the dtypes the pipeline got, so a test sees that a split or
Arrow body reaches the notebook as the same DataFrame as JSON records. A ``count`` of
999 sleeps past the request timeout; ``no-arrow`` makes pyarrow unimportable.
"""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path
from typing import Any, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

from nb2svc_runtime.schemas import (
    Integer,
    JsonSafeInteger,
    array_builder,
    frame_builder,
    record_builder,
)


class Row(BaseModel):
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, allow_inf_nan=False
    )

    amount: float
    category: str
    count: JsonSafeInteger
    flag: bool
    score: float | None
    card_id: str = Field(alias="card id")


DTYPES = {
    "amount": "float64",
    "category": "category",
    "count": "int64",
    "flag": "bool",
    "score": "float64",
    "card id": "str",
}
FrameRequest: TypeAlias = list[Row]
ArrayRequest: TypeAlias = list[float]
EXAMPLE_ROW = {
    "amount": 1.5,
    "category": "food",
    "count": 2,
    "flag": True,
    "score": None,
    "card id": "c1",
}


def _slow(counts: Any) -> None:
    if 999 in list(counts):
        time.sleep(3)


def frame_pipeline() -> Any:
    def score(frame: Any) -> Any:
        _slow(frame["count"])
        dtypes = ",".join(f"{name}:{dtype}" for name, dtype in frame.dtypes.items())
        return [
            {"total": amount * count, "category": category, "dtypes": dtypes}
            for amount, count, category in zip(
                frame["amount"].tolist(),
                frame["count"].tolist(),
                frame["category"].tolist(),
                strict=True,
            )
        ]

    return score


def record_pipeline() -> Any:
    def score(record: dict[str, Any]) -> Any:
        _slow([record["count"]])
        return {"total": record["amount"] * record["count"], "card": record["card id"]}

    return score


def array_pipeline() -> Any:
    def score(vector: Any) -> Any:
        return float(vector.sum())

    return score


def service(kind: str) -> Any:
    from nb2svc_runtime.spec import IOSpec, Schemas

    pipeline = types.ModuleType(f"stub_{kind}_pipeline")
    if kind == "frame":
        score = frame_pipeline()
        schemas = Schemas(
            FrameRequest,
            list[dict[str, Any]],
            [EXAMPLE_ROW],
            [{"total": 3.0, "category": "food", "dtypes": ""}],
            frame_builder(FrameRequest, DTYPES),
            DTYPES,
        )
    elif kind == "record":
        score = record_pipeline()
        schemas = Schemas(
            Row, dict[str, Any], EXAMPLE_ROW, {"total": 3.0}, record_builder()
        )
    elif kind == "matrix":  # each input a 2-D array: rows of two numbers
        score = array_pipeline()
        schemas = Schemas(
            list[list[float]],
            float,
            [[1.0, 2.0], [3.0, 4.0]],
            10.0,
            array_builder("float64"),
        )
        kind = "array"
    else:
        score = array_pipeline()
        schemas = Schemas(
            ArrayRequest, float, [1.0, 2.0, 3.0], 6.0, array_builder("float64")
        )
    pipeline.load_resources = lambda: None  # type: ignore[attr-defined]
    pipeline.score = score  # type: ignore[attr-defined]
    pipeline.score_batch = lambda raws: [score(raw) for raw in raws]  # type: ignore[attr-defined]
    return pipeline, schemas, IOSpec(kind=kind)  # type: ignore[arg-type]


def create(kind: str, folder: Path) -> Any:
    from pydantic_settings import SettingsConfigDict

    from nb2svc_runtime.app import create_app
    from nb2svc_runtime.artifacts import Artifacts
    from nb2svc_runtime.settings import ServiceSettings
    from nb2svc_runtime.spec import ModelSpec, ServiceInfo

    class Settings(ServiceSettings):
        model_config = SettingsConfigDict(env_prefix="STUB_")

    info = ServiceInfo(
        package="stub",
        name="stub",
        title="Stub",
        version="1.0.0",
        env_prefix="STUB_",
        notebook="stub.ipynb",
        notebook_cells_sha256="0" * 64,
        nb2svc_version="0.1.0",
    )
    pipeline, schemas, io = service(kind)
    settings = Settings(
        max_batch_rows=50, max_body_bytes=200_000, request_timeout=1.0, threads=2
    )
    return create_app(
        info,
        settings,
        pipeline=pipeline,
        schemas=schemas,
        io=io,
        model=ModelSpec(),
        artifacts=Artifacts(folder, {}),
    )


if __name__ == "__main__":
    import uvicorn

    if "no-arrow" in sys.argv[3:]:
        sys.modules["pyarrow"] = None  # type: ignore[assignment]
    app = create(sys.argv[1], Path(__file__).parent)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")

__all__ = ["Integer"]
