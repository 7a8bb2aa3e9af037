"""The HTTP API of the Ticket Router service.

Generated from ticket_router.ipynb by nb2svc 0.1.0.
Edit the notebook and regenerate rather than editing this file.

The runtime (nb2svc_runtime.app.create_app) serves the notebook's pipeline with these
schemas: guards, error envelope, probes, monitoring, micro-batching, offline docs;
extensions.py adds to it.
"""

from fastapi import FastAPI
from nb2svc_runtime.app import create_app as create_service_app
from nb2svc_runtime.spec import IOSpec, ModelSpec

from . import extensions, pipeline
from ._artifacts import ARTIFACTS
from .schemas import SCHEMAS
from .settings import INFO, Settings, get_settings

IO = IOSpec(kind="string", vectorised_batch=False)
MODEL = ModelSpec()


def create_app(settings: Settings) -> FastAPI:
    return create_service_app(
        INFO,
        settings,
        pipeline=pipeline,
        schemas=SCHEMAS,
        io=IO,
        model=MODEL,
        artifacts=ARTIFACTS,
        extensions=extensions,
    )


app = create_app(get_settings())
