"""Scoring files with a generated service's pipeline: ``python -m <package> score``.

CSV, Parquet and JSON lines, streamed in chunks, on this machine (``--engine local``),
a Dask cluster (``--engine dask``) or Spark (``--engine spark``). Each row is validated
by the service's request schema and built into the notebook's input exactly as the
service builds a request, so a file's rows get the answers the service would give.

The public entry point is :func:`nb2svc_runtime.scoring.cli.main`; the generated
``__main__`` dispatches the ``score`` command to it.
"""

from __future__ import annotations

from .core import RowScorer, ScoringSpec

__all__ = ["RowScorer", "ScoringSpec"]
