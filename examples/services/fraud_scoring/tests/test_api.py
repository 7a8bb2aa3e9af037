"""Calls the service with the notebook's golden examples, and checks its guards.

Generated from fraud_scoring.ipynb by nb2svc 0.1.0: edit the notebook and
regenerate rather than editing this file.
"""

import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import pytest
from fastapi import Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from fraud_scoring import pipeline, schemas
from fraud_scoring.app import app, create_app
from fraud_scoring.settings import Settings

JsonClose = Callable[[Any, Any], None]
SECRET = "nb2svc-secret-value"
WRONG_TYPE_BODY: Any = "nb2svc-not-a-valid-request"


def wait_until_ready(client: TestClient, seconds: float = 60.0) -> None:
    """The model loads in the background: /readyz says when it is done."""
    deadline = time.monotonic() + seconds
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the service was not ready in time"
        time.sleep(0.05)


@contextmanager
def serving(**settings: Any) -> Iterator[TestClient]:
    """A ready client of an app created with these settings (the defaults otherwise)."""
    with TestClient(create_app(Settings(**settings))) as test_client:
        wait_until_ready(test_client)
        yield test_client


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(app) as test_client:  # runs the lifespan: loads the model
        wait_until_ready(test_client)
        yield test_client


def post_json(client: TestClient, path: str, value: Any, **headers: str) -> Any:
    # json= would send no body at all for None, a valid input for some services.
    return client.post(
        path,
        content=json.dumps(value).encode(),
        headers={"Content-Type": "application/json", **headers},
    )


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["request_id"] == response.headers["X-Request-ID"]
    return error


def first_number_path(value: Any, path: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    """Where the first float of a JSON value is, as a pydantic error location."""
    if isinstance(value, float):
        return path
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = first_number_path(item, (*path, key))
        if found is not None:
            return found
    return None


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return copy


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_predict_matches_notebook(
    client: TestClient, golden_example: dict[str, Any], json_close: JsonClose
) -> None:
    response = post_json(client, "/predict", golden_example["input"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    json_close(response.json(), golden_example["output"])


def test_predict_batch_matches_notebook(
    client: TestClient, golden_examples: list[dict[str, Any]], json_close: JsonClose
) -> None:
    inputs = [example["input"] for example in golden_examples]
    response = post_json(client, "/predict/batch", inputs)
    assert response.status_code == 200, response.text
    json_close(response.json(), [example["output"] for example in golden_examples])


def test_empty_batch_is_an_empty_list(client: TestClient) -> None:
    response = post_json(client, "/predict/batch", [])
    assert response.status_code == 200, response.text
    assert response.json() == []


def test_malformed_json_is_422_with_error_envelope(client: TestClient) -> None:
    response = client.post(
        "/predict",
        content=b'{"' + SECRET.encode() + b'": ',
        headers={"Content-Type": "application/json"},
    )
    error = assert_error(response, 422, "invalid_request")
    assert error["details"]
    assert SECRET not in response.text


def test_non_json_body_is_415(client: TestClient) -> None:
    response = client.post(
        "/predict", content=b"nb2svc", headers={"Content-Type": "text/plain"}
    )
    assert_error(response, 415, "unsupported_media_type")


def test_wrong_body_is_422_without_echo(client: TestClient) -> None:
    response = post_json(client, "/predict", WRONG_TYPE_BODY)
    error = assert_error(response, 422, "invalid_request")
    assert error["details"]
    for detail in error["details"]:
        assert set(detail) == {"loc", "msg", "type"}
    assert str(WRONG_TYPE_BODY) not in response.text


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_422_naming_the_field(
    client: TestClient, literal: str
) -> None:
    path = first_number_path(schemas.EXAMPLE_REQUEST)
    if path is None:
        pytest.skip("the notebook's example holds no floating-point number")
    body = json.dumps(replaced(schemas.EXAMPLE_REQUEST, path, math.pi))
    response = client.post(
        "/predict",
        content=body.replace(repr(math.pi), literal).encode(),
        headers={"Content-Type": "application/json"},
    )
    error = assert_error(response, 422, "invalid_request")
    assert {
        "loc": ["body", *path],
        "msg": "Input should be a finite number",
        "type": "finite_number",
    } in error["details"]


def test_body_over_the_limit_is_413() -> None:
    body = json.dumps(schemas.EXAMPLE_REQUEST).encode()
    with serving(max_body_bytes=len(body) + 2) as limited:
        ok = limited.post(
            "/predict", content=body, headers={"Content-Type": "application/json"}
        )
        assert ok.status_code != 413, ok.text
        too_big = body + b" " * 3
        response = limited.post(
            "/predict", content=too_big, headers={"Content-Type": "application/json"}
        )
        assert_error(response, 413, "payload_too_large")

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
            yield too_big[:10]
            yield too_big[10:]

        chunked = limited.post(
            "/predict", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert_error(chunked, 413, "payload_too_large")


def test_deep_nesting_is_422(client: TestClient) -> None:
    body = b"[" * 40 + b"]" * 40
    response = client.post(
        "/predict", content=body, headers={"Content-Type": "application/json"}
    )
    error = assert_error(response, 422, "invalid_request")
    assert "nests deeper" in error["message"]


def test_too_many_rows_is_413() -> None:
    with serving(max_batch_rows=1) as limited:
        response = post_json(limited, "/predict/batch", [schemas.EXAMPLE_REQUEST] * 2)
        assert_error(response, 413, "too_many_rows")


def test_api_key_is_required_when_set() -> None:
    with serving(api_key="nb2svc-test-key") as secured:
        assert_error(
            post_json(secured, "/predict", schemas.EXAMPLE_REQUEST),
            401,
            "unauthorized",
        )
        wrong = {"Authorization": "Bearer nb2svc-wrong-key"}
        assert_error(
            post_json(secured, "/predict", schemas.EXAMPLE_REQUEST, **wrong),
            401,
            "unauthorized",
        )
        for good in (
            {"Authorization": "Bearer nb2svc-test-key"},
            {"X-API-Key": "nb2svc-test-key"},
        ):
            response = post_json(secured, "/predict", schemas.EXAMPLE_REQUEST, **good)
            assert response.status_code == 200, response.text
        assert secured.get("/healthz").status_code == 200
        assert secured.get("/readyz").status_code == 200


@pytest.mark.parametrize("key", ["", "  "])
def test_a_blank_api_key_is_invalid(key: str) -> None:
    with pytest.raises(ValueError, match="is empty"):
        Settings(api_key=key)


def test_monitoring_is_behind_the_key_unless_waived() -> None:
    with serving(api_key=SECRET) as secured:
        assert_error(secured.get("/metadata"), 401, "unauthorized")
        assert (
            secured.get("/metadata", headers={"X-API-Key": SECRET}).status_code == 200
        )
    with serving(api_key=SECRET, public_monitoring=True) as waived:
        assert waived.get("/metadata").status_code == 200
        assert_error(
            post_json(waived, "/predict", schemas.EXAMPLE_REQUEST), 401, "unauthorized"
        )


def test_a_trailing_slash_is_not_redirected(client: TestClient) -> None:
    response = client.post(
        "/predict/",
        content=json.dumps(schemas.EXAMPLE_REQUEST).encode(),
        headers={"Content-Type": "application/json", "Host": "attacker.example"},
        follow_redirects=False,
    )
    assert_error(response, 404, "not_found")
    assert "location" not in response.headers


def test_failure_in_notebook_code_is_500_without_leaks(
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(raw: Any) -> Any:
        raise ValueError(f"{SECRET} in /secret/path.py")

    monkeypatch.setattr(pipeline, "score", broken)
    with caplog.at_level(logging.INFO):
        response = post_json(
            client, "/predict", schemas.EXAMPLE_REQUEST, **{"X-Request-ID": "req-500"}
        )
    error = assert_error(response, 500, "prediction_failed")
    assert error["request_id"] == "req-500"
    assert SECRET not in response.text
    assert "/secret" not in response.text
    assert "ValueError" in caplog.text
    assert "req-500" in caplog.text
    assert SECRET not in caplog.text
    assert "Traceback" not in caplog.text


def test_predict_is_503_until_loaded(client: TestClient) -> None:
    # Set and restored by hand: app.state keeps attributes in a dict of its own,
    # which pytest's monkeypatch would delete rather than restore.
    app.state.ready = False
    try:
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200
        assert_error(post_json(client, "/predict/batch", []), 503, "not_ready")
    finally:
        app.state.ready = True


def test_openapi_documents_the_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/predict", "/predict/batch", "/healthz", "/readyz"} <= set(spec["paths"])
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert body["application/json"]["examples"]["notebook"]["value"] == (
        schemas.EXAMPLE_REQUEST
    )


def test_docs_load_nothing_from_elsewhere(client: TestClient) -> None:
    """/docs and /redoc link only to the service's own assets, which it serves, and
    forbid the browser anything else (ReDoc would load a logo from a CDN)."""
    for page in ("/docs", "/redoc"):
        response = client.get(page)
        assert response.status_code == 200
        assert "default-src 'self'" in response.headers["content-security-policy"]
        links = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)""", response.text)
        assert links and all(link.startswith("/") for link in links), links
        for link in links:
            assert client.get(link).status_code == 200, link
        assert "//" not in response.text  # no absolute or scheme-relative URL


def test_predictions_pass_every_middleware_but_not_the_router(
    golden_examples: list[dict[str, Any]], json_close: JsonClose
) -> None:
    """PredictionLane: a route put first in the router's way never sees a prediction,
    but every middleware does, one that an extension adds included, and an error is
    still the envelope. Under a root path a prediction takes the router's way."""
    example = golden_examples[0]
    seen: list[str] = []

    class Extension:  # what extensions.configure may add
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                seen.append(scope["path"])
            await self.app(scope, receive, send)

    async def the_router(request: Request) -> Response:
        return PlainTextResponse("the router")

    service = create_app(Settings())
    service.add_middleware(Extension)
    service.router.routes.insert(0, Route("/predict", the_router, methods=["POST"]))
    with TestClient(service) as direct:
        wait_until_ready(direct)
        response = post_json(direct, "/predict", example["input"])
        assert response.status_code == 200, response.text
        json_close(response.json(), example["output"])
        assert seen[-1] == "/predict"
        assert_error(
            post_json(direct, "/predict", [], **{"Content-Type": "text/csv"}),
            415,
            "unsupported_media_type",
        )
    with TestClient(service, root_path="/api") as mounted:
        wait_until_ready(mounted)
        assert post_json(mounted, "/predict", example["input"]).text == "the router"


def test_the_frame_is_the_one_pandas_builds_from_the_rows(
    golden_examples: list[dict[str, Any]],
) -> None:
    """schemas.to_raw builds the frame with pandas' DataFrame._from_arrays, for speed:
    it must be the frame the rows give with the notebook's dtypes, the public way."""
    adapter = TypeAdapter(schemas.PredictRequest)
    for example in golden_examples:
        rows = example["input"]
        frame = schemas.to_raw(adapter.validate_python(rows))
        columns = list(schemas.DTYPES)
        expected = pd.DataFrame(rows, columns=columns).astype(schemas.DTYPES)
        pd.testing.assert_frame_equal(frame, expected, check_exact=True)


def test_request_id_is_echoed(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"


def test_request_id_is_generated(client: TestClient) -> None:
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert len(first) == 32
    assert first != second


def test_unknown_route_uses_error_envelope(client: TestClient) -> None:
    assert_error(client.get("/nb2svc-no-such-route"), 404, "not_found")
