"""A registry that can't be asked: ``resolve_version`` says so (not "no such alias"),
names the registry without its credentials, which MLflow's own message repeats.
The registry is a loopback port nothing listens on."""

from __future__ import annotations

import socket

import pytest

from nb2svc_runtime.registry import RegistryError, resolve_version


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_unreachable_registry_is_named_without_its_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    port = closed_port()
    with pytest.raises(RegistryError) as caught:
        resolve_version(
            "models:/fraud@champion", f"http://scorer:s3cret@127.0.0.1:{port}"
        )
    message = str(caught.value)
    assert message.startswith(
        f"models:/fraud@champion: asking the registry at http://127.0.0.1:{port} failed"
    )
    assert "has no alias" not in message
    assert "s3cret" not in message and "scorer" not in message
