"""What a generated package tells the runtime about itself: frozen descriptions only.

Light on purpose (no fastapi, no pydantic): the command line imports it before it
knows whether it will serve.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

InputKind = Literal["frame", "record", "string", "array", "json"]


@dataclass(frozen=True)
class ServiceInfo:
    """The service's identity: names, version and where it was generated from."""

    package: str  #: the generated package; also its logger's name
    name: str  #: the distribution and command name
    title: str
    version: str
    env_prefix: str  #: of every setting's environment variable
    notebook: str
    notebook_cells_sha256: str
    nb2svc_version: str

    @property
    def app_path(self) -> str:
        """What uvicorn workers import: ``<package>.app:app``."""
        return f"{self.package}.app:app"


@dataclass(frozen=True)
class IOSpec:
    """The notebook's input and output shape."""

    kind: InputKind
    #: The build saw one pipeline call on the examples combined (a frame, a 2-D array,
    #: a list of texts or of records) answer the per-item outputs: a batch is one call
    #: (and, for frames, concurrent /predict requests are micro-batched).
    vectorised_batch: bool = False


@dataclass(frozen=True)
class ModelSpec:
    """The notebook config naming the model and its version, and the drift profile."""

    name_setting: str | None = None
    version_setting: str | None = None
    #: The reference profile's artifact name; None without a reference cell.
    reference_profile: str | None = None


@dataclass(frozen=True)
class Schemas:
    """The request and response models, their examples, and the body-to-input step."""

    request: Any
    response: Any
    example_request: Any
    example_response: Any
    to_raw: Callable[[Any], Any]
    #: A table's columns and their dtypes; None for other inputs.
    dtypes: Mapping[str, str] | None = None


class Pipeline(Protocol):
    """The generated ``pipeline`` module satisfies it structurally."""

    def load_resources(self) -> None: ...

    def score(self, raw: Any) -> Any: ...

    def score_batch(self, raws: list[Any]) -> list[Any]: ...


class Extensions(Protocol):
    """The package's ``extensions`` module: hooks called at fixed moments."""

    def configure(self, app: Any) -> None: ...

    async def on_startup(self, app: Any) -> None: ...

    async def on_shutdown(self, app: Any) -> None: ...
