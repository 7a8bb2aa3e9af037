"""Refresh tests/fixtures/cache/wheel-hashes: the wheel-hash cache the test suite builds with.

The tests run ``nb2svc build`` with ``NB2SVC_OFFLINE=1`` and tests/fixtures/cache as
``NB2SVC_CACHE_DIR``, so a build never waits on the package index and every lock the
tests make is the same on any machine. Run this after changing constraints.txt
(it asks the package index once per pinned distribution):

    .venv/bin/python scripts/seed_wheel_hashes.py
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from nb2svc.lock import Pinned, Platform
from nb2svc.wheelhashes import HashSource, wheel_hashes

REPO = Path(__file__).resolve().parents[1]
FOLDER = REPO / "tests" / "fixtures" / "cache" / "wheel-hashes"


def main() -> int:
    platform = Platform(f"{sys.version_info.major}.{sys.version_info.minor}")
    fresh = FOLDER.with_name(FOLDER.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    source = HashSource(cache_dir=fresh)
    skipped = []
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        pinned = Pinned(canonicalize_name(req.name), spec.version, ())
        _, problem = wheel_hashes(pinned, platform, source)
        if problem is not None:
            skipped.append(str(problem))
    shutil.rmtree(FOLDER, ignore_errors=True)
    fresh.rename(FOLDER)
    for problem in skipped:
        print(f"skipped: {problem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
