"""The baseline of benchmarks/batch.py: a FastAPI app written by hand around a model.

What one would write to serve a scikit-learn model on 30 numeric features: a pydantic
model of a batch of rows, one numpy array, one ``predict_proba`` call, FastAPI's own
JSON response. The model is the one the benchmark's notebook trained (MODEL_PATH).

    MODEL_PATH=.../model.joblib uvicorn benchmarks.handwritten_batch_app:app

POST /predict_batch  {"features": [[30 floats], ...]}  ->  {"proba": [[p0, p1], ...]}
"""

from __future__ import annotations

import os
from typing import Annotated

import joblib
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel, Field

model = joblib.load(os.environ["MODEL_PATH"])
Row = Annotated[list[float], Field(min_length=30, max_length=30)]


class Batch(BaseModel):
    features: list[Row]


app = FastAPI(title="Breast cancer scoring (hand-written)")


@app.post("/predict_batch")
def predict_batch(batch: Batch) -> dict[str, list[list[float]]]:
    proba = model.predict_proba(np.asarray(batch.features, dtype=np.float64))
    return {"proba": proba.tolist()}
