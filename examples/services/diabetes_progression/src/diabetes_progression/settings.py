"""Settings of Diabetes Progression: service options and the notebook's config.

Every field can be set by an environment variable `DIABETES_PROGRESSION_<NAME>`.
"""

from functools import lru_cache

from nb2svc_runtime.settings import ServiceSettings
from nb2svc_runtime.spec import ServiceInfo
from pydantic_settings import SettingsConfigDict

from . import __version__

INFO = ServiceInfo(
    package="diabetes_progression",
    name="diabetes-progression",
    title="Diabetes Progression",
    version=__version__,
    env_prefix="DIABETES_PROGRESSION_",
    notebook="diabetes_progression.ipynb",
    notebook_cells_sha256="bbb6509741f6a1789626b74094a9b5d87e26daa3e458eb761dd13aa63532a198",
    nb2svc_version="0.1.0",
)


class Settings(ServiceSettings):
    """The service options (nb2svc_runtime.settings.ServiceSettings) and the notebook's
    config, each read from DIABETES_PROGRESSION_<NAME>; PORT too, below
    DIABETES_PROGRESSION_PORT."""

    model_config = SettingsConfigDict(env_prefix="DIABETES_PROGRESSION_")

    # Notebook config (diabetes_progression.ipynb)
    high_risk: float = 200.0


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
