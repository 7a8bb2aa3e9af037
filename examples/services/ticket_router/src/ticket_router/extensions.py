"""Customisations of the Ticket Router service: yours to edit.

nb2svc created this file once and never overwrites, checks or deletes it, so changes
made here survive every rebuild. Everything else in the package is generated from
ticket_router.ipynb: change the notebook, not those files.

Typical uses: extra routes, request middleware, exception handlers, start-up hooks
(warming a cache, opening a connection pool).
"""

from fastapi import FastAPI


def configure(app: FastAPI) -> None:
    """Called once, when the app is created: add routes, middleware, handlers.

    Example::

        @app.get("/version-info")
        def version_info() -> dict[str, str]:
            return {"team": "fraud-platform"}
    """


async def on_startup(app: FastAPI) -> None:
    """Called at start-up, after the model's artifacts are verified and loaded."""


async def on_shutdown(app: FastAPI) -> None:
    """Called at shutdown, after in-flight requests have drained."""
