"""ServiceSettings: every service option, read from ``<PREFIX><NAME>`` variables.

A generated package subclasses it, sets ``env_prefix`` and adds its notebook's config.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)


class PlatformPort(PydanticBaseSettingsSource):
    """``PORT``, what container platforms set: below ``<PREFIX>PORT``, above 8000."""

    def get_field_value(
        self, field: FieldInfo, field_name: str
    ) -> tuple[Any, str, bool]:
        return os.environ.get("PORT"), "PORT", False

    def __call__(self) -> dict[str, Any]:
        port = os.environ.get("PORT")
        return {} if port is None else {"port": port}


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    # Service
    host: str = "127.0.0.1"
    #: <PREFIX>PORT, else PORT (what container platforms set), else 8000.
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    #: Worker processes; 0 means one per CPU available to the process.
    workers: Annotated[int, Field(ge=0)] = 0
    #: Threads per worker that run the notebook's code.
    threads: Annotated[int, Field(ge=1)] = 1
    #: Threads per worker for native libraries (OpenMP, BLAS); 0 leaves them be.
    native_threads: Annotated[int, Field(ge=0)] = 1
    #: Score rows of concurrent /predict requests in one pipeline call, when the
    #: notebook's output has one item per input row.
    micro_batch: bool = True
    log_level: str = "info"
    access_log: bool = True
    #: Log exception messages and tracebacks, which may contain input values.
    debug_errors: bool = False
    #: When set, every route but /healthz and /readyz needs this key; an empty or
    #: blank key is refused at start-up rather than taken as no key.
    api_key: SecretStr | None = None
    #: Serve without an API key on an interface other than loopback (e.g. behind a
    #: gateway that authenticates); without it, serve refuses to start so.
    allow_unauthenticated: bool = False
    #: /metrics, /metadata and /monitoring/* without the API key (a private network).
    public_monitoring: bool = False

    # Limits, per worker process
    #: Longest request line (method, path with query, version) in bytes (414).
    max_request_line: Annotated[int, Field(ge=256)] = 8192
    #: Largest request headers, every header line counted (431).
    max_header_bytes: Annotated[int, Field(ge=1024)] = 65536
    #: Most header fields in one request (431).
    max_headers: Annotated[int, Field(ge=10)] = 100
    max_body_bytes: Annotated[int, Field(ge=1)] = 1_048_576
    max_batch_rows: Annotated[int, Field(ge=1)] = 1000
    max_json_depth: Annotated[int, Field(ge=1)] = 32
    max_concurrency: Annotated[int, Field(ge=1)] = 64
    request_timeout: Annotated[float, Field(gt=0)] = 30.0
    #: Seconds to receive a request's headers, and again its body (408).
    receive_timeout: Annotated[float, Field(gt=0)] = 10.0
    drain_seconds: Annotated[float, Field(ge=0)] = 5.0
    shutdown_timeout: Annotated[float, Field(gt=0)] = 20.0

    # Monitoring
    #: Prometheus metrics at /metrics, and drift detection: false switches both off.
    monitoring: bool = True
    #: Recent input rows (and their predictions) kept per worker to measure drift.
    drift_window: Annotated[int, Field(ge=10)] = 1000
    #: Drift is measured once the window holds at least this many rows.
    drift_min_rows: Annotated[int, Field(ge=1)] = 100
    #: A feature has drifted when its PSI reaches this (0.1 moderate, 0.2 large).
    drift_threshold: Annotated[float, Field(gt=0)] = 0.2
    #: Seconds between drift measurements in the background; 0: only when read.
    drift_interval: Annotated[float, Field(ge=0)] = 30.0
    #: Put the request's input values in its log line (they may be personal data).
    log_features: bool = False

    @field_validator("api_key")
    @classmethod
    def _key_not_blank(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and not key.get_secret_value().strip():
            raise ValueError(
                "is empty: set a key, or unset the variable to serve without one"
            )
        return key

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        platform = PlatformPort(settings_cls)
        return (
            init_settings,
            env_settings,
            platform,
            dotenv_settings,
            file_secret_settings,
        )
