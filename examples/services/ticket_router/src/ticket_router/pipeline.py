"""Prediction pipeline of Ticket Router, exported from ticket_router.ipynb by nb2svc.

Generated code: edit the notebook and rebuild; changes made here are detected and
refused by the next build.
"""

import re
import threading
from typing import Any

import joblib
import numpy as np
from nb2svc_runtime.jsonable import to_jsonable

from ._artifacts import artifact_path, verify_artifacts
from .settings import get_settings

# Notebook config: the defaults come from the notebook; each can be overridden by an
# environment variable (see settings.py).
_settings = get_settings()
ROUND_DIGITS = _settings.round_digits


# --- preprocess: generated from ticket_router.ipynb cell 8 (id=cell-08) — edit the notebook
_WHITESPACE = re.compile(r"\s+")


def preprocess(text: str) -> list[str]:
    return [_WHITESPACE.sub(" ", text).strip().lower()]


# --- predict: generated from ticket_router.ipynb cell 14 (id=cell-14) — edit the notebook
def predict(texts: list[str]) -> np.ndarray:
    return model.predict_proba(texts)


# --- postprocess: generated from ticket_router.ipynb cell 15 (id=cell-15) — edit the notebook
def postprocess(probs: np.ndarray) -> dict:
    row = probs[0]
    scores = {
        str(label): round(float(p), ROUND_DIGITS)
        for label, p in zip(model.classes_, row)
    }
    best = int(np.argmax(row))
    return {
        "label": str(model.classes_[best]),
        "confidence": round(float(row[best]), ROUND_DIGITS),
        "scores": scores,
    }


# --- load: resources bound by the notebook's load code, set by _load_notebook_resources()
model: Any = None


def _load_notebook_resources() -> None:
    """Run the notebook's load code once, at service start-up."""
    global model
    # generated from ticket_router.ipynb cell 13 (id=cell-13) — edit the notebook
    model = joblib.load(artifact_path("ticket_model.joblib"))


_lock = threading.Lock()
_loaded = False


def load_resources() -> None:
    """Verify the artifacts' sha256, then run the load code (once; thread-safe)."""
    global _loaded
    with _lock:
        if _loaded:
            return
        verify_artifacts()
        _load_notebook_resources()
        _loaded = True


def resources_loaded() -> bool:
    return _loaded


def _pipeline(raw: Any) -> Any:
    return postprocess(predict(preprocess(raw)))


def score(raw: Any) -> Any:
    """One input, as the notebook used it, through the pipeline; JSON-ready output."""
    return to_jsonable(_pipeline(raw))


def score_batch(raws: list[Any]) -> list[Any]:
    """Many inputs, one pipeline call each (the notebook's functions take no batch)."""
    return [score(raw) for raw in raws]
