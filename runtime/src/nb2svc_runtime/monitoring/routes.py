"""The monitoring routes: /metrics, /monitoring/drift and /metadata; ``install``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import TypeAdapter

from ..artifacts import Artifacts
from ..spec import IOSpec, ModelSpec, Schemas, ServiceInfo
from .metrics import exposition
from .middleware import MonitoringMiddleware
from .monitor import Monitor, artifacts_sha256


def _monitor(request: Request) -> Monitor:
    monitor: Monitor = request.app.state.monitor
    return monitor


async def metrics(request: Request) -> Response:
    monitor = _monitor(request)
    if monitor.window is not None:  # fresh drift gauges for this scrape
        await asyncio.get_running_loop().run_in_executor(None, monitor.drift)
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)


async def drift(request: Request) -> Response:
    report = await asyncio.get_running_loop().run_in_executor(
        None, _monitor(request).drift
    )
    return Response(json.dumps(report).encode(), media_type="application/json")


def metadata_document(monitor: Monitor) -> dict[str, Any]:
    """The service's identity and lineage, as a model registry records it."""
    info = monitor.info
    reference: dict[str, Any] | None = None
    if monitor.reference_file is not None and monitor.profile is not None:
        reference = {
            **(monitor.reference() or {}),
            "features": {
                name: feature["kind"]
                for name, feature in monitor.profile["features"].items()
            },
            "predictions": {
                name: feature["kind"]
                for name, feature in monitor.profile["predictions"].items()
            },
        }
    return {
        "service": {"name": info.name, "version": info.version},
        "model": {
            "name": monitor.model,
            "version": monitor.version,
            "artifacts": dict(sorted(monitor.artifacts.sha256.items())),
            "artifacts_sha256": artifacts_sha256(monitor.artifacts),
        },
        "notebook": {"file": info.notebook, "cells_sha256": info.notebook_cells_sha256},
        "nb2svc_version": info.nb2svc_version,
        "input_kind": monitor.input_kind,
        # /predict/batch: one vectorised pipeline call, or one call per item.
        "batch": {"vectorised": monitor.vectorised_batch},
        "schemas": {
            "input": TypeAdapter(monitor.schemas.request).json_schema(),
            "output": TypeAdapter(monitor.schemas.response).json_schema(),
        },
        "reference_profile": reference,
    }


async def metadata(request: Request) -> Response:
    state = request.app.state
    document = getattr(state, "metadata", None)
    if document is None:
        document = state.metadata = json.dumps(metadata_document(_monitor(request)))
    return Response(document.encode(), media_type="application/json")


def install(
    app: FastAPI,
    settings: Any,
    *,
    info: ServiceInfo,
    io: IOSpec,
    model: ModelSpec,
    artifacts: Artifacts,
    schemas: Schemas,
) -> Monitor:
    """Add the monitoring middleware and routes to ``app``; its monitor is returned
    and kept in ``app.state.monitor``."""
    monitor = Monitor(settings, info, io, model, artifacts, schemas)
    app.state.monitor = monitor
    if monitor.metrics or monitor.request_log:
        app.add_middleware(MonitoringMiddleware, monitor=monitor)
    routes: list[tuple[str, Any, str, type[Response]]] = [
        ("/metadata", metadata, "Model and service metadata", JSONResponse)
    ]
    if monitor.metrics:
        routes += [
            ("/metrics", metrics, "Prometheus metrics", PlainTextResponse),
            (
                "/monitoring/drift",
                drift,
                "Drift against the reference profile",
                JSONResponse,
            ),
        ]
    for path, endpoint, summary, documented in routes:
        app.add_api_route(
            path,
            endpoint,
            methods=["GET"],
            tags=["monitoring"],
            summary=summary,
            response_class=documented,  # the media type OpenAPI documents
        )
    return monitor
