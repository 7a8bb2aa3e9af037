"""Prediction pipeline of Diabetes Progression, exported from diabetes_progression.ipynb by nb2svc.

Generated code: edit the notebook and rebuild; changes made here are detected and
refused by the next build.
"""

import threading
from collections.abc import Mapping
from typing import Any

import joblib
import pandas as pd
from nb2svc_runtime.jsonable import to_jsonable

from ._artifacts import artifact_path, verify_artifacts
from .settings import get_settings

# Notebook config: the defaults come from the notebook; each can be overridden by an
# environment variable (see settings.py).
_settings = get_settings()
HIGH_RISK = _settings.high_risk


# --- helpers: generated from diabetes_progression.ipynb cell 7 (id=cell-07) — edit the notebook
FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def check_record(record: Mapping[str, float]) -> None:
    missing = [f for f in FEATURES if f not in record]
    if missing:
        raise ValueError(f"record is missing features: {missing}")


# --- preprocess: generated from diabetes_progression.ipynb cell 8 (id=cell-08) — edit the notebook
def preprocess(record: dict) -> pd.DataFrame:
    check_record(record)
    return pd.DataFrame([[float(record[f]) for f in FEATURES]], columns=FEATURES)


# --- predict: generated from diabetes_progression.ipynb cell 14 (id=cell-14) — edit the notebook
def predict(frame: pd.DataFrame) -> float:
    return float(model.predict(frame)[0])


# --- postprocess: generated from diabetes_progression.ipynb cell 15 (id=cell-15) — edit the notebook
def postprocess(value: float) -> dict:
    return {
        "progression": round(value, 4),
        "risk_band": "high" if value > HIGH_RISK else "normal",
    }


# --- load: resources bound by the notebook's load code, set by _load_notebook_resources()
model: Any = None


def _load_notebook_resources() -> None:
    """Run the notebook's load code once, at service start-up."""
    global model
    # generated from diabetes_progression.ipynb cell 13 (id=cell-13) — edit the notebook
    model = joblib.load(artifact_path("diabetes_model.joblib"))


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
