"""The image's hashed lock (requirements.lock): the closure for the image's platform,
wheel hashes from local wheels, a real (loopback) package index or the cache, reuse of
an unchanged lock, and a documented exit code when no hash can be had."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from nb2svc.errors import ExitCode
from nb2svc.lock import (
    LockError,
    Pinned,
    Platform,
    _Metadata,
    build_backend_pin,
    closure,
    make_lock,
    parse_lock,
)
from nb2svc.wheelhashes import HashSource, wheel_hashes
from tests.helpers import TINY, make_notebook, run_cli
from tests.service_support import built_service, free_port

PLATFORM = Platform("3.11")


def metadata(dists: dict[str, tuple[str, list[str]]]) -> _Metadata:
    meta = _Metadata()
    for name, (version, requires) in dists.items():
        meta.versions[name] = version
        meta.requires[name] = [Requirement(r) for r in requires]
    return meta


FAKE = metadata(
    {
        "app": (
            "1.0",
            [
                "lib>=1",
                "winonly; sys_platform == 'win32'",
                "oldpy; python_version < '3.9'",
                "x86; platform_machine == 'x86_64'",
                "tool[fast]",
                "docs; extra == 'docs'",
            ],
        ),
        "lib": ("2.0", ["base"]),
        "base": ("0.1", []),
        "x86": ("3.0", []),
        "tool": ("1.5", ["base", "speedup; extra == 'fast'"]),
        "speedup": ("0.9", []),
        "winonly": ("1.0", []),
        "docs": ("1.0", []),
    }
)


def test_the_closure_follows_requirements_for_linux_x86_64_and_the_services_python() -> (
    None
):
    pinned, problems = closure(["app==1.0"], PLATFORM, FAKE)
    assert problems == []
    assert [(p.name, p.version, p.via) for p in pinned] == [
        ("app", "1.0", ()),
        ("base", "0.1", ("lib", "tool")),
        ("lib", "2.0", ("app",)),
        ("speedup", "0.9", ("tool",)),  # the extra app asks for
        ("tool", "1.5", ("app",)),
        ("x86", "3.0", ("app",)),
    ]
    arm, _ = closure(["app==1.0"], Platform("3.11", "aarch64"), FAKE)
    assert "x86" not in {p.name for p in arm}


def test_a_needed_distribution_not_installed_is_an_error_naming_it() -> None:
    meta = metadata({"app": ("1.0", ["ghost"])})
    with pytest.raises(LockError) as info:
        make_lock(["app==1.0"], PLATFORM, HashSource(offline=True), None, meta)
    assert info.value.exit_code == ExitCode.LOCK_FAILED == 11
    (problem,) = info.value.diagnostics
    assert problem.code == "NB1401"
    assert "'ghost' is needed by the service (app)" in problem.message


def wheel(folder: Path, filename: str, content: bytes) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / filename).write_bytes(content)
    return hashlib.sha256(content).hexdigest()


def test_local_wheels_give_the_hashes_of_the_wheels_the_image_can_install(
    tmp_path: Path,
) -> None:
    wheels = tmp_path / "wheels"
    pure = wheel(wheels, "demo-1.0-py3-none-any.whl", b"pure")
    linux = wheel(wheels, "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", b"linux")
    wheel(wheels, "demo-1.0-cp311-cp311-win_amd64.whl", b"windows")
    wheel(wheels, "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", b"py312")
    wheel(wheels, "demo-1.0-cp311-cp311-manylinux_2_39_x86_64.whl", b"newer glibc")
    wheel(wheels, "demo-1.1-py3-none-any.whl", b"other version")
    found, problem = wheel_hashes(
        Pinned("demo", "1.0", ()), PLATFORM, HashSource(find_links=(wheels,))
    )
    assert problem is None
    assert found == {
        "demo-1.0-py3-none-any.whl": pure,
        "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl": linux,
    }


class Index(http.server.ThreadingHTTPServer):
    """A PEP 691 JSON Simple API on loopback, serving ``projects``."""

    projects: dict[str, list[dict[str, object]]]
    requests: int = 0


class IndexHandler(http.server.BaseHTTPRequestHandler):
    server: Index

    def do_GET(self) -> None:
        self.server.requests += 1
        name = self.path.strip("/").split("/")[-1]
        files = self.server.projects.get(name)
        if files is None or "json" not in self.headers.get("Accept", ""):
            self.send_error(404)
            return
        body = json.dumps({"meta": {"api-version": "1.1"}, "files": files}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def index() -> Iterator[Index]:
    server = Index(("127.0.0.1", 0), IndexHandler)
    server.projects = {
        "demo": [
            {"filename": "demo-1.0.tar.gz", "hashes": {"sha256": "0" * 64}},
            {
                "filename": "demo-1.0-cp311-cp311-manylinux_2_28_x86_64.whl",
                "hashes": {"sha256": "a" * 64},
            },
            {
                "filename": "demo-1.0-cp311-cp311-macosx_11_0_arm64.whl",
                "hashes": {"sha256": "b" * 64},
            },
            {
                "filename": "demo-1.0-py3-none-any.whl",
                "hashes": {"sha256": "c" * 64},
                "yanked": "broken",
            },
        ],
        "sdistonly": [
            {"filename": "sdistonly-2.0.tar.gz", "hashes": {"sha256": "d" * 64}}
        ],
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_index_hashes_are_cached_so_a_rebuild_needs_no_network(
    tmp_path: Path, index: Index
) -> None:
    url = f"http://127.0.0.1:{index.server_address[1]}/simple"
    source = HashSource(index_url=url, cache_dir=tmp_path / "cache")
    demo = Pinned("demo", "1.0", ())
    found, problem = wheel_hashes(demo, PLATFORM, source)
    assert problem is None
    assert found == {"demo-1.0-cp311-cp311-manylinux_2_28_x86_64.whl": "a" * 64}
    assert index.requests == 1
    again, _ = wheel_hashes(demo, PLATFORM, source)
    assert again == found and index.requests == 1  # from the cache
    offline = HashSource(cache_dir=tmp_path / "cache", offline=True)
    assert wheel_hashes(demo, PLATFORM, offline)[0] == found

    _, problem = wheel_hashes(Pinned("sdistonly", "2.0", ()), PLATFORM, source)
    assert problem is not None and problem.code == "NB1403"
    assert "no wheel for cp311-manylinux_x86_64" in problem.message


def test_no_index_and_no_cached_hashes_is_a_clear_error(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}/simple"  # nothing listens there
    source = HashSource(index_url=closed, cache_dir=tmp_path / "cache")
    _, problem = wheel_hashes(Pinned("demo", "1.0", ()), PLATFORM, source)
    assert problem is not None and problem.code == "NB1402"
    assert f"cannot read the wheel hashes of demo==1.0 from {closed}" in problem.message
    assert "the cache has none" in problem.message


def test_the_lock_is_sorted_parsed_and_reused_while_its_inputs_are_unchanged(
    tmp_path: Path,
) -> None:
    meta = metadata({"zeta": ("1.0", ["alpha"]), "alpha": ("2.0", [])})
    wheels = tmp_path / "wheels"
    wheel(wheels, "alpha-2.0-py3-none-any.whl", b"a")
    wheel(wheels, "zeta-1.0-py3-none-any.whl", b"z")
    source = HashSource(find_links=(wheels,), offline=True)
    text, _ = make_lock(["zeta==1.0"], PLATFORM, source, None, meta)
    lines = text.decode().splitlines()
    assert lines[3].startswith("# inputs: ")
    assert lines[4:] == [
        "alpha==2.0 \\",
        f"    --hash=sha256:{hashlib.sha256(b'a').hexdigest()}",
        "    # via zeta",
        "zeta==1.0 \\",
        f"    --hash=sha256:{hashlib.sha256(b'z').hexdigest()}",
    ]
    assert [(p.name, p.version) for p in parse_lock(text.decode())] == [
        ("alpha", "2.0"),
        ("zeta", "1.0"),
    ]
    # Unchanged inputs: the lock written before is kept, no hash is looked up again.
    nowhere = HashSource(offline=True)
    assert make_lock(["zeta==1.0"], PLATFORM, nowhere, text, meta)[0] == text
    # A new version is locked again (and here, with no hash anywhere, refused).
    meta.versions["alpha"] = "2.1"
    with pytest.raises(LockError):
        make_lock(["zeta==1.0"], PLATFORM, nowhere, text, meta)


@pytest.mark.parametrize(
    "text",
    [
        "demo==1.0\n",  # no hash
        "demo>=1.0 --hash=sha256:" + "a" * 64 + "\n",
        "demo==1.0 --hash=md5:abc\n",
        "demo==1.0 --index-url=http://x --hash=sha256:" + "a" * 64 + "\n",
    ],
)
def test_a_lock_that_pip_would_not_take_as_hashed_pins_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_lock(text)


@pytest.mark.slow
def test_the_generated_lock_pins_every_installed_requirement_with_hashes(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    import importlib.metadata as md

    out = built_service(tmp_path_factory, "fraud_scoring")
    text = (out / "requirements.lock").read_text()
    locked = {p.name: p for p in parse_lock(text)}
    for name in ("fastapi", "starlette", "pydantic", "pydantic-core", "scikit-learn"):
        assert locked[name].version == md.version(name)
        assert locked[name].hashes
    assert "/" + "home" not in text and "\\" + "Users" not in text
    dockerfile = (out / "Dockerfile").read_text()
    assert (
        "pip install --no-cache-dir --require-hashes --no-deps --only-binary :all: \\\n"
        "    -r requirements.lock"
    ) in dockerfile
    # The package is built with the locked setuptools: nothing unhashed is fetched.
    assert locked["setuptools"].version == md.version("setuptools")
    assert (
        "RUN pip install --no-cache-dir --no-deps --no-build-isolation . && pip check\n"
        in dockerfile
    )
    assert "requirements.lock" in (out / ".dockerignore").read_text()
    manifest = json.loads((out / "nb2svc.json").read_text())
    assert manifest["base_image"] == "python:3.11-slim"


def test_no_cached_hashes_offline_exits_11_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NB2SVC_CACHE_DIR", str(tmp_path / "empty-cache"))
    notebook = make_notebook(tmp_path, TINY)
    out = tmp_path / "out"
    code, output = run_cli("build", notebook, "-o", out)
    assert code == 11, output
    assert "NB1402" in output and "no cached wheel hashes" in output
    assert not out.exists()


def test_the_base_image_is_pinned_by_option_and_recorded(tmp_path: Path) -> None:
    notebook = make_notebook(tmp_path, TINY)
    out = tmp_path / "out"
    image = "python:3.11-slim@sha256:" + "ab" * 32
    code, output = run_cli("build", notebook, "-o", out, "--base-image", image)
    assert code == 0, output
    dockerfile = (out / "Dockerfile").read_text()
    assert dockerfile.count(f"FROM {image}") == 2
    assert json.loads((out / "nb2svc.json").read_text())["base_image"] == image
    # Kept by a rebuild that doesn't repeat it, so --check finds nothing to change.
    code, output = run_cli("build", notebook, "-o", out, "--check")
    assert code == 0, output
    code, output = run_cli("build", notebook, "-o", out)
    assert code == 0, output
    assert (out / "Dockerfile").read_text().count(f"FROM {image}") == 2
    code, output = run_cli(
        "build", notebook, "-o", out, "--base-image", "python;rm -rf /"
    )
    assert code == 2
    assert "not an image reference" in output


def test_the_build_backend_is_locked_or_its_absence_is_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.metadata as md

    backend, problem = build_backend_pin()
    assert backend == f"setuptools=={md.version('setuptools')}" and problem is None

    def old(name: str) -> str:
        return "65.5.0"

    monkeypatch.setattr(md, "version", old)
    backend, problem = build_backend_pin()
    assert backend is None
    assert problem is not None and problem.code == "NB1404"
    assert "setuptools 65.5.0 is installed" in problem.message
