"""The monitor: what each answered request records, and drift measured off the path."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from fastapi import Request
from prometheus_client import multiprocess
from starlette.types import Scope

from .. import profile as drift_stats
from ..artifacts import Artifacts
from ..log import logger
from ..spec import IOSpec, ModelSpec, Schemas, ServiceInfo
from .metrics import (
    ARTIFACT_INFO,
    DRIFT_DETECTED,
    DRIFT_KS,
    DRIFT_KS_PVALUE,
    DRIFT_PSI,
    DRIFT_WINDOW_ROWS,
    ERRORS,
    LATENCY,
    MODEL_INFO,
    PREDICTIONS,
    REQUESTS,
    multiprocess_mode,
)
from .window import Window, _plain, window_rows


def artifacts_sha256(artifacts: Artifacts) -> str:
    """One digest of every artifact's name and sha256: the model's fingerprint."""
    digest = hashlib.sha256()
    for name, sha256 in sorted(artifacts.sha256.items()):
        digest.update(f"{name}\0{sha256}\n".encode())
    return digest.hexdigest()


def model_identity(
    settings: Any, info: ServiceInfo, model: ModelSpec
) -> tuple[str, str]:
    """The model's name and version: the notebook's MODEL_NAME and MODEL_VERSION
    config where it has them, else the service's name and version."""
    name = info.name
    if model.name_setting is not None:
        name = str(getattr(settings, model.name_setting))
    version = info.version
    if model.version_setting is not None:
        version = str(getattr(settings, model.version_setting))
    return name, version


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


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


class Monitor:
    """One per app: what to record, the drift window, and the last drift report."""

    def __init__(
        self,
        settings: Any,
        info: ServiceInfo,
        io: IOSpec,
        model: ModelSpec,
        artifacts: Artifacts,
        schemas: Schemas,
    ) -> None:
        self.info, self.model_spec, self.artifacts = info, model, artifacts
        self.schemas, self.input_kind = schemas, io.kind
        self.vectorised_batch = io.vectorised_batch
        self.frames = io.kind == "frame"
        self.reference_file = model.reference_profile
        self.request_logger = logging.getLogger(f"{info.package}.access")
        self.metrics = settings.monitoring
        self.request_log = settings.access_log
        self.log_features = settings.log_features
        self.threshold = settings.drift_threshold
        self.min_rows = settings.drift_min_rows
        self.interval = settings.drift_interval
        self.model, self.version = model_identity(settings, info, model)
        self.window = (
            Window(settings.drift_window)
            if self.metrics and self.reference_file is not None
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
                self.model,
                self.version,
                artifacts_sha256(artifacts),
                info.nb2svc_version,
            ).set(1)
            for name, sha256 in artifacts.sha256.items():
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
        rows = sum(len(item) for item in items) if self.frames else len(items)
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
        if self.request_log and self.request_logger.isEnabledFor(level):
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
            self.request_logger.log(level, orjson.dumps(line, default=str).decode())

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
        if self._profile is None and self.reference_file is not None:
            text = Path(self.artifacts.path(self.reference_file)).read_text(
                encoding="utf-8"
            )
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
        if self.reference_file is None:
            return {
                "status": "no_profile",
                "message": "The notebook has no reference cell: there is no reference "
                "profile to compare recent requests with.",
                "reference": None,
            }
        return {
            "status": "disabled",
            "message": "Monitoring is switched off (MONITORING=false).",
            "reference": self.reference(),
        }

    def reference(self) -> dict[str, Any] | None:
        if self.reference_file is None:
            return None
        profile = self.profile or {}
        return {
            "file": self.reference_file,
            "sha256": self.artifacts.sha256[self.reference_file],
            "rows": profile.get("rows"),
        }

    def _measure(
        self, entries: list[tuple[list[Any], bytes, bool, int]]
    ) -> dict[str, Any]:
        assert self.window is not None and self.profile is not None
        inputs, outputs = window_rows(entries, self.window.size, self.input_kind)
        report: dict[str, Any] = {
            "status": "collecting",
            "threshold": self.threshold,
            "window": {
                "rows": len(inputs),
                "size": self.window.size,
                "min_rows": self.min_rows,
            },
            "reference": self.reference(),
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
            stats = drift_stats.compare(profile, [row.get(name) for row in rows])
            ks, pvalue = stats["ks_statistic"], None
            if ks is not None:
                pvalue = drift_stats.ks_pvalue(ks, stats["present"], profile["count"])
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
