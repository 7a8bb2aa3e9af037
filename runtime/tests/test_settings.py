"""ServiceSettings: the prefixed variable wins, PORT (container platforms) comes next."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from nb2svc_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NB2SVC_T_")
    model_version: str = "1"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "NB2SVC_T_PORT", "NB2SVC_T_MODEL_VERSION", "NB2SVC_T_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_port_defaults_to_8000() -> None:
    assert Settings().port == 8000


def test_port_from_the_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9000")
    assert Settings().port == 9000


def test_the_prefixed_port_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("NB2SVC_T_PORT", "9001")
    assert Settings().port == 9001
    assert Settings(port=5).port == 5


def test_notebook_config_and_service_options_share_the_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NB2SVC_T_MODEL_VERSION", "7")
    assert Settings().model_version == "7"
    assert Settings().max_batch_rows == 1000


def test_an_invalid_platform_port_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "0")
    with pytest.raises(ValidationError, match="port"):
        Settings()


@pytest.mark.parametrize("key", ["", "  "])
def test_a_blank_api_key_is_refused(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("NB2SVC_T_API_KEY", key)
    with pytest.raises(ValidationError, match="is empty"):
        Settings()
