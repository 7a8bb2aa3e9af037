#!/usr/bin/env bash
# Quick start #1: set everything up, build the bundled fraud-scoring example into a
# service, verify it against the notebook, start it and ask it for a prediction.
# KEEP=1 leaves the service running afterwards (open /docs in a browser; Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
PY=.venv/bin/python
NB=examples/notebooks/fraud_scoring.ipynb
OUT=build/fraud_scoring
PORT="${PORT:-8765}"

"$PY" -m nb2svc build "$NB" --out "$OUT" --verify

echo "Starting the service on 127.0.0.1:$PORT ..."
PYTHONPATH="$OUT/src" FRAUD_SCORING_PORT="$PORT" "$PY" -m fraud_scoring serve &
SERVICE=$!
trap 'kill "$SERVICE" 2>/dev/null; wait "$SERVICE" 2>/dev/null || true' EXIT
"$PY" - "$PORT" "$OUT" <<'PYEOF'
import json, sys, time
from pathlib import Path
import httpx

port, out = sys.argv[1], Path(sys.argv[2])
base = f"http://127.0.0.1:{port}"
for _ in range(200):
    try:
        if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
            break
    except httpx.HTTPError:
        pass
    time.sleep(0.1)
else:
    sys.exit("service did not become ready")
example = json.loads((out / "tests/golden/examples.json").read_text())["examples"][0]
print("POST /predict", json.dumps(example["input"]))
response = httpx.post(f"{base}/predict", json=example["input"], timeout=10)
print(response.status_code, json.dumps(response.json()))
assert response.status_code == 200
metrics = httpx.get(f"{base}/metrics", timeout=10).text
print(next(line for line in metrics.splitlines() if line.startswith("model_info{")))
PYEOF
if [ "${KEEP:-0}" = 1 ]; then
  echo "The service keeps running: open http://127.0.0.1:$PORT/docs (Ctrl-C stops it)."
  wait "$SERVICE"
else
  echo "Done. To keep the service running and try it in a browser at /docs:"
  echo "  KEEP=1 bash scripts/demo.sh      (then open http://127.0.0.1:$PORT/docs)"
fi
