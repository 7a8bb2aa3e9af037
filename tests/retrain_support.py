"""A notebook of our own that trains its model (train cells with a data parameter),
and the data it trains on: the original customers, and a shifted population."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tests.helpers import CellSpec, make_notebook

IMPORTS = """# nb2svc: imports
import joblib
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split"""

CONFIG = """# nb2svc: config
TRAIN_PATH = "customers.csv"
THRESHOLD = 0.5"""

# Unmarked: the PoC makes its own data set (the notebook's first training data).
MAKE_DATA = """rng = np.random.default_rng(7)
n = 800
customers = pd.DataFrame({
    "tenure": rng.integers(1, 72, n),
    "monthly": np.round(rng.normal(60, 20, n), 2),
})
logit = -0.06 * customers["tenure"] + 0.04 * customers["monthly"] - 0.5
customers["churned"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
customers.to_csv(TRAIN_PATH, index=False)"""

TRAIN = """# nb2svc: train data=TRAIN_PATH holdout=X_test,y_test metric=roc_auc_score
data = pd.read_csv(TRAIN_PATH)
X = data[["tenure", "monthly"]]
y = data["churned"]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=0, stratify=y
)
clf = LogisticRegression(max_iter=500).fit(X_train, y_train)
joblib.dump(clf, "churn_model.joblib")"""

LOAD = """# nb2svc: load artifacts=churn_model.joblib
model = joblib.load("churn_model.joblib")"""

PREDICT = """# nb2svc: predict
def predict(frame: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(frame[["tenure", "monthly"]])[:, 1]"""

POSTPROCESS = """# nb2svc: postprocess
def postprocess(probs: np.ndarray) -> list[dict]:
    return [
        {"churn_probability": round(float(p), 6), "at_risk": bool(p >= THRESHOLD)}
        for p in probs
    ]"""

EXAMPLE = """# nb2svc: example
examples = X_test.iloc[:4]
postprocess(predict(examples))"""

REFERENCE = """# nb2svc: reference
reference = X_train"""

CELLS: tuple[CellSpec, ...] = tuple(
    ("code", source)
    for source in (
        IMPORTS,
        CONFIG,
        MAKE_DATA,
        TRAIN,
        LOAD,
        PREDICT,
        POSTPROCESS,
        EXAMPLE,
        REFERENCE,
    )
)
TRAIN_CELL = 3  # 0-based index of the train cell


def churn_notebook(folder: Path, cells: tuple[CellSpec, ...] = CELLS) -> Path:
    return make_notebook(folder, cells, name="churn.ipynb")


def shifted_customers(path: Path, seed: int = 11) -> Path:
    """A later population: longer-tenured customers, and price now matters little
    while tenure matters more: a model trained on it ranks customers differently."""
    rng = np.random.default_rng(seed)
    n = 800
    frame = pd.DataFrame(
        {
            "tenure": rng.integers(12, 120, n),
            "monthly": np.round(rng.normal(80, 25, n), 2),
        }
    )
    logit = 0.03 * frame["tenure"] - 0.05 * frame["monthly"] + 1.0
    frame["churned"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path
