"""Refresh the committed golden services in examples/services/.

Each example notebook in examples/notebooks/ is built into examples/services/<package>/
with the nb2svc of this checkout. tests/test_e2e.py rebuilds them and fails on any
difference, so a template change shows up as a reviewable diff of generated code:
run this script and commit its output together with the change.

    .venv/bin/python scripts/regen_golden.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "examples" / "notebooks"
SERVICES = REPO / "examples" / "services"


def main() -> int:
    from nb2svc.naming import package_name

    for notebook in sorted(NOTEBOOKS.glob("*.ipynb")):
        out = SERVICES / package_name(notebook.stem)
        print(f"regenerating {out.relative_to(REPO)}", flush=True)
        # --force: the snapshots are generated output; nobody edits them by hand.
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "nb2svc",
                "build",
                str(notebook),
                "--out",
                str(out),
                "--force",
            ],
            cwd=REPO,
            # the locks from the committed wheel-hash cache, as the tests make them
            env={
                **os.environ,
                "NB2SVC_CACHE_DIR": str(REPO / "tests" / "fixtures" / "cache"),
                "NB2SVC_OFFLINE": "1",
            },
        )
        if result.returncode != 0:
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
