"""Settings of Fraud Scoring: service options and the notebook's config.

Every field can be set by an environment variable `FRAUD_SCORING_<NAME>`.
"""

from functools import lru_cache

from nb2svc_runtime.settings import ServiceSettings
from nb2svc_runtime.spec import ServiceInfo
from pydantic_settings import SettingsConfigDict

from . import __version__

INFO = ServiceInfo(
    package="fraud_scoring",
    name="fraud-scoring",
    title="Fraud Scoring",
    version=__version__,
    env_prefix="FRAUD_SCORING_",
    notebook="fraud_scoring.ipynb",
    notebook_cells_sha256="5f41522a3296cc4061b86d2fc4891be2fa95e74d6c7e9804753f72e169cbae12",
    nb2svc_version="0.1.0",
)


class Settings(ServiceSettings):
    """The service options (nb2svc_runtime.settings.ServiceSettings) and the notebook's
    config, each read from FRAUD_SCORING_<NAME>; PORT too, below
    FRAUD_SCORING_PORT."""

    model_config = SettingsConfigDict(env_prefix="FRAUD_SCORING_")

    # Notebook config (fraud_scoring.ipynb)
    threshold: float = 0.7
    model_version: str = "2026.11"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
