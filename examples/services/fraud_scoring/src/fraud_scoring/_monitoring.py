"""Monitoring of the Fraud Scoring service: metrics, drift, lineage, request log.

- ``GET /metrics``: Prometheus metrics (requests and latency by route and status,
  predictions, errors by kind, the model's identity, drift). With several worker
  processes, prometheus-client's multiprocess mode adds up their counts.
- ``GET /monitoring/drift``: every worker keeps its most recent input rows and their
  predictions (``DRIFT_WINDOW`` rows) and compares them with the reference profile
  nb2svc built from the notebook's ``reference`` data: the population stability
  index (PSI) of every feature and prediction, plus a Kolmogorov-Smirnov test for
  numeric ones. Measured off the request path: when read, and in the background.
- ``GET /metadata``: what a model registry records about the service.
- One JSON log line per request, without the request's values unless
  ``LOG_FEATURES`` allows them.

Generated from fraud_scoring.ipynb by nb2svc 0.1.0: edit the notebook and
regenerate rather than editing this file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from pydantic import TypeAdapter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __version__, _profile, schemas
from ._artifacts import ARTIFACTS, artifact_path
from .settings import Settings

logger = logging.getLogger("fraud_scoring")
request_logger = logging.getLogger("fraud_scoring.access")

SERVICE = "fraud-scoring"
NOTEBOOK = "fraud_scoring.ipynb"
NOTEBOOK_CELLS_SHA256 = (
    "5f41522a3296cc4061b86d2fc4891be2fa95e74d6c7e9804753f72e169cbae12"
)
NB2SVC_VERSION = "0.1.0"
INPUT_KIND = "frame"
#: The reference profile nb2svc built from the notebook's reference data.
REFERENCE_PROFILE: str | None = "reference_profile.json"
#: Set by ``serve`` when there are several workers: their metrics are added up.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Most bytes of an error response read to find its error code.
MAX_ERROR_BODY = 4096


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def artifacts_sha256() -> str:
    """One digest of every artifact's name and sha256: the model's fingerprint."""
    digest = hashlib.sha256()
    for name, sha256 in sorted(ARTIFACTS.items()):
        digest.update(f"{name}\0{sha256}\n".encode())
    return digest.hexdigest()


def model_identity(settings: Settings) -> tuple[str, str]:
    """The model's name and version: the notebook's MODEL_NAME and MODEL_VERSION
    config where it has them, else the service's name and version."""
    name = SERVICE
    version = str(settings.model_version)
    return name, version


# --- metrics -------------------------------------------------------------------------

disable_created_metrics()  # no *_created series next to every counter
REGISTRY = CollectorRegistry()
if not multiprocess_mode():  # these read the process itself: one process only
    ProcessCollector(registry=REGISTRY)
    PlatformCollector(registry=REGISTRY)
    GCCollector(registry=REGISTRY)

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
HTTP_LABELS = ("method", "route", "status")
DRIFT_LABELS = ("source", "feature")

REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by method, route and status code.",
    HTTP_LABELS,
    registry=REGISTRY,
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from a request's arrival to the end of its response.",
    HTTP_LABELS,
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
PREDICTIONS = Counter(
    "model_predictions_total",
    "Inputs scored (every row of a table counts), by route.",
    ("route",),
    registry=REGISTRY,
)
ERRORS = Counter(
    "service_errors_total",
    "Error responses by kind: the error envelope's code.",
    ("kind",),
    registry=REGISTRY,
)
MODEL_INFO = Gauge(
    "model_info",
    "The model served: always 1; its identity is in the labels.",
    ("model", "version", "artifacts_sha256", "nb2svc_version"),
    registry=REGISTRY,
    multiprocess_mode="livemax",
)
ARTIFACT_INFO = Gauge(
    "model_artifact_info",
    "The artifacts packaged with the model: always 1, one series per file.",
    ("artifact", "sha256"),
    registry=REGISTRY,
    multiprocess_mode="livemax",
)
DRIFT_PSI = Gauge(
    "model_drift_psi",
    "Population stability index of the recent window against the reference profile.",
    DRIFT_LABELS,
    registry=REGISTRY,
    multiprocess_mode="livemax",
)
DRIFT_KS = Gauge(
    "model_drift_ks_statistic",
    "Kolmogorov-Smirnov statistic of a numeric feature against the reference.",
    DRIFT_LABELS,
    registry=REGISTRY,
    multiprocess_mode="livemax",
)
DRIFT_KS_PVALUE = Gauge(
    "model_drift_ks_pvalue",
    "p-value of the Kolmogorov-Smirnov test (small: the distributions differ).",
    DRIFT_LABELS,
    registry=REGISTRY,
    multiprocess_mode="livemin",
)
DRIFT_DETECTED = Gauge(
    "model_drift_detected",
    "1 while the PSI is at or above the drift threshold, else 0.",
    DRIFT_LABELS,
    registry=REGISTRY,
    multiprocess_mode="livemax",
)
DRIFT_WINDOW_ROWS = Gauge(
    "model_drift_window_rows",
    "Rows in the drift window when it was last read or measured.",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)


def exposition() -> bytes:
    """The metrics in Prometheus' text format: of every worker in multiprocess mode."""
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


# --- the window of recent requests ----------------------------------------------------


class Window:
    """The most recent scored inputs and their responses, at least ``size`` rows.

    Requests are kept as they arrived (validated bodies and response bytes): adding
    one is an append under a lock; turning them into rows waits for a measurement.
    Memory is bounded: requests older than the newest ``size`` rows are dropped.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: deque[tuple[list[Any], bytes, bool, int]] = deque()
        self._rows = 0
        self._lock = threading.Lock()
        self.version = 0  # bumped by every add

    def add(self, items: list[Any], content: bytes, batch: bool, rows: int) -> None:
        with self._lock:
            entries = self._entries
            entries.append((items, content, batch, rows))
            self._rows += rows
            self.version += 1
            while self._rows - entries[0][3] >= self.size:
                self._rows -= entries.popleft()[3]

    def snapshot(self) -> tuple[int, list[tuple[list[Any], bytes, bool, int]]]:
        with self._lock:
            return self.version, list(self._entries)

    @property
    def rows(self) -> int:
        return self._rows


def _plain(value: Any) -> Any:
    """A validated body as plain JSON values (models by their field aliases)."""
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(by_alias=True, mode="json")
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def window_rows(
    entries: list[tuple[list[Any], bytes, bool, int]], size: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The newest ``size`` input rows and prediction rows of the window's requests."""
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    for items, content, batch, _ in entries:
        responses = json.loads(content)
        if not batch:
            responses = [responses]
        if not isinstance(responses, list) or len(responses) != len(items):
            continue
        for item, response in zip(items, responses, strict=True):
            rows = _profile.input_rows(_plain(item), INPUT_KIND)
            inputs += rows
            outputs += _profile.output_rows(response, len(rows))
    return inputs[-size:], outputs[-size:]


# --- the monitor ------------------------------------------------------------------


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


class Monitor:
    """One per app: what to record, the drift window, and the last drift report."""

    def __init__(self, settings: Settings) -> None:
        self.metrics = settings.monitoring
        self.request_log = settings.access_log
        self.log_features = settings.log_features
        self.threshold = settings.drift_threshold
        self.min_rows = settings.drift_min_rows
        self.interval = settings.drift_interval
        self.model, self.version = model_identity(settings)
        self.window = (
            Window(settings.drift_window)
            if self.metrics and REFERENCE_PROFILE is not None
            else None
        )
        self._profile: dict[str, Any] | None = None
        self._measuring = threading.Lock()
        self._measured: tuple[int, dict[str, Any]] | None = None
        self._drifted: dict[tuple[str, str], bool] = {}
        self._task: asyncio.Task[None] | None = None
        self._paths: frozenset[str] | None = None
        # Each label set's counter and histogram, looked up once: routes, methods
        # (httptools knows a fixed list) and statuses are few.
        self._series: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        if self.metrics:
            MODEL_INFO.labels(
                self.model, self.version, artifacts_sha256(), NB2SVC_VERSION
            ).set(1)
            for name, sha256 in ARTIFACTS.items():
                ARTIFACT_INFO.labels(name, sha256).set(1)

    # The request path: cheap.

    def observe(
        self, request: Request, body: Any, content: bytes, batch: bool = False
    ) -> None:
        """Record a scored request: its validated body and the response's bytes."""
        if self.log_features:
            request.scope.setdefault("state", {})["nb2svc_inputs"] = body
        if not self.metrics:
            return
        items = body if batch else [body]
        rows = sum(len(item) for item in items)
        PREDICTIONS.labels(request.scope["path"]).inc(rows)
        if self.window is not None and rows:
            self.window.add(items, content, batch, rows)

    def record(
        self, scope: Scope, status: int, seconds: float, error: bytes | None
    ) -> None:
        """Count and log one answered request (called by the middleware)."""
        route = self._route(scope)
        method = scope["method"]
        # A probe's 503 is an answer ("not ready yet"), not an error; probes come
        # every few seconds, so their log lines are debug lines.
        probe = route in PROBES
        kind = _error_kind(status, error) if status >= 400 and not probe else None
        if self.metrics:
            labels = (method, route, str(status))
            series = self._series.get(labels)
            if series is None:
                series = (REQUESTS.labels(*labels), LATENCY.labels(*labels))
                self._series[labels] = series
            series[0].inc()
            series[1].observe(seconds)
            if kind is not None:
                ERRORS.labels(kind).inc()
        level = logging.DEBUG if probe else logging.INFO
        if self.request_log and request_logger.isEnabledFor(level):
            state = scope.get("state") or {}
            line: dict[str, Any] = {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "event": "request",
                "request_id": state.get("request_id", ""),
                "method": method,
                "route": route,
                "status": status,
                "latency_ms": round(seconds * 1000, 3),
                "model": self.model,
                "model_version": self.version,
            }
            if kind is not None:
                line["error"] = kind
            if self.log_features and "nb2svc_inputs" in state:
                line["inputs"] = _plain(state["nb2svc_inputs"])
            request_logger.log(level, orjson.dumps(line, default=str).decode())

    def _route(self, scope: Scope) -> str:
        """The route's path template; "unmatched" for paths no route serves."""
        path = getattr(scope.get("route"), "path", None)
        if isinstance(path, str):
            return path
        if self._paths is None:
            routes = getattr(scope.get("app"), "routes", ())
            self._paths = frozenset(getattr(r, "path", "") for r in routes)
        path = scope.get("path", "")
        return path if path in self._paths else "unmatched"

    # Off the request path: drift.

    @property
    def profile(self) -> dict[str, Any] | None:
        if self._profile is None and REFERENCE_PROFILE is not None:
            text = Path(artifact_path(REFERENCE_PROFILE)).read_text(encoding="utf-8")
            self._profile = json.loads(text)
        return self._profile

    def drift(self) -> dict[str, Any]:
        """The drift report of the current window (measured again if it changed)."""
        if self.window is None or self.profile is None:
            return self._no_window()
        with self._measuring:
            version, entries = self.window.snapshot()
            if self._measured is not None and self._measured[0] == version:
                return self._measured[1]
            report = self._measure(entries)
            self._measured = (version, report)
            return report

    def _no_window(self) -> dict[str, Any]:
        if REFERENCE_PROFILE is None:
            return {
                "status": "no_profile",
                "message": "The notebook has no reference cell: there is no reference "
                "profile to compare recent requests with.",
                "reference": None,
            }
        return {
            "status": "disabled",
            "message": "Monitoring is switched off (MONITORING=false).",
            "reference": self._reference(),
        }

    def _reference(self) -> dict[str, Any] | None:
        if REFERENCE_PROFILE is None:
            return None
        profile = self.profile or {}
        return {
            "file": REFERENCE_PROFILE,
            "sha256": ARTIFACTS[REFERENCE_PROFILE],
            "rows": profile.get("rows"),
        }

    def _measure(
        self, entries: list[tuple[list[Any], bytes, bool, int]]
    ) -> dict[str, Any]:
        assert self.window is not None and self.profile is not None
        inputs, outputs = window_rows(entries, self.window.size)
        report: dict[str, Any] = {
            "status": "collecting",
            "threshold": self.threshold,
            "window": {
                "rows": len(inputs),
                "size": self.window.size,
                "min_rows": self.min_rows,
            },
            "reference": self._reference(),
            "worker": os.getpid(),
        }
        DRIFT_WINDOW_ROWS.set(len(inputs))
        if len(inputs) < self.min_rows:
            report["message"] = (
                f"Drift is measured from {self.min_rows} rows; "
                f"the window holds {len(inputs)}."
            )
            return report
        features = self._compare("input", self.profile["features"], inputs)
        predictions = self._compare("prediction", self.profile["predictions"], outputs)
        drifted = {
            "features": sorted(n for n, r in features.items() if r["drifted"]),
            "predictions": sorted(n for n, r in predictions.items() if r["drifted"]),
        }
        report["status"] = "drift" if any(drifted.values()) else "ok"
        report["drifted"] = drifted
        report["features"] = features
        report["predictions"] = predictions
        return report

    def _compare(
        self, source: str, profiles: dict[str, Any], rows: list[dict[str, Any]]
    ) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for name, profile in profiles.items():
            stats = _profile.compare(profile, [row.get(name) for row in rows])
            ks, pvalue = stats["ks_statistic"], None
            if ks is not None:
                pvalue = _profile.ks_pvalue(ks, stats["present"], profile["count"])
            psi = stats["psi"]
            drifted = psi >= self.threshold
            results[name] = {
                "kind": profile["kind"],
                "psi": _rounded(psi),
                "ks_statistic": _rounded(ks),
                "ks_pvalue": _rounded(pvalue),
                "missing_rate": _rounded(stats["missing_rate"]),
                "reference_missing_rate": profile["missing_rate"],
                "drifted": drifted,
            }
            DRIFT_PSI.labels(source, name).set(psi)
            DRIFT_DETECTED.labels(source, name).set(1 if drifted else 0)
            if ks is not None and pvalue is not None:
                DRIFT_KS.labels(source, name).set(ks)
                DRIFT_KS_PVALUE.labels(source, name).set(pvalue)
            self._log_crossing(source, name, psi, drifted, len(rows))
        return results

    def _log_crossing(
        self, source: str, name: str, psi: float, drifted: bool, rows: int
    ) -> None:
        """One warning when a feature's PSI crosses the threshold, one line back."""
        was = self._drifted.get((source, name), False)
        self._drifted[(source, name)] = drifted
        if drifted and not was:
            logger.warning(
                "drift: %s %r has PSI %.3f, at or above the threshold %g "
                "(last %d rows)",
                source,
                name,
                psi,
                self.threshold,
                rows,
            )
        elif was and not drifted:
            logger.info(
                "drift: %s %r is back under the threshold (PSI %.3f)",
                source,
                name,
                psi,
            )

    # The background measurement.

    def start(self) -> None:
        """Measure drift every ``DRIFT_INTERVAL`` seconds (call from the event loop)."""
        if self.window is not None and self.interval > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._every())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if multiprocess_mode():  # this worker's gauges leave the totals
            multiprocess.mark_process_dead(os.getpid())

    async def _every(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.interval)
            try:
                await loop.run_in_executor(None, self.drift)
            except Exception as exc:  # the next round may do better
                logger.error("measuring drift failed: %s", type(exc).__name__)


#: Liveness and readiness probes: logged at debug level, their 503s not errors.
PROBES = frozenset({"/healthz", "/readyz"})


def _error_kind(status: int, body: bytes | None) -> str:
    """The error envelope's code; ``http_<status>`` when the body has none."""
    if body:
        try:
            code = json.loads(body)["error"]["code"]
        except (ValueError, TypeError, KeyError):
            code = None
        if isinstance(code, str) and code:
            return code
    return f"http_{status}"


# --- the middleware ---------------------------------------------------------------


class MonitoringMiddleware:
    """Times every request, counts it by route and status (errors by kind), and logs
    it as one JSON line. Pure ASGI: no body is read, error bodies excepted."""

    def __init__(self, app: ASGIApp, monitor: Monitor) -> None:
        self.app = app
        self.monitor = monitor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        error: bytearray | None = None

        async def send_and_watch(message: Message) -> None:
            nonlocal status, error
            if message["type"] == "http.response.start":
                status = message["status"]
                if status >= 400:
                    error = bytearray()
            elif error is not None and len(error) < MAX_ERROR_BODY:
                error += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        except Exception:
            status, error = 500, bytearray(b'{"error":{"code":"internal_error"}}')
            raise
        finally:
            self.monitor.record(
                scope,
                status,
                time.perf_counter() - started,
                bytes(error) if error is not None else None,
            )


# --- the routes ---------------------------------------------------------------------


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
    reference: dict[str, Any] | None = None
    if REFERENCE_PROFILE is not None and monitor.profile is not None:
        reference = {
            **(monitor._reference() or {}),
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
        "service": {"name": SERVICE, "version": __version__},
        "model": {
            "name": monitor.model,
            "version": monitor.version,
            "artifacts": dict(sorted(ARTIFACTS.items())),
            "artifacts_sha256": artifacts_sha256(),
        },
        "notebook": {"file": NOTEBOOK, "cells_sha256": NOTEBOOK_CELLS_SHA256},
        "nb2svc_version": NB2SVC_VERSION,
        "input_kind": INPUT_KIND,
        "schemas": {
            "input": TypeAdapter(schemas.PredictRequest).json_schema(),
            "output": TypeAdapter(schemas.PredictResponse).json_schema(),
        },
        "reference_profile": reference,
    }


async def metadata(request: Request) -> Response:
    state = request.app.state
    document = getattr(state, "metadata", None)
    if document is None:
        document = state.metadata = json.dumps(metadata_document(_monitor(request)))
    return Response(document.encode(), media_type="application/json")


def install(app: FastAPI, settings: Settings) -> Monitor:
    """Add the monitoring middleware and routes to ``app``; its monitor is returned
    and kept in ``app.state.monitor``."""
    monitor = Monitor(settings)
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
