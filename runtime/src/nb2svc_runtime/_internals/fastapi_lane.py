"""The prediction lane: POST /predict and /predict/batch straight to their endpoints.

Framework internals relied on (supported: fastapi >=0.165,<0.166, starlette
>=1.10,<1.11): ``APIRoute.get_route_handler`` (a documented extension point), the
``route_class_override`` argument of ``APIRouter.add_api_route``, the keys Starlette's
router adds to a matched request's scope (``route``, ``endpoint``, ``path_params``)
and ``app.exception_handlers``. The router's own way costs about 29 µs of CPU per
request (benchmarks/app_cpu.py), some 15% of the service's own; so the lane stays,
and runtime/tests/test_internals_fastapi_lane.py fails the day these change.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import RequestError


class DirectRoute(APIRoute):
    """A route whose endpoint takes the Request and returns the Response itself.

    FastAPI documents the route from its metadata (the request body's schema and the
    responses given below) as usual, but calls the endpoint directly: no dependency
    resolution, body parsing or response serialisation per request, all of which the
    endpoint does itself, once, from bytes.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint


class PredictionLane:
    """The innermost middleware: a POST to a DirectRoute's path goes to its endpoint.

    Every other middleware, the guards, monitoring and any an extension adds, has seen
    the request by then. What the lane skips is what FastAPI runs under them for any
    route: the exception middleware, the router trying each route in turn and the
    route's own wrapper. None of them does anything for these endpoints, and at one
    request at a time they cost as much as the guards. The endpoints' RequestError
    goes to the handler registered for it, as the exception middleware would send it.
    Other methods, unknown paths and apps mounted under a root path take the usual way.
    """

    def __init__(
        self, app: ASGIApp, routes: dict[str, APIRoute], handlers: dict[Any, Any]
    ) -> None:
        self.app = app
        self.routes = routes  # filled once the routes are added
        self.handlers = handlers  # the app's exception handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (
            self.routes.get(scope["path"])
            if scope["type"] == "http"
            and scope["method"] == "POST"
            and not scope.get("root_path")
            else None
        )
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route  # as the router sets them
        scope["endpoint"] = route.endpoint
        scope["path_params"] = {}
        request = Request(scope, receive)
        try:
            response = await route.endpoint(request)
        except RequestError as exc:
            response = await self.handlers[RequestError](request, exc)
        await response(scope, receive, send)
