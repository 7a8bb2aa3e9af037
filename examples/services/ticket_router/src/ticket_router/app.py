"""The HTTP API of the Ticket Router service.

Generated from ticket_router.ipynb by nb2svc 0.1.0.
Edit the notebook and regenerate rather than editing this file.

Request bodies are read by the guard middleware (size, deadline, nesting), parsed and
validated in one pass from bytes by pydantic, turned into the notebook's input form
and scored in a worker thread, and the answer serialised there with orjson: the event
loop only moves bytes. Prediction requests pass every middleware, then go straight to
their endpoint (PredictionLane), past the parts of FastAPI they do not use.
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from . import __version__, _docs, _monitoring, extensions, lifecycle, pipeline, schemas
from .batching import MicroBatcher
from .middleware import (
    REQUEST_ID_HEADER,
    GuardMiddleware,
    Limits,
    RequestError,
    ServiceState,
    error_body,
)
from .settings import Settings, get_settings

logger = logging.getLogger("ticket_router")

ENV_PREFIX = "TICKET_ROUTER_"
NOTEBOOK = "ticket_router.ipynb"
JSON = "application/json"
MAX_ERROR_DETAILS = 50
DESCRIPTION = f"""\
Predictions from the notebook `{NOTEBOOK}`, served by a package generated from it
by nb2svc 0.1.0.

`POST /predict` takes one input and `POST /predict/batch` a JSON array of inputs.
`GET /healthz` is the liveness probe, `GET /readyz` the readiness probe. An error
is a JSON object whose `error` member holds `code`, `message` and `request_id`.
Every response carries an `X-Request-ID` header. Request size, rows, nesting,
time and concurrency are bounded: see the service's README for the settings.
`GET /metrics` serves Prometheus metrics, `GET /monitoring/drift` the drift of recent
inputs and predictions from the notebook's reference data, `GET /metadata` the model's
identity and lineage.
"""


class ErrorDetail(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    code: str
    message: str
    request_id: str
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class Status(BaseModel):
    status: str


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


def _adapter(annotation: Any) -> TypeAdapter[Any]:
    """A validator refusing NaN and Infinity wherever the schema wants a number."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return TypeAdapter(annotation)  # models carry allow_inf_nan=False themselves
    return TypeAdapter(annotation, config=ConfigDict(allow_inf_nan=False))


_Input = schemas.PredictRequest
_ONE = _adapter(_Input)
_MANY = _adapter(list[_Input])


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # e.g. an integer beyond 64 bits
        return json.dumps(value).encode()


def _predict_one(body: Any) -> bytes:
    return _dumps(pipeline.score(schemas.to_raw(body)))


def _predict_many(items: list[Any]) -> bytes:
    return _dumps(pipeline.score_batch([schemas.to_raw(item) for item in items]))


def _rows(items: list[Any]) -> int:
    return len(items)


def _details(exc: ValidationError) -> list[dict[str, object]]:
    """Where and why; never pydantic's "input" or "ctx", which echo the values."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    return [
        {"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in errors[:MAX_ERROR_DETAILS]
    ]


async def _parse(request: Request, adapter: TypeAdapter[Any]) -> Any:
    if not request.app.state.ready:
        raise RequestError(
            503,
            "not_ready",
            "The model is still loading; retry shortly.",
            headers={"Retry-After": "5"},
        )
    media_type = request.headers.get("content-type", "").partition(";")[0]
    media_type = media_type.strip().lower()
    if media_type != JSON and not media_type.endswith("+json"):
        raise RequestError(
            415, "unsupported_media_type", "The request body must be application/json."
        )
    try:
        # Strict: a value must have the type the schema gives it (no "1" for 1).
        return adapter.validate_json(await request.body(), strict=True)
    except ValidationError as exc:
        count = exc.error_count()
        raise RequestError(
            422,
            "invalid_request",
            f"The request body is invalid ({count} error{'' if count == 1 else 's'}).",
            details=_details(exc),
        ) from None


def _check_rows(request: Request, rows: int) -> None:
    limit = request.app.state.settings.max_batch_rows
    if rows > limit:
        raise RequestError(
            413,
            "too_many_rows",
            f"The request holds {rows} rows; at most {limit} are accepted.",
        )


async def _score(
    request: Request, predict: Callable[[Any], bytes], body: Any
) -> Response:
    """Run the notebook's code in a worker thread: the event loop stays free."""
    batcher: MicroBatcher | None = request.app.state.batcher
    try:
        if batcher is not None and predict is _predict_one:
            content = await batcher.score(body)
        else:
            loop = asyncio.get_running_loop()
            executor = request.app.state.executor
            content = await loop.run_in_executor(executor, predict, body)
    except Exception as exc:
        # The log line names the exception type, not its message or traceback: both
        # may hold input values. DEBUG_ERRORS logs them when that is acceptable.
        debug = request.app.state.settings.debug_errors
        logger.error(
            "prediction failed: %s (request_id=%s)",
            type(exc).__name__,
            request.state.request_id,
            exc_info=exc if debug else None,
        )
        raise RequestError(
            500,
            "prediction_failed",
            "The model could not produce a prediction for this request.",
        ) from None
    # Into the drift window: a reference to the body and the bytes, under a lock.
    request.app.state.monitor.observe(request, body, content, predict is _predict_many)
    return Response(content, media_type=JSON)


async def predict(request: Request) -> Response:
    body = await _parse(request, _ONE)
    return await _score(request, _predict_one, body)


async def predict_batch(request: Request) -> Response:
    items = await _parse(request, _MANY)
    _check_rows(request, _rows(items))
    if not items:
        return Response(b"[]", media_type=JSON)
    return await _score(request, _predict_many, items)


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


def _request_id(request: Request) -> str:
    request_id = getattr(request.state, "request_id", None)
    return request_id if isinstance(request_id, str) else ""


def _error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: list[dict[str, object]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        error_body(code, message, _request_id(request), details),
        status_code=status,
        headers=headers,
        media_type=JSON,
    )


async def _request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    return _error_response(
        request, exc.status, exc.code, exc.message, exc.details, exc.headers
    )


async def _invalid_request(request: Request, exc: Exception) -> Response:
    # Routes added in extensions.py may use FastAPI's own validation.
    assert isinstance(exc, RequestValidationError)
    details: list[dict[str, object]] = [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in err["loc"]],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        for err in exc.errors()[:MAX_ERROR_DETAILS]
    ]
    return _error_response(
        request, 422, "invalid_request", "The request is invalid.", details
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 415: "unsupported_media_type"}
    return _error_response(
        request,
        exc.status_code,
        codes.get(exc.status_code, "http_error"),
        str(exc.detail),
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Last resort, outside the guard middleware: so the request id header is set here.
    logger.error(
        "unhandled error: %s (request_id=%s)", type(exc).__name__, _request_id(request)
    )
    response = _error_response(request, 500, "internal_error", "Internal server error.")
    response.headers[REQUEST_ID_HEADER] = _request_id(request)
    return response


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    state: ServiceState = app.state.service
    app.state.ready = False
    executor = ThreadPoolExecutor(settings.threads, thread_name_prefix="predict")
    app.state.executor = executor
    served = lifecycle.install_drain(state, settings.drain_seconds)
    if served:
        lifecycle.install_warning_log(settings.debug_errors)

    async def on_loaded() -> None:
        await extensions.on_startup(app)

    async def start() -> None:
        if await lifecycle.load(
            pipeline.load_resources,
            on_loaded,
            state,
            settings.debug_errors,
            ENV_PREFIX,
            exit_on_failure=served,
        ):
            app.state.ready = True
            app.state.workers.mark(ready=True)

    loading = asyncio.create_task(start())
    app.state.monitor.start()  # drift measured in the background
    try:
        yield
    finally:
        await app.state.monitor.stop()
        was_ready = app.state.ready
        app.state.ready = False
        app.state.workers.mark(ready=False)
        loading.cancel()
        if was_ready:
            await extensions.on_shutdown(app)
        executor.shutdown(wait=False, cancel_futures=True)


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (401, "A valid API key is required"),
        (408, "The body was not received in time"),
        (413, "The body or the number of rows is over the limit"),
        (415, "The body is not JSON"),
        (422, "Invalid request body"),
        (500, "The notebook's code failed"),
        (503, "The model is not loaded yet, or the service is overloaded"),
        (504, "The prediction took too long"),
    )
}


def _body(adapter: TypeAdapter[Any], example: Any, summary: str) -> dict[str, Any]:
    """The request body's OpenAPI, from the same validator the route uses."""
    schema = adapter.json_schema(ref_template="#/components/schemas/{model}")
    _SCHEMAS.update(schema.pop("$defs", {}))
    content = {
        "schema": schema,
        "examples": {"notebook": {"summary": summary, "value": example}},
    }
    return {"requestBody": {"required": True, "content": {JSON: content}}}


_SCHEMAS: dict[str, Any] = {}


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="Ticket Router",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # No 307 from /predict/ to /predict: the redirect's Location is built from the
        # request's Host header, so a forged Host sent clients elsewhere. 404 instead.
        redirect_slashes=False,
        docs_url=None,  # _docs serves /docs and /redoc without a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.service = state = ServiceState()
    app.state.ready = False
    app.state.workers = lifecycle.WorkerReadiness()  # with several workers: all ready?
    app.state.batcher = None
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    limits = Limits(
        max_body_bytes=settings.max_body_bytes,
        max_json_depth=settings.max_json_depth,
        max_concurrency=settings.max_concurrency,
        request_timeout=settings.request_timeout,
        receive_timeout=settings.receive_timeout,
        api_key=api_key,
        public_monitoring=settings.public_monitoring,
        debug_errors=settings.debug_errors,
    )
    lanes: dict[str, APIRoute] = {}
    app.add_middleware(PredictionLane, routes=lanes, handlers=app.exception_handlers)
    app.add_middleware(GuardMiddleware, limits=limits, state=state)
    # Outermost: times and counts every request, the guard's answers included.
    _monitoring.install(app, settings)
    app.add_exception_handler(RequestError, _request_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)

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
    app.router.add_api_route(
        "/predict",
        predict,
        route_class_override=DirectRoute,
        methods=["POST"],
        tags=["predictions"],
        summary="Predict one input",
        openapi_extra=_body(_ONE, schemas.EXAMPLE_REQUEST, "The notebook's example"),
        responses={
            200: {
                "model": schemas.PredictResponse,
                "description": "The prediction",
                "content": {JSON: {"example": schemas.EXAMPLE_RESPONSE}},
            },
            **_ERRORS,
        },
    )
    app.router.add_api_route(
        "/predict/batch",
        predict_batch,
        route_class_override=DirectRoute,
        methods=["POST"],
        tags=["predictions"],
        summary="Predict many inputs",
        openapi_extra=_body(
            _MANY,
            [schemas.EXAMPLE_REQUEST],
            "The notebook's example, as a batch of one",
        ),
        responses={
            200: {
                "model": list[schemas.PredictResponse],
                "description": "One prediction per input, in order",
                "content": {JSON: {"example": [schemas.EXAMPLE_RESPONSE]}},
            },
            **_ERRORS,
        },
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = FastAPI.openapi(app)
            known = spec.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in _SCHEMAS.items():
                known.setdefault(name, schema)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
    lanes.update((r.path, r) for r in app.routes if isinstance(r, DirectRoute))
    _docs.install(app)
    extensions.configure(app)
    return app


app = create_app(get_settings())
