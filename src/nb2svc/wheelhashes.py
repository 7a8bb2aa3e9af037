"""Wheel hashes for the lock: from local wheels, a cache, or the package index.

Only the wheels the image's pip may pick count (``Platform.tags``). The index is asked
through its JSON Simple API (PEP 691); what it answers is cached per ``name==version``
and platform, so that a rebuild needs no network.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from nb2svc.errors import Diagnostic, Location, Severity

if TYPE_CHECKING:
    from nb2svc.lock import Pinned, Platform

DEFAULT_INDEX = "https://pypi.org/simple"
LOCK_FILE = "requirements.lock"


def lock_location(name: str) -> Location:
    return Location(LOCK_FILE + f" ({name})")


@dataclass(frozen=True)
class HashSource:
    """Where wheel hashes come from, in this order: local wheels, the cache, the index."""

    index_url: str = DEFAULT_INDEX
    find_links: tuple[Path, ...] = ()
    cache_dir: Path | None = None  # None: no cache
    offline: bool = False  # never ask the index

    @classmethod
    def from_environment(cls, find_links: Iterable[Path] = ()) -> HashSource:
        """``NB2SVC_INDEX_URL``, ``NB2SVC_CACHE_DIR`` (default: the user cache dir)
        and ``NB2SVC_OFFLINE=1`` (use only local wheels and the cache)."""
        import platformdirs

        cache = os.environ.get("NB2SVC_CACHE_DIR") or platformdirs.user_cache_dir(
            "nb2svc"
        )
        return cls(
            index_url=os.environ.get("NB2SVC_INDEX_URL", DEFAULT_INDEX).rstrip("/"),
            find_links=tuple(find_links),
            cache_dir=Path(cache) / "wheel-hashes",
            offline=os.environ.get("NB2SVC_OFFLINE") == "1",
        )


def _wheel_matches(
    filename: str, name: str, version: str, tags: frozenset[Tag]
) -> bool:
    try:
        wname, wversion, _, wtags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return False
    return wname == name and wversion == Version(version) and not wtags.isdisjoint(tags)


def _local_hashes(
    pinned: Pinned, platform: Platform, find_links: Iterable[Path]
) -> dict[str, str]:
    tags = platform.tags()
    found = {}
    for folder in find_links:
        for path in sorted(folder.glob("*.whl")):
            if _wheel_matches(path.name, pinned.name, pinned.version, tags):
                found[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _index_hashes(pinned: Pinned, platform: Platform, index_url: str) -> dict[str, str]:
    """Wheel hashes from a PEP 691 JSON Simple API; raises httpx.HTTPError."""
    import httpx

    response = httpx.get(
        f"{index_url}/{pinned.name}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        follow_redirects=True,
        timeout=30,
    )
    response.raise_for_status()
    tags = platform.tags()
    found = {}
    for item in response.json().get("files", []):
        filename = str(item.get("filename", ""))
        digest = item.get("hashes", {}).get("sha256")
        if item.get("yanked"):
            continue
        if digest and _wheel_matches(filename, pinned.name, pinned.version, tags):
            found[filename] = str(digest)
    return found


def _cache_path(cache_dir: Path, pinned: Pinned, platform: Platform) -> Path:
    return cache_dir / f"{pinned.name}-{pinned.version}-{platform.key}.json"


def _read_cache(path: Path) -> dict[str, str] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        wheels = data["wheels"]
        if isinstance(wheels, dict) and wheels:
            return {str(k): str(v) for k, v in wheels.items()}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _write_cache(path: Path, pinned: Pinned, wheels: Mapping[str, str]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {"name": pinned.name, "version": pinned.version, "wheels": wheels},
                indent=1,
                sort_keys=True,
            )
            + "\n",
            encoding="utf-8",
        )
        tmp.replace(path)
    except OSError:
        pass  # a cache that can't be written only costs a download next time


def wheel_hashes(
    pinned: Pinned, platform: Platform, source: HashSource
) -> tuple[dict[str, str], Diagnostic | None]:
    """{wheel filename: sha256} for ``pinned`` on ``platform``, or a diagnostic."""
    local = _local_hashes(pinned, platform, source.find_links)
    if local:
        return local, None
    cached = None
    if source.cache_dir is not None:
        cached = _read_cache(_cache_path(source.cache_dir, pinned, platform))
    if cached:
        return cached, None
    where = f"{pinned.name}=={pinned.version}"
    if source.offline:
        return {}, Diagnostic(
            Severity.ERROR,
            lock_location(pinned.name),
            f"no cached wheel hashes for {where} and NB2SVC_OFFLINE=1",
            "unset NB2SVC_OFFLINE so the package index can be asked once, "
            "or pass --find-links with its wheel",
            "NB1402",
        )
    import httpx

    try:
        found = _index_hashes(pinned, platform, source.index_url)
    except (httpx.HTTPError, ValueError) as exc:
        return {}, Diagnostic(
            Severity.ERROR,
            lock_location(pinned.name),
            f"cannot read the wheel hashes of {where} from {source.index_url} "
            f"({type(exc).__name__}: {exc}), and the cache has none",
            "reach the package index once (NB2SVC_INDEX_URL for a mirror), "
            "or pass --find-links with a folder of the wheels",
            "NB1402",
        )
    if not found:
        return {}, Diagnostic(
            Severity.ERROR,
            lock_location(pinned.name),
            f"{where} has no wheel for {platform.key} on {source.index_url}; the image "
            "installs wheels only",
            "use a version that publishes a manylinux wheel, "
            "or pass --find-links with one you built",
            "NB1403",
        )
    if source.cache_dir is not None:
        _write_cache(_cache_path(source.cache_dir, pinned, platform), pinned, found)
    return found, None
