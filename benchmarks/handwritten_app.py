"""The baseline: a minimal FastAPI app written by hand around the same model.

What a data scientist would write to serve the fraud notebook without nb2svc: a
pydantic row model, a DataFrame built from the validated rows, the notebook's own
preprocess/predict/postprocess, and FastAPI's default JSON response. It imports the
notebook's functions and model from the generated package (set PYTHONPATH to its
src/), so the two apps run exactly the same model code and only serving differs.

    PYTHONPATH=build/fraud_scoring/src uvicorn benchmarks.handwritten_app:app
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from fastapi import FastAPI
from fraud_scoring import pipeline  # type: ignore[import-not-found]
from pydantic import BaseModel


class Transaction(BaseModel):
    amount: float
    merchant_category: str
    hour: int
    country_mismatch: bool
    card_age_days: int
    tx_last_24h: int


pipeline.load_resources()
app = FastAPI(title="Fraud scoring (hand-written)")


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/predict")
def predict(rows: list[Transaction]) -> list[dict[str, Any]]:
    frame = pd.DataFrame([row.model_dump() for row in rows])
    result: list[dict[str, Any]] = pipeline.postprocess(
        pipeline.predict(pipeline.preprocess(frame))
    )
    return result
