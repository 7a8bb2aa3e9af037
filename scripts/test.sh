#!/usr/bin/env bash
# Quick start #2: set everything up and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# nb2svc's tests, then the runtime library's (its own pytest configuration).
status=0
.venv/bin/python -m pytest "$@" || status=$?
(cd runtime && ../.venv/bin/python -m pytest -q) || status=$?
exit "$status"
