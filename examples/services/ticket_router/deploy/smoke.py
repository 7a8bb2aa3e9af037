"""Smoke test of a running service: ready, then one golden prediction.

    python deploy/smoke.py http://127.0.0.1:8000

Waits (up to --wait seconds) until GET /readyz answers 200, then posts the first
example of tests/golden/examples.json to /predict and compares the answer with the
notebook's own output (relative tolerance 1e-6). The API key, if the service needs
one, is read from the SMOKE_API_KEY environment variable. Standard library only, so it
runs anywhere Python does: CI against the container, or a cluster through
``kubectl port-forward``. Exit code 0: the service answered as the notebook did.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "golden" / "examples.json"


def close(expected: Any, actual: Any) -> bool:
    if isinstance(expected, float) or isinstance(actual, float):
        return (
            isinstance(expected, int | float)
            and isinstance(actual, int | float)
            and math.isclose(expected, actual, rel_tol=1e-6, abs_tol=1e-9)
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and expected.keys() == actual.keys()
            and all(close(v, actual[k]) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(close(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return bool(expected == actual)


def request(url: str, body: Any = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    key = os.environ.get("SMOKE_API_KEY")
    if key:
        headers["X-API-Key"] = key
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the service's base URL")
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to be ready")
    args = parser.parse_args()
    base = args.url.rstrip("/")
    deadline = time.monotonic() + args.wait
    while True:
        try:
            if request(f"{base}/readyz")[0] == 200:
                break
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            print(f"not ready after {args.wait:.0f} s: {base}/readyz", file=sys.stderr)
            return 1
        time.sleep(1)
    example = json.loads(GOLDEN.read_text(encoding="utf-8"))["examples"][0]
    status, answer = request(f"{base}/predict", example["input"])
    if status != 200 or not close(example["output"], answer):
        print(f"/predict answered {status}: {answer!r}", file=sys.stderr)
        print(f"the notebook answered: {example['output']!r}", file=sys.stderr)
        return 1
    print(f"ready, and /predict answered as the notebook did: {base}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
