"""FastAPI and Starlette internals behind the prediction lane: these fail the day they
change. (That predictions bypass the router yet pass every middleware,
ServiceContract checks on every service.)"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute, APIRouter
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from nb2svc_runtime._internals.fastapi_lane import DirectRoute, PredictionLane

#: What the lane sets in a request's scope, as Starlette's router does for a match.
LANE_KEYS = {"route", "endpoint", "path_params"}
#: What the router and FastAPI's middleware add besides, for what the lane's
#: endpoints never use: dependency exit stacks, the router, the exception handlers
#: (the lane calls the RequestError handler itself).
SKIPPED = {
    "router",
    "starlette.exception_handlers",
    "fastapi_middleware_astack",
    "fastapi_inner_astack",
    "fastapi_function_astack",
}


def test_the_router_adds_the_keys_the_lane_sets() -> None:
    seen: dict[str, Any] = {}
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, str]:
        seen.update(request.scope)
        return {}

    before: set[str] = set()

    class Before:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            before.update(scope)
            await self.inner(scope, receive, send)

    app.add_middleware(Before)
    with TestClient(app) as client:
        assert client.post("/echo").status_code == 200
    assert set(seen) - before == LANE_KEYS | SKIPPED


def test_route_class_override_reaches_add_api_route() -> None:
    parameters = inspect.signature(APIRouter.add_api_route).parameters
    assert "route_class_override" in parameters
    app = FastAPI()

    async def endpoint(request: Request) -> Response:
        return Response(b"direct")

    app.router.add_api_route(
        "/direct", endpoint, methods=["POST"], route_class_override=DirectRoute
    )
    (route,) = [r for r in app.routes if getattr(r, "path", "") == "/direct"]
    assert isinstance(route, DirectRoute)
    assert route.get_route_handler() is endpoint
    with TestClient(app) as client:  # through the router, the handler is the endpoint
        assert client.post("/direct").content == b"direct"


def test_get_route_handler_is_still_the_extension_point() -> None:
    assert "get_route_handler" in vars(APIRoute)
    ours = inspect.signature(DirectRoute.get_route_handler)
    assert list(ours.parameters) == list(
        inspect.signature(APIRoute.get_route_handler).parameters
    )


def test_the_lane_answers_directly_and_hands_other_requests_on() -> None:
    async def endpoint(request: Request) -> Response:
        assert request.scope["route"] is route and request.scope["path_params"] == {}
        return Response(b"lane")

    route = DirectRoute("/p", endpoint, methods=["POST"])
    app = FastAPI()

    @app.get("/p")
    async def other() -> dict[str, str]:
        return {"via": "router"}

    app.add_middleware(PredictionLane, routes={"/p": route}, handlers={})
    with TestClient(app) as client:
        assert client.post("/p").content == b"lane"
        assert client.get("/p").json() == {"via": "router"}
    assert isinstance(app.exception_handlers, dict)
