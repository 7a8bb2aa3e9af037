"""The service's Prometheus metrics, in one registry per process.

With several worker processes (``serve`` sets ``PROMETHEUS_MULTIPROC_DIR``),
prometheus-client's multiprocess mode adds up their counts.
"""

from __future__ import annotations

import os

from prometheus_client import (
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

#: Set by ``serve`` when there are several workers: their metrics are added up.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


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
