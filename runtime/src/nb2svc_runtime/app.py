"""create_app: a generated package's FastAPI app, wired from its descriptions.

Prediction requests pass every middleware, then go straight to their endpoint
(``PredictionLane``), past the parts of FastAPI they do not use.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import GenericAlias
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from . import columnar, docs, lifecycle, monitoring
from ._internals.fastapi_lane import DirectRoute, PredictionLane
from .artifacts import Artifacts
from .batching import MicroBatcher
from .columnar import Columnar
from .guards import GuardMiddleware, Limits, ServiceState
from .handlers import ERRORS, add_error_handlers
from .log import name_service_logger
from .openapi import install_openapi, request_body
from .predict import JSON, Predictor
from .probes import add_probes
from .spec import Extensions, IOSpec, ModelSpec, Pipeline, Schemas, ServiceInfo

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def describe(info: ServiceInfo) -> str:
    """The API's description in its OpenAPI document."""
    return f"""\
Predictions from the notebook `{info.notebook}`, served by a package generated from it
by nb2svc {info.nb2svc_version}.

`POST /predict` takes one input and `POST /predict/batch` a JSON array of inputs.
Where a request is a table, it may also be sent as pandas' split JSON
(`application/json; orient=split`) or an Arrow IPC stream
(`application/vnd.apache.arrow.stream`), and `Accept` may ask for the answer so.
`GET /healthz` is the liveness probe, `GET /readyz` the readiness probe. An error
is a JSON object whose `error` member holds `code`, `message` and `request_id`.
Every response carries an `X-Request-ID` header. Request size, rows, nesting,
time and concurrency are bounded: see the service's README for the settings.
`GET /metrics` serves Prometheus metrics, `GET /monitoring/drift` the drift of recent
inputs and predictions from the notebook's reference data, `GET /metadata` the model's
identity and lineage.
"""


def _lifespan(
    info: ServiceInfo,
    pipeline: Pipeline,
    predictor: Predictor,
    extensions: Extensions | None,
) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = app.state.settings
        state: ServiceState = app.state.service
        app.state.ready = False
        executor = ThreadPoolExecutor(settings.threads, thread_name_prefix="predict")
        app.state.executor = executor
        if predictor.frames and predictor.io.vectorised_batch and settings.micro_batch:
            app.state.batcher = MicroBatcher(
                executor,
                settings.threads,
                predictor.predict_parts,
                predictor.predict_one,
                settings.max_batch_rows,
            )
        served = lifecycle.install_drain(state, settings.drain_seconds)
        if served:
            lifecycle.install_warning_log(settings.debug_errors)

        async def on_loaded() -> None:
            if extensions is not None:
                await extensions.on_startup(app)

        async def start() -> None:
            if await lifecycle.load(
                pipeline.load_resources,
                on_loaded,
                state,
                settings.debug_errors,
                info.env_prefix,
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
            if was_ready and extensions is not None:
                await extensions.on_shutdown(app)
            executor.shutdown(wait=False, cancel_futures=True)

    return lifespan


def _limits(settings: Any) -> Limits:
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    return Limits(
        max_body_bytes=settings.max_body_bytes,
        max_json_depth=settings.max_json_depth,
        max_concurrency=settings.max_concurrency,
        request_timeout=settings.request_timeout,
        receive_timeout=settings.receive_timeout,
        api_key=api_key,
        public_monitoring=settings.public_monitoring,
        debug_errors=settings.debug_errors,
    )


def _add_prediction_routes(
    app: FastAPI, predictor: Predictor, schemas: Schemas, known: dict[str, Any]
) -> None:
    example, answer = schemas.example_request, schemas.example_response
    lane: Columnar = app.state.columnar
    routes = (
        ("/predict", predictor.one, "Predict one input", False),
        ("/predict/batch", predictor.many, None, True),
    )
    for path, validator, summary, batch in routes:
        openapi_extra = request_body(
            validator,
            [example] if batch else example,
            (
                "The notebook's example, as a batch of one"
                if batch
                else "The notebook's example"
            ),
            known,
        )
        responses: dict[int | str, Any] = {
            200: {
                "model": (
                    GenericAlias(list, (schemas.response,))
                    if batch
                    else schemas.response
                ),
                "description": (
                    "One prediction per input, in order" if batch else "The prediction"
                ),
                "content": {JSON: {"example": [answer] if batch else answer}},
            },
            **ERRORS,
        }
        columnar.document(lane, batch, openapi_extra, responses, known)
        app.router.add_api_route(
            path,
            lane.endpoint(batch),
            route_class_override=DirectRoute,
            methods=["POST"],
            tags=["predictions"],
            summary=summary or "Predict many inputs",
            openapi_extra=openapi_extra,
            responses=responses,
        )


def create_app(
    info: ServiceInfo,
    settings: Any,
    *,
    pipeline: Pipeline,
    schemas: Schemas,
    io: IOSpec,
    model: ModelSpec,
    artifacts: Artifacts,
    extensions: Extensions | None = None,
) -> FastAPI:
    """The service's app: /predict and /predict/batch (prediction lane), probes,
    monitoring routes, guards, error envelope, offline docs; ``extensions.configure``
    last, once the lane knows its routes. ``app.state`` keeps settings, ready,
    service, workers, batcher, executor, monitor, predictor and columnar."""
    name_service_logger(info.package)
    predictor = Predictor(pipeline, schemas, io)
    app = FastAPI(
        title=info.title,
        version=info.version,
        description=describe(info),
        lifespan=_lifespan(info, pipeline, predictor, extensions),
        # No 307 from /predict/ to /predict: the redirect's Location is built from the
        # request's Host header, so a forged Host sent clients elsewhere. 404 instead.
        redirect_slashes=False,
        docs_url=None,  # nb2svc_runtime.docs serves /docs and /redoc without a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.service = state = ServiceState()
    app.state.ready = False
    app.state.workers = lifecycle.WorkerReadiness()  # with several workers: all ready?
    app.state.batcher = None
    app.state.predictor = predictor
    app.state.columnar = Columnar(predictor)  # tables as split JSON or Arrow
    lanes: dict[str, APIRoute] = {}
    app.add_middleware(PredictionLane, routes=lanes, handlers=app.exception_handlers)
    app.add_middleware(GuardMiddleware, limits=_limits(settings), state=state)
    # Outermost: times and counts every request, the guard's answers included.
    monitoring.install(
        app,
        settings,
        info=info,
        io=io,
        model=model,
        artifacts=artifacts,
        schemas=schemas,
    )
    add_error_handlers(app)
    add_probes(app)
    known: dict[str, Any] = {}
    _add_prediction_routes(app, predictor, schemas, known)
    install_openapi(app, known)
    lanes.update((r.path, r) for r in app.routes if isinstance(r, DirectRoute))
    docs.install(app)
    if extensions is not None:
        extensions.configure(app)
    return app
