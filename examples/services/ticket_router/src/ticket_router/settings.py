"""Settings of Ticket Router: service options and the notebook's config.

Every field can be set by an environment variable `TICKET_ROUTER_<NAME>`.
"""

from functools import lru_cache

from nb2svc_runtime.settings import ServiceSettings
from nb2svc_runtime.spec import ServiceInfo
from pydantic_settings import SettingsConfigDict

from . import __version__

INFO = ServiceInfo(
    package="ticket_router",
    name="ticket-router",
    title="Ticket Router",
    version=__version__,
    env_prefix="TICKET_ROUTER_",
    notebook="ticket_router.ipynb",
    notebook_cells_sha256="1df179114a847bf9e3321fe27b96bb539df02cc84bdb95b7a586cc36b1706cda",
    nb2svc_version="0.1.0",
)


class Settings(ServiceSettings):
    """The service options (nb2svc_runtime.settings.ServiceSettings) and the notebook's
    config, each read from TICKET_ROUTER_<NAME>; PORT too, below
    TICKET_ROUTER_PORT."""

    model_config = SettingsConfigDict(env_prefix="TICKET_ROUTER_")

    # Notebook config (ticket_router.ipynb)
    round_digits: int = 4


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
