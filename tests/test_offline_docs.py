"""The generated service's /docs and /redoc work with no network but loopback.

A built service runs under real uvicorn; headless chromium, whose every request off
127.0.0.1 fails (host names resolve to nothing, and anything else goes to a proxy on a
dead port), loads both pages, runs their scripts and must render the prediction
operations. Chromium's network log must show no request off loopback, and no URL in the
HTML the service sends may point elsewhere. With an API key set, the pages, the
OpenAPI document and the assets are behind it like every route but the probes.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.helpers import chromium
from tests.service_support import built_service, serving

pytestmark = pytest.mark.slow

SECRET = "nb2svc-docs-test-0815"
PAGES = ("/docs", "/redoc")
OPERATIONS = ("/predict", "/predict/batch", "Predict one input", "Predict many inputs")
URL = re.compile(r"""(?:https?:)?//[^\s"'<>()\\]+""")


@pytest.fixture(scope="module")
def fraud(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_service(tmp_path_factory, "fraud_scoring")


def dead_port() -> int:
    """A loopback port nothing listens on (bound, never listened, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loopback_only(url: str) -> bool:
    return urlsplit(url).hostname in ("127.0.0.1", None)


def page_requests(netlog: Path) -> list[str]:
    """The URLs chromium's network log shows the page requesting.

    Every request chromium makes carries the traffic annotation of the feature making
    it. The page's own requests (navigation, scripts, styles, images, fetches, icon)
    are those made under an annotation that also loaded something from the service;
    the browser's own background requests (component updates, clock) use others.
    """
    requests = [
        (params["url"], params["traffic_annotation"])
        for event in json.loads(netlog.read_text())["events"]
        if isinstance(params := event.get("params"), dict)
        and "url" in params
        and "traffic_annotation" in params
    ]
    pages = {note for url, note in requests if urlsplit(url).hostname == "127.0.0.1"}
    return sorted({url for url, note in requests if note in pages})


def render(url: str, tmp_path: Path, name: str) -> tuple[str, list[str]]:
    """The DOM of the page at ``url`` after its scripts ran, and every URL it
    requested."""
    netlog = tmp_path / f"{name}.netlog.json"
    result = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / name}",
            # The network is loopback: no name resolves, no request leaves but to
            # 127.0.0.1, the rest goes to a proxy that is not there.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            f"--proxy-server=http://127.0.0.1:{dead_port()}",
            "--proxy-bypass-list=127.0.0.1",
            f"--log-net-log={netlog}",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    return result.stdout, page_requests(netlog)


def test_docs_and_redoc_render_the_operations_offline(
    fraud: Path, tmp_path: Path
) -> None:
    with serving(fraud, tmp_path / "service.log") as service:
        for page in PAGES:
            dom, requested = render(service.url + page, tmp_path, page.strip("/"))
            for operation in OPERATIONS:
                assert operation in dom, f"{page} did not render {operation!r}"
            assert f"{service.url}/openapi.json" in requested
            assert [u for u in requested if not loopback_only(u)] == [], page

            html = httpx.get(service.url + page, trust_env=False)
            assert html.status_code == 200, html.text
            urls = URL.findall(html.text)
            off = [u for u in urls if not loopback_only(u if ":" in u else "http:" + u)]
            assert off == [], f"{page} links outside the service: {off}"
            assert re.search(r"""(?:src|href)=["']/static-offline-docs/""", html.text)


def test_docs_and_their_assets_are_behind_the_api_key(
    fraud: Path, tmp_path: Path
) -> None:
    with (
        serving(fraud, tmp_path / "service.log", api_key=SECRET) as service,
        httpx.Client(base_url=service.url, trust_env=False) as client,
    ):
        html = "".join(
            client.get(page, headers={"X-API-Key": SECRET}).text for page in PAGES
        )
        assets = sorted(set(re.findall(r"""["'](/static-offline-docs/[^"']+)""", html)))
        assert len(assets) == 4, html  # two scripts, a style sheet, the icon
        paths = [*PAGES, "/openapi.json", *assets]
        for path in paths:
            assert client.get(path).status_code == 401, path
            answer = client.get(path, headers={"X-API-Key": SECRET})
            assert answer.status_code == 200, path
        spec = json.loads(
            client.get("/openapi.json", headers={"X-API-Key": SECRET}).text
        )
        assert {"/predict", "/predict/batch"} <= set(spec["paths"])
        assert client.get("/healthz").status_code == 200
