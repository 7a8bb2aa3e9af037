"""Monitoring of a service: metrics, drift, lineage, request log.

- ``GET /metrics``: Prometheus metrics (requests and latency by route and status,
  predictions, errors by kind, the model's identity, drift). With several worker
  processes, prometheus-client's multiprocess mode adds up their counts.
- ``GET /monitoring/drift``: every worker keeps its most recent input rows and their
  predictions (``DRIFT_WINDOW`` rows) and compares them with the reference profile
  nb2svc built from the notebook's ``reference`` data: the population stability
  index (PSI) of every feature and prediction, plus a Kolmogorov-Smirnov test for
  numeric ones. Measured off the request path: when read, and in the background.
- ``GET /metadata``: what a model registry records about the service.
- One JSON log line per request (logger ``<package>.access``), without the request's
  values unless ``LOG_FEATURES`` allows them.
"""

from __future__ import annotations

from .middleware import MonitoringMiddleware
from .monitor import Monitor, artifacts_sha256, model_identity
from .routes import install, metadata_document
from .window import Window

__all__ = [
    "Monitor",
    "MonitoringMiddleware",
    "Window",
    "artifacts_sha256",
    "install",
    "metadata_document",
    "model_identity",
]
