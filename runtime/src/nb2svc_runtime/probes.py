"""The probes: /healthz (alive) and /readyz (loaded, not draining, every worker ready)."""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel

from .guards import ServiceState
from .predict import JSON


class Status(BaseModel):
    status: str


async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type=JSON)


async def readyz(request: Request) -> Response:
    state: ServiceState = request.app.state.service
    if (
        request.app.state.ready
        and not state.draining
        and request.app.state.workers.all_ready()
    ):
        return Response(b'{"status":"ready"}', media_type=JSON)
    status = "failed" if state.failed else "draining" if state.draining else "starting"
    return Response(orjson.dumps({"status": status}), status_code=503, media_type=JSON)


def add_probes(app: FastAPI) -> None:
    app.add_api_route(
        "/healthz",
        healthz,
        methods=["GET"],
        tags=["probes"],
        summary="Liveness",
        response_model=Status,
    )
    app.add_api_route(
        "/readyz",
        readyz,
        methods=["GET"],
        tags=["probes"],
        summary="Readiness",
        response_model=Status,
        responses={
            503: {"model": Status, "description": "Loading, draining or failed"}
        },
    )
