"""Tests every generated service runs against itself: ``ServiceContract``.

A generated package's ``tests/test_service.py`` subclasses :class:`ServiceContract`
and its ``conftest.py`` provides the ``service`` fixture (a :class:`ServiceUnderTest`),
so each service checks the runtime's guarantees with its own schema, examples and
settings, in the runtime version it pins: the guards (413 declared and chunked, 415,
nesting, API key, request id), the error envelope, readiness, the prediction lane and
monitoring. The class has no ``Test`` prefix: pytest collects it only in a subclass.

Imports pytest: for test code only.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .artifacts import Artifacts
from .monitoring import Window, artifacts_sha256
from .spec import IOSpec, ModelSpec, Schemas, ServiceInfo

REL_TOL = 1e-6
ABS_TOL = 1e-9
SECRET = "nb2svc-secret-value"


@dataclass(frozen=True)
class ServiceUnderTest:
    """A generated package, as its tests see it."""

    info: ServiceInfo
    create_app: Callable[[Any], FastAPI]
    settings: Callable[..., Any]
    pipeline: Any
    schemas: Schemas
    io: IOSpec
    model: ModelSpec
    artifacts: Artifacts
    golden_file: Path

    @contextmanager
    def serving(self, **settings: Any) -> Iterator[TestClient]:
        """A ready client of an app created with these settings (defaults otherwise)."""
        with TestClient(self.create_app(self.settings(**settings))) as client:
            wait_until_ready(client)
            yield client

    def golden_examples(self) -> list[dict[str, Any]]:
        return load_golden_examples(self.golden_file)


def load_golden_examples(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as file:
        examples: list[dict[str, Any]] = json.load(file)["examples"]
    return examples


def parametrize_golden(metafunc: pytest.Metafunc, path: Path) -> None:
    """``golden_example``: one test per example captured from the notebook."""
    if "golden_example" in metafunc.fixturenames:
        examples = load_golden_examples(path)
        metafunc.parametrize(
            "golden_example",
            examples,
            ids=[f"example-{index}" for index in range(len(examples))],
        )


def assert_json_close(actual: Any, expected: Any, path: str = "$") -> None:
    """Assert two JSON values are equal, floats within REL_TOL / ABS_TOL.

    Strings, integers, booleans and null must match exactly, objects must have the
    same keys and arrays the same length; ``path`` names the value that differs.
    """
    if isinstance(expected, float):
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            raise AssertionError(f"{path}: expected a number, got {actual!r}")
        if math.isnan(expected) and math.isnan(actual):
            return
        if not math.isclose(actual, expected, rel_tol=REL_TOL, abs_tol=ABS_TOL):
            raise AssertionError(f"{path}: expected {expected!r}, got {actual!r}")
    elif isinstance(expected, dict):
        if not isinstance(actual, dict):
            raise AssertionError(f"{path}: expected an object, got {actual!r}")
        if sorted(actual) != sorted(expected):
            raise AssertionError(
                f"{path}: expected keys {sorted(expected)}, got {sorted(actual)}"
            )
        for key, value in expected.items():
            assert_json_close(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, list):
        _assert_list_close(actual, expected, path)
    elif expected is None or isinstance(expected, bool | int | str):
        # type() keeps 1 from matching True or 1.0.
        if type(actual) is not type(expected) or actual != expected:
            raise AssertionError(f"{path}: expected {expected!r}, got {actual!r}")
    else:
        raise TypeError(f"{path}: not a JSON value: {expected!r}")


def _assert_list_close(actual: Any, expected: list[Any], path: str) -> None:
    if not isinstance(actual, list):
        raise AssertionError(f"{path}: expected an array, got {actual!r}")
    if len(actual) != len(expected):
        raise AssertionError(
            f"{path}: expected {len(expected)} items, got {len(actual)}"
        )
    for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
        assert_json_close(got, want, f"{path}[{index}]")


def wait_until_ready(client: TestClient, seconds: float = 60.0) -> None:
    """The model loads in the background: /readyz says when it is done."""
    deadline = time.monotonic() + seconds
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the service was not ready in time"
        time.sleep(0.05)


def post_json(client: TestClient, path: str, value: Any, **headers: str) -> Any:
    # json= would send no body at all for None, a valid input for some services.
    return client.post(
        path,
        content=json.dumps(value).encode(),
        headers={"Content-Type": "application/json", **headers},
    )


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the error envelope with this status and code."""
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


def sample(text: str, name: str, **labels: str) -> float:
    """One sample of a metric in Prometheus' text format (0 when absent)."""
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if match and match.group(1) == name:
            have = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
            if all(have.get(k) == v for k, v in labels.items()):
                return float(match.group(3))
    return 0.0


def predict(client: TestClient, value: Any) -> Any:
    response = post_json(client, "/predict", value)
    assert response.status_code == 200, response.text
    return response.json()


def wrong_type_body(io: IOSpec) -> Any:
    """A body of the wrong type for this service's request; None for any JSON."""
    if io.kind == "json":
        return None
    return 987654321 if io.kind == "string" else "nb2svc-not-a-valid-request"


class ServiceContract:
    """The runtime's guarantees, checked on the service the ``service`` fixture gives.

    Subclass it as ``class TestService(ServiceContract): pass``.
    """

    @pytest.fixture(scope="class")
    @classmethod
    def client(cls, service: ServiceUnderTest) -> Iterator[TestClient]:
        with service.serving() as test_client:  # runs the lifespan: loads the model
            yield test_client

    # Probes, the envelope, the request id.

    def test_healthz(self, client: TestClient) -> None:
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    def test_readyz(self, client: TestClient) -> None:
        response = client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ready"}

    def test_request_id_is_echoed(self, client: TestClient) -> None:
        response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        assert response.headers["X-Request-ID"] == "abc-123"

    def test_request_id_is_generated(self, client: TestClient) -> None:
        first = client.get("/healthz").headers["X-Request-ID"]
        second = client.get("/healthz").headers["X-Request-ID"]
        assert len(first) == 32
        assert first != second

    def test_unknown_route_uses_error_envelope(self, client: TestClient) -> None:
        assert_error(client.get("/nb2svc-no-such-route"), 404, "not_found")

    def test_predict_is_503_until_loaded(self, client: TestClient) -> None:
        # Set and restored by hand: app.state keeps attributes in a dict of its own,
        # which pytest's monkeypatch would delete rather than restore.
        app: Any = client.app
        app.state.ready = False
        try:
            assert client.get("/readyz").status_code == 503
            assert client.get("/healthz").status_code == 200
            assert_error(post_json(client, "/predict/batch", []), 503, "not_ready")
        finally:
            app.state.ready = True

    # Request bodies.

    def test_empty_batch_is_an_empty_list(self, client: TestClient) -> None:
        response = post_json(client, "/predict/batch", [])
        assert response.status_code == 200, response.text
        assert response.json() == []

    def test_malformed_json_is_422_with_error_envelope(
        self, client: TestClient
    ) -> None:
        response = client.post(
            "/predict",
            content=b'{"' + SECRET.encode() + b'": ',
            headers={"Content-Type": "application/json"},
        )
        error = assert_error(response, 422, "invalid_request")
        assert error["details"]
        assert SECRET not in response.text

    def test_non_json_body_is_415(self, client: TestClient) -> None:
        response = client.post(
            "/predict", content=b"nb2svc", headers={"Content-Type": "text/plain"}
        )
        assert_error(response, 415, "unsupported_media_type")

    def test_a_split_table_answers_what_json_answers(
        self, client: TestClient, service: ServiceUnderTest
    ) -> None:
        """The notebook's example as pandas' split JSON, where a request is a table
        (``/predict`` of a frame, ``/predict/batch`` of records or arrays)."""
        from .columnar import SPLIT_JSON, split_table

        lane = client.app.state.columnar  # type: ignore[attr-defined]
        headers = {"Content-Type": SPLIT_JSON}
        if lane.table_batch is None:  # strings, JSON: no table to send
            response = client.post("/predict", content=b"{}", headers=headers)
            assert_error(response, 415, "unsupported_media_type")
            return
        example = service.schemas.example_request
        rows = [example] if lane.table_batch else example
        path = "/predict/batch" if lane.table_batch else "/predict"
        labels = lane.schema.labels if lane.schema is not None else None
        body = json.dumps(split_table(rows, labels)).encode()
        response = client.post(path, content=body, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json() == post_json(client, path, rows).json()

    def test_wrong_body_is_422_without_echo(
        self, client: TestClient, service: ServiceUnderTest
    ) -> None:
        body = wrong_type_body(service.io)
        if body is None:
            pytest.skip("the schema takes any JSON value")
        error = assert_error(
            post_json(client, "/predict", body), 422, "invalid_request"
        )
        assert error["details"]
        for detail in error["details"]:
            assert set(detail) == {"loc", "msg", "type"}
        assert str(body) not in json.dumps(error)

    @pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
    def test_non_finite_numbers_are_422_naming_the_field(
        self, client: TestClient, service: ServiceUnderTest, literal: str
    ) -> None:
        example = service.schemas.example_request
        path = first_number_path(example)
        if path is None:
            pytest.skip("the notebook's example holds no floating-point number")
        body = json.dumps(replaced(example, path, math.pi))
        response = client.post(
            "/predict",
            content=body.replace(repr(math.pi), literal).encode(),
            headers={"Content-Type": "application/json"},
        )
        if service.io.kind == "json":
            # The schema takes any JSON value: the notebook's code decides.
            assert response.status_code != 422 or "finite" not in response.text
            return
        error = assert_error(response, 422, "invalid_request")
        assert {
            "loc": ["body", *path],
            "msg": "Input should be a finite number",
            "type": "finite_number",
        } in error["details"]

    def test_deep_nesting_is_422(self, client: TestClient) -> None:
        body = b"[" * 40 + b"]" * 40
        response = client.post(
            "/predict", content=body, headers={"Content-Type": "application/json"}
        )
        error = assert_error(response, 422, "invalid_request")
        assert "nests deeper" in error["message"]

    def test_a_trailing_slash_is_not_redirected(
        self, client: TestClient, service: ServiceUnderTest
    ) -> None:
        response = client.post(
            "/predict/",
            content=json.dumps(service.schemas.example_request).encode(),
            headers={"Content-Type": "application/json", "Host": "attacker.example"},
            follow_redirects=False,
        )
        assert_error(response, 404, "not_found")
        assert "location" not in response.headers

    # Limits and the API key.

    def test_body_over_the_limit_is_413(self, service: ServiceUnderTest) -> None:
        body = json.dumps(service.schemas.example_request).encode()
        json_type = {"Content-Type": "application/json"}
        with service.serving(max_body_bytes=len(body) + 2) as limited:
            ok = limited.post("/predict", content=body, headers=json_type)
            assert ok.status_code != 413, ok.text
            too_big = body + b" " * 3
            response = limited.post("/predict", content=too_big, headers=json_type)
            assert_error(response, 413, "payload_too_large")

            def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
                yield too_big[:10]
                yield too_big[10:]

            chunked = limited.post("/predict", content=chunks(), headers=json_type)
            assert_error(chunked, 413, "payload_too_large")

    def test_too_many_rows_is_413(self, service: ServiceUnderTest) -> None:
        with service.serving(max_batch_rows=1) as limited:
            two = [service.schemas.example_request] * 2
            response = post_json(limited, "/predict/batch", two)
            assert_error(response, 413, "too_many_rows")

    def test_api_key_is_required_when_set(self, service: ServiceUnderTest) -> None:
        example = service.schemas.example_request
        with service.serving(api_key="nb2svc-test-key") as secured:
            response = post_json(secured, "/predict", example)
            assert_error(response, 401, "unauthorized")
            wrong = {"Authorization": "Bearer nb2svc-wrong-key"}
            response = post_json(secured, "/predict", example, **wrong)
            assert_error(response, 401, "unauthorized")
            for good in (
                {"Authorization": "Bearer nb2svc-test-key"},
                {"X-API-Key": "nb2svc-test-key"},
            ):
                response = post_json(secured, "/predict", example, **good)
                assert response.status_code == 200, response.text
            assert secured.get("/healthz").status_code == 200
            assert secured.get("/readyz").status_code == 200

    @pytest.mark.parametrize("key", ["", "  "])
    def test_a_blank_api_key_is_invalid(
        self, service: ServiceUnderTest, key: str
    ) -> None:
        with pytest.raises(ValueError, match="is empty"):
            service.settings(api_key=key)

    def test_monitoring_is_behind_the_key_unless_waived(
        self, service: ServiceUnderTest
    ) -> None:
        with service.serving(api_key=SECRET) as secured:
            assert_error(secured.get("/metadata"), 401, "unauthorized")
            answer = secured.get("/metadata", headers={"X-API-Key": SECRET})
            assert answer.status_code == 200
        with service.serving(api_key=SECRET, public_monitoring=True) as waived:
            assert waived.get("/metadata").status_code == 200
            response = post_json(waived, "/predict", service.schemas.example_request)
            assert_error(response, 401, "unauthorized")

    # The notebook's code failing, the prediction lane, docs.

    def test_failure_in_notebook_code_is_500_without_leaks(
        self,
        client: TestClient,
        service: ServiceUnderTest,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        def broken(raw: Any) -> Any:
            raise ValueError(f"{SECRET} in /secret/path.py")

        monkeypatch.setattr(service.pipeline, "score", broken)
        request_id = {"X-Request-ID": "req-500"}
        with caplog.at_level(logging.INFO):
            example = service.schemas.example_request
            response = post_json(client, "/predict", example, **request_id)
        error = assert_error(response, 500, "prediction_failed")
        assert error["request_id"] == "req-500"
        assert SECRET not in response.text
        assert "/secret" not in response.text
        assert "ValueError" in caplog.text
        assert "req-500" in caplog.text
        assert SECRET not in caplog.text
        assert "Traceback" not in caplog.text
        errors = [r for r in caplog.records if "prediction failed" in r.getMessage()]
        assert [r.name for r in errors] == [service.info.package]  # operators' filter

    def test_predictions_pass_every_middleware_but_not_the_router(
        self, service: ServiceUnderTest
    ) -> None:
        """PredictionLane: a route put first in the router's way never sees a
        prediction, but every middleware does, one that an extension adds included,
        and an error is still the envelope. Under a root path a prediction takes the
        router's way."""
        example = service.golden_examples()[0]
        seen: list[str] = []

        class Extension:  # what extensions.configure may add
            def __init__(self, app: ASGIApp) -> None:
                self.app = app

            async def __call__(
                self, scope: Scope, receive: Receive, send: Send
            ) -> None:
                if scope["type"] == "http":
                    seen.append(scope["path"])
                await self.app(scope, receive, send)

        async def the_router(request: Request) -> Response:
            return PlainTextResponse("the router")

        app = service.create_app(service.settings())
        app.add_middleware(Extension)
        app.router.routes.insert(0, Route("/predict", the_router, methods=["POST"]))
        with TestClient(app) as direct:
            wait_until_ready(direct)
            response = post_json(direct, "/predict", example["input"])
            assert response.status_code == 200, response.text
            assert_json_close(response.json(), example["output"])
            assert seen[-1] == "/predict"
            csv = {"Content-Type": "text/csv"}
            response = post_json(direct, "/predict", [], **csv)
            assert_error(response, 415, "unsupported_media_type")
        with TestClient(app, root_path="/api") as mounted:
            wait_until_ready(mounted)
            assert post_json(mounted, "/predict", example["input"]).text == "the router"

    def test_docs_load_nothing_from_elsewhere(self, client: TestClient) -> None:
        """/docs and /redoc link only to the service's own assets, which it serves,
        and forbid the browser anything else (ReDoc would load a CDN logo)."""
        for page in ("/docs", "/redoc"):
            response = client.get(page)
            assert response.status_code == 200
            assert "default-src 'self'" in response.headers["content-security-policy"]
            pattern = r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)"""
            links = re.findall(pattern, response.text)
            assert links and all(link.startswith("/") for link in links), links
            for link in links:
                assert client.get(link).status_code == 200, link
            assert "//" not in response.text  # no absolute or scheme-relative URL

    def test_openapi_documents_the_routes(
        self, client: TestClient, service: ServiceUnderTest
    ) -> None:
        spec = client.get("/openapi.json").json()
        assert {"/predict", "/predict/batch", "/healthz", "/readyz"} <= set(
            spec["paths"]
        )
        body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
        example = body["application/json"]["examples"]["notebook"]["value"]
        assert example == service.schemas.example_request

    # Monitoring.

    def test_metrics_count_requests_predictions_and_errors(
        self, service: ServiceUnderTest
    ) -> None:
        ok = {"method": "POST", "route": "/predict", "status": "200"}
        with service.serving(drift_interval=0) as client:
            before = client.get("/metrics").text
            predict(client, service.schemas.example_request)
            json_type = {"Content-Type": "application/json"}
            client.post("/predict", content=b"{", headers=json_type)
            after = client.get("/metrics")
        assert after.headers["content-type"].startswith("text/plain")
        text = after.text
        for name in ("http_requests_total", "http_request_duration_seconds_count"):
            assert sample(text, name, **ok) == sample(before, name, **ok) + 1
        predictions = "model_predictions_total"
        assert sample(text, predictions, route="/predict") > sample(
            before, predictions, route="/predict"
        )
        invalid = {"kind": "invalid_request"}
        errors = "service_errors_total"
        assert sample(text, errors, **invalid) == sample(before, errors, **invalid) + 1
        fingerprint = artifacts_sha256(service.artifacts)
        assert sample(text, "model_info", artifacts_sha256=fingerprint) == 1

    def test_drift_window_is_bounded(self) -> None:
        window = Window(10)
        for _ in range(1000):
            window.add([object()], b"null", False, 3)
        _, entries = window.snapshot()
        assert 10 <= window.rows <= 12
        assert len(entries) == 4

    def _access_lines(
        self,
        service: ServiceUnderTest,
        caplog: pytest.LogCaptureFixture,
        **settings: Any,
    ) -> list[dict[str, Any]]:
        access = f"{service.info.package}.access"
        with (
            caplog.at_level(logging.INFO, logger=access),
            service.serving(**settings) as client,
        ):
            predict(client, service.schemas.example_request)
        lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == access]
        return [line for line in lines if line["route"] == "/predict"]

    def test_request_log_is_one_json_line_without_values(
        self, service: ServiceUnderTest, caplog: pytest.LogCaptureFixture
    ) -> None:
        (line,) = self._access_lines(service, caplog)
        assert line["status"] == 200 and line["latency_ms"] >= 0
        assert line["request_id"] and line["model_version"]
        assert "inputs" not in line

    def test_request_values_are_logged_only_when_allowed(
        self, service: ServiceUnderTest, caplog: pytest.LogCaptureFixture
    ) -> None:
        (line,) = self._access_lines(service, caplog, log_features=True)
        assert line["inputs"] == service.schemas.example_request

    def test_probes_while_not_ready_are_not_errors(
        self, service: ServiceUnderTest, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A 503 from /readyz means "not yet", not an error: no error count, no
        info line."""
        access = f"{service.info.package}.access"
        with caplog.at_level(logging.INFO, logger=access), service.serving() as client:
            before = client.get("/metrics").text
            app: Any = client.app
            app.state.ready = False  # as while the model loads
            try:
                assert client.get("/readyz").status_code == 503
            finally:
                app.state.ready = True
            text = client.get("/metrics").text
        probes = [
            r
            for r in caplog.records
            if r.name == access and "/readyz" in r.getMessage()
        ]
        assert probes == []
        unready = {"kind": "http_503"}
        errors = "service_errors_total"
        assert sample(text, errors, **unready) == sample(before, errors, **unready)
        readyz = {"method": "GET", "route": "/readyz", "status": "503"}
        requests = "http_requests_total"
        assert (
            sample(text, requests, **readyz) == sample(before, requests, **readyz) + 1
        )

    def test_monitoring_can_be_switched_off(self, service: ServiceUnderTest) -> None:
        with service.serving(monitoring=False) as client:
            predict(client, service.schemas.example_request)
            assert client.get("/metrics").status_code == 404
            assert client.get("/monitoring/drift").status_code == 404
            assert client.get("/metadata").status_code == 200


class FrameContract:
    """The checks only a table (``IOSpec.kind == "frame"``) service has: a generated
    service whose input is a DataFrame subclasses it beside ``ServiceContract``.
    """

    def test_the_frame_is_the_one_pandas_builds_from_the_rows(
        self, service: ServiceUnderTest
    ) -> None:
        """to_raw builds the frame from column arrays, for speed: it must be the frame
        the rows give with the notebook's dtypes, the plain pandas way."""
        import pandas as pd

        dtypes = dict(service.schemas.dtypes or {})
        assert dtypes, "a table's Schemas name its columns' dtypes"
        adapter = TypeAdapter(service.schemas.request)
        for example in service.golden_examples():
            rows = example["input"]
            frame = service.schemas.to_raw(adapter.validate_python(rows))
            expected = pd.DataFrame(rows, columns=list(dtypes)).astype(dtypes)
            pd.testing.assert_frame_equal(frame, expected, check_exact=True)
