"""The runtime's whole contract, on stub services: no notebook, no kernel, no build.

Two stub pipelines, a record service and a table (frame) service, are served by
``create_app`` and checked by ``ServiceContract``, the checks every generated service
runs on itself.
"""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import SettingsConfigDict

from nb2svc_runtime.app import create_app
from nb2svc_runtime.artifacts import Artifacts
from nb2svc_runtime.schemas import (
    Integer,
    JsonSafeInteger,
    frame_builder,
    record_builder,
)
from nb2svc_runtime.settings import ServiceSettings
from nb2svc_runtime.spec import IOSpec, ModelSpec, Schemas, ServiceInfo
from nb2svc_runtime.testing import FrameContract, ServiceContract, ServiceUnderTest


class StubSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NB2SVC_STUB_")


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    amount: float
    count: Integer


class Row(BaseModel):
    model_config = ConfigDict(
        extra="forbid", allow_inf_nan=False, populate_by_name=True
    )
    amount: float
    count: JsonSafeInteger
    merchant: str = Field(alias="merchant name")


def _record_pipeline() -> Any:
    pipeline = types.ModuleType("stub_record_pipeline")

    def score(raw: dict[str, Any]) -> dict[str, Any]:
        return {"total": raw["amount"] * raw["count"]}

    pipeline.load_resources = lambda: None  # type: ignore[attr-defined]
    pipeline.score = score  # type: ignore[attr-defined]
    pipeline.score_batch = lambda raws: [  # type: ignore[attr-defined]
        pipeline.score(raw) for raw in raws
    ]
    return pipeline


def _frame_pipeline() -> Any:
    pipeline = types.ModuleType("stub_frame_pipeline")

    def score(frame: Any) -> list[float]:
        return [float(x) for x in frame["amount"] * frame["count"]]

    pipeline.load_resources = lambda: None  # type: ignore[attr-defined]
    pipeline.score = score  # type: ignore[attr-defined]
    pipeline.score_batch = lambda raws: [  # type: ignore[attr-defined]
        pipeline.score(raw) for raw in raws
    ]
    return pipeline


def _service(kind: str, folder: Path) -> ServiceUnderTest:
    info = ServiceInfo(
        package=f"stub_{kind}",
        name=f"stub-{kind}",
        title=f"Stub {kind.title()}",
        version="0.1.0",
        env_prefix="NB2SVC_STUB_",
        notebook=f"stub_{kind}.ipynb",
        notebook_cells_sha256="0" * 64,
        nb2svc_version="0.0.0",
    )
    if kind == "record":
        pipeline = _record_pipeline()
        example: Any = {"amount": 2.5, "count": 4}
        schemas = Schemas(
            Record, dict[str, float], example, {"total": 10.0}, record_builder()
        )
        io = IOSpec(kind="record")
        examples = [
            {"input": example, "output": {"total": 10.0}},
            {"input": {"amount": 1.5, "count": 2}, "output": {"total": 3.0}},
        ]
    else:
        pipeline = _frame_pipeline()
        dtypes = {"amount": "float64", "count": "int64", "merchant name": "category"}
        request: Any = list[Row]
        example = [{"amount": 2.5, "count": 4, "merchant name": "grocery"}]
        to_raw = frame_builder(request, dtypes)
        schemas = Schemas(request, list[float], example, [10.0], to_raw, dtypes)
        io = IOSpec(kind="frame", vectorised_batch=True)
        two = [example[0], {"amount": 1.0, "count": 3, "merchant name": "fuel"}]
        examples = [
            {"input": example, "output": [10.0]},
            {"input": two, "output": [10.0, 3.0]},
        ]
    golden = folder / "examples.json"
    golden.write_text(json.dumps({"examples": examples}), encoding="utf-8")

    def make_app(settings: Any) -> FastAPI:
        return create_app(
            info,
            settings,
            pipeline=pipeline,
            schemas=schemas,
            io=io,
            model=ModelSpec(),
            artifacts=Artifacts(folder, {}),
        )

    return ServiceUnderTest(
        info=info,
        create_app=make_app,
        settings=StubSettings,
        pipeline=pipeline,
        schemas=schemas,
        io=io,
        model=ModelSpec(),
        artifacts=Artifacts(folder, {}),
        golden_file=golden,
    )


@pytest.fixture(scope="module", params=["record", "frame"])
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> ServiceUnderTest:
    return _service(request.param, tmp_path_factory.mktemp(request.param))


class TestFrameStub(FrameContract):
    """The table-only checks, on the frame stub."""

    @pytest.fixture(scope="class")
    @classmethod
    def service(cls, tmp_path_factory: pytest.TempPathFactory) -> ServiceUnderTest:
        return _service("frame", tmp_path_factory.mktemp("frame-only"))


class TestStubServices(ServiceContract):
    """Every check of the contract, on each stub."""

    def test_golden_examples_are_answered(self, service: ServiceUnderTest) -> None:
        from nb2svc_runtime.testing import assert_json_close, post_json

        examples = service.golden_examples()
        with service.serving() as client:
            for example in examples:
                response = post_json(client, "/predict", example["input"])
                assert response.status_code == 200, response.text
                assert_json_close(response.json(), example["output"])
            inputs = [e["input"] for e in examples]
            response = post_json(client, "/predict/batch", inputs)
            assert_json_close(response.json(), [e["output"] for e in examples])

    def test_metadata_and_openapi_name_the_service(
        self, service: ServiceUnderTest
    ) -> None:
        with service.serving() as client:
            data = client.get("/metadata").json()
            spec = client.get("/openapi.json").json()
        assert data["service"] == {"name": service.info.name, "version": "0.1.0"}
        assert data["notebook"]["file"] == service.info.notebook
        assert data["input_kind"] == service.io.kind
        assert data["batch"] == {"vectorised": service.io.vectorised_batch}
        assert spec["info"]["title"] == service.info.title
        assert service.info.notebook in spec["info"]["description"]
