"""Prediction pipeline of Fraud Scoring, exported from fraud_scoring.ipynb by nb2svc.

Generated code: edit the notebook and rebuild; changes made here are detected and
refused by the next build.
"""

import threading
from typing import Any

import joblib
import numpy as np
import pandas as _pd
import pandas as pd
from nb2svc_runtime.jsonable import to_jsonable

from ._artifacts import artifact_path, verify_artifacts
from .settings import get_settings

# Notebook config: the defaults come from the notebook; each can be overridden by an
# environment variable (see settings.py).
_settings = get_settings()
THRESHOLD = _settings.threshold
MODEL_VERSION = _settings.model_version


# --- helpers: generated from fraud_scoring.ipynb cell 10 (id=cell-10) — edit the notebook
MERCHANT_CATEGORIES = (
    "grocery",
    "fuel",
    "restaurant",
    "electronics",
    "travel",
    "online_gaming",
)
RAW_COLUMNS = (
    "amount",
    "merchant_category",
    "hour",
    "country_mismatch",
    "card_age_days",
    "tx_last_24h",
)


def is_night(hour: pd.Series) -> pd.Series:
    """Transactions between 23:00 and 05:59 count as night-time."""
    return (hour >= 23) | (hour <= 5)


def one_hot_merchant(category: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {f"merchant_{c}": (category == c).astype("int64") for c in MERCHANT_CATEGORIES},
        index=category.index,
    )


# --- preprocess: generated from fraud_scoring.ipynb cell 11 (id=cell-11) — edit the notebook
def preprocess(df: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in RAW_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"missing transaction fields: {missing}")
    features = pd.DataFrame(
        {
            "amount_log": np.log1p(df["amount"].astype("float64")),
            "is_night": is_night(df["hour"].astype("int64")).astype("int64"),
            "country_mismatch": df["country_mismatch"].astype("int64"),
            "card_age_years": df["card_age_days"].astype("float64") / 365.25,
            "tx_last_24h": df["tx_last_24h"].astype("int64"),
        },
        index=df.index,
    )
    return pd.concat([features, one_hot_merchant(df["merchant_category"])], axis=1)


# --- predict: generated from fraud_scoring.ipynb cell 19 (id=cell-19) — edit the notebook
def predict(features: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(features)[:, 1]


# --- postprocess: generated from fraud_scoring.ipynb cell 20 (id=cell-20) — edit the notebook
def postprocess(probs: np.ndarray) -> list[dict]:
    return [
        {
            "fraud_probability": round(float(p), 6),
            "decision": "review" if p >= THRESHOLD else "approve",
            "model_version": MODEL_VERSION,
        }
        for p in probs
    ]


# --- load: resources bound by the notebook's load code, set by _load_notebook_resources()
model: Any = None


def _load_notebook_resources() -> None:
    """Run the notebook's load code once, at service start-up."""
    global model
    # generated from fraud_scoring.ipynb cell 18 (id=cell-18) — edit the notebook
    model = joblib.load(artifact_path("fraud_model.joblib"))


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


def _combined(raws: list[Any]) -> tuple[Any, list[int]] | None:
    """The inputs as one batch the notebook's functions take, and each one's rows."""
    return _pd.concat(raws, ignore_index=True), [len(frame) for frame in raws]


def score_batch(raws: list[Any]) -> list[Any]:
    """Many inputs in one vectorised pipeline call (the build checked that it answers
    what one call per input answers), split back into one output per input."""
    combined = _combined(raws) if len(raws) > 1 else None
    if combined is not None:
        batch, sizes = combined
        result = score(batch)
        if isinstance(result, list) and len(result) == sum(sizes):
            if sizes.count(1) == len(sizes):  # one row each
                return [[output] for output in result]
            outputs, start = [], 0
            for size in sizes:
                outputs.append(result[start : start + size])
                start += size
            return outputs
    return [score(raw) for raw in raws]
