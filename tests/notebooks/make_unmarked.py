"""Write the unmarked test notebooks in tests/notebooks/unmarked/ (and their data).

Realistic proof-of-concept notebooks as they arrive: no nb2svc markers, models kept in
memory, several models fitted, inputs rebound, magics, out-of-order execution and a
planted (fake) credential. Each notebook's docstring entry in NOTEBOOKS says what is
in it and what `nb2svc tag` / `nb2svc lint` should make of it.

Run from anywhere:  python tests/notebooks/make_unmarked.py
The output is deterministic; a test checks the committed files match it.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat

HERE = Path(__file__).resolve().parent
OUT = HERE / "unmarked"

#: A cell: (kind, source) or (kind, source, execution_count, outputs).
Cell = tuple[Any, ...]
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def stream(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stdout", "text": text}


def result(text: str, count: int) -> dict[str, Any]:
    return {
        "output_type": "execute_result",
        "execution_count": count,
        "data": {"text/plain": text},
        "metadata": {},
    }


def notebook(stem: str, cells: Sequence[Cell]) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    for index, (kind, source, *saved) in enumerate(cells, start=1):
        if kind == "md":
            cell = nbformat.v4.new_markdown_cell(source.strip("\n"))
        else:
            cell = nbformat.v4.new_code_cell(source.strip("\n"))
            if saved:
                cell.execution_count = saved[0]
                cell.outputs = [nbformat.from_dict(o) for o in saved[1]]
        cell.id = f"{stem}-{index:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


# --- 1. sklearn Pipeline on a CSV, a baseline on one column, never saved -----------

CHURN_PIPELINE: list[Cell] = [
    (
        "md",
        """
# Customer churn — proof of concept

Which customers are likely to leave next quarter? A baseline on tenure alone, then a
random forest on every field, in one scikit-learn pipeline.
""",
    ),
    (
        "code",
        """
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
""",
    ),
    ("code", 'customers = pd.read_csv("data/customers.csv")\ncustomers.head()'),
    ("code", "customers.describe()"),
    ("code", 'customers.groupby("plan")["churned"].mean()'),
    (
        "code",
        """
X = customers.drop(columns=["customer_id", "churned"])
y = customers["churned"]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, random_state=42, stratify=y
)
X_train.shape, X_test.shape
""",
    ),
    ("md", "## Baseline: tenure alone"),
    (
        "code",
        """
baseline = LogisticRegression()
baseline.fit(X_train[["tenure_months"]], y_train)
roc_auc_score(y_test, baseline.predict_proba(X_test[["tenure_months"]])[:, 1])
""",
    ),
    ("md", "## Every field, one pipeline"),
    (
        "code",
        """
numeric = ["tenure_months", "monthly_charges", "support_calls"]
categorical = ["plan", "region", "paperless"]
preprocessor = ColumnTransformer(
    [
        ("num", StandardScaler(), numeric),
        ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
    ]
)
model = Pipeline(
    [
        ("prep", preprocessor),
        ("clf", RandomForestClassifier(n_estimators=60, min_samples_leaf=3, random_state=0)),
    ]
)
model.fit(X_train, y_train)
""",
    ),
    (
        "code",
        """
probs = model.predict_proba(X_test)[:, 1]
print(f"ROC AUC: {roc_auc_score(y_test, probs):.3f}")
""",
    ),
    (
        "code",
        """
importances = pd.Series(
    model.named_steps["clf"].feature_importances_,
    index=model.named_steps["prep"].get_feature_names_out(),
)
importances.sort_values(ascending=False).head(8)
""",
    ),
]


def customers_csv() -> str:
    """400 synthetic customers; churn depends on tenure, charges, calls and plan."""
    import numpy as np

    rng = np.random.default_rng(2024)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "customer_id",
            "tenure_months",
            "monthly_charges",
            "support_calls",
            "plan",
            "region",
            "paperless",
            "churned",
        ]
    )
    plans = ["basic", "standard", "premium"]
    regions = ["north", "south", "east", "west"]
    for i in range(400):
        tenure = int(rng.integers(1, 72))
        charges = round(float(rng.normal(65, 20)), 2)
        calls = int(rng.poisson(1.5))
        plan = plans[int(rng.integers(0, 3))]
        region = regions[int(rng.integers(0, 4))]
        paperless = bool(rng.random() < 0.6)
        logit = -0.5 - 0.05 * tenure + 0.02 * charges + 0.5 * calls
        logit += {"basic": 0.4, "standard": 0.0, "premium": -0.6}[plan]
        churned = int(rng.random() < 1 / (1 + np.exp(-logit)))
        writer.writerow(
            [f"C{i:04d}", tenure, charges, calls, plan, region, paperless, churned]
        )
    return out.getvalue()


# --- 2. hand-rolled pandas features, a fitted statistic, three models ----------------

HOUSE_PRICES: list[Cell] = [
    ("md", "# House prices\n\nA quick valuation model from listing fields."),
    (
        "code",
        """
import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error
from sklearn.model_selection import train_test_split
""",
    ),
    (
        "code",
        """
rng = np.random.default_rng(7)
n = 600
houses = pd.DataFrame(
    {
        "area_m2": rng.normal(95, 30, n).clip(25, 300).round(1),
        "rooms": rng.integers(1, 7, n),
        "year_built": rng.integers(1900, 2023, n),
        "neighbourhood": rng.choice(["centre", "north", "south", "harbour"], n),
        "has_garden": rng.random(n) < 0.4,
        "energy_label": rng.choice(["A", "B", "C", "D"], n),
    }
)
houses.loc[rng.random(n) < 0.1, "energy_label"] = None
premium = houses["neighbourhood"].map({"centre": 1.35, "north": 1.0, "south": 0.9, "harbour": 1.2})
houses["price"] = (
    2600 * houses["area_m2"] * premium
    + 9000 * houses["rooms"]
    - 300 * (2024 - houses["year_built"])
    + 15000 * houses["has_garden"]
    + rng.normal(0, 20000, n)
).round(-2)
houses.head()
""",
    ),
    ("md", "## Features"),
    (
        "code",
        """
NEIGHBOURHOODS = ["centre", "north", "south", "harbour"]
ENERGY_SCORE = {"A": 4, "B": 3, "C": 2, "D": 1}
CURRENT_YEAR = 2024
""",
    ),
    (
        "code",
        """
def add_features(df):
    \"\"\"Numeric features from raw listing fields; neighbourhoods one-hot.\"\"\"
    out = pd.DataFrame(index=df.index)
    out["area_m2"] = df["area_m2"].astype(float)
    out["rooms"] = df["rooms"].astype(int)
    out["age"] = CURRENT_YEAR - df["year_built"].astype(int)
    out["has_garden"] = df["has_garden"].astype(int)
    out["energy"] = df["energy_label"].map(ENERGY_SCORE).astype(float).fillna(median_energy)
    for name in NEIGHBOURHOODS:
        out[f"nb_{name}"] = (df["neighbourhood"] == name).astype(int)
    return out
""",
    ),
    (
        "code",
        """
train, test = train_test_split(houses, test_size=0.25, random_state=1)
median_energy = train["energy_label"].map(ENERGY_SCORE).median()
X_train, y_train = add_features(train), train["price"]
X_test, y_test = add_features(test), test["price"]
X_train.head()
""",
    ),
    ("md", "## Models"),
    (
        "code",
        """
ridge = Ridge(alpha=1.0)
ridge.fit(X_train, y_train)
print(f"ridge MAE: {mean_absolute_error(y_test, ridge.predict(X_test)):,.0f}")
""",
    ),
    (
        "code",
        """
quick = GradientBoostingRegressor(random_state=0)
quick.fit(X_train[["area_m2", "rooms"]], y_train)
quick_pred = quick.predict(X_test[["area_m2", "rooms"]])
print(f"area and rooms only: {mean_absolute_error(y_test, quick_pred):,.0f}")
""",
    ),
    (
        "code",
        """
gbr = GradientBoostingRegressor(n_estimators=150, max_depth=3, random_state=0)
gbr.fit(X_train, y_train)
predictions = gbr.predict(X_test)
print(f"gradient boosting MAE: {mean_absolute_error(y_test, predictions):,.0f}")
""",
    ),
]


# --- 3. text: a cleaning function, a vectorizer and a classifier kept apart ----------

TICKET_TEXT: list[Cell] = [
    ("md", "# Support ticket routing\n\nWhich team should answer a new ticket?"),
    (
        "code",
        """
import re

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import classification_report
from sklearn.model_selection import train_test_split
""",
    ),
    (
        "code",
        """
rng = np.random.default_rng(11)
TEMPLATES = {
    "billing": [
        "I was charged twice for {item}",
        "Refund for {item} please",
        "Invoice {n} shows the wrong amount",
        "Why is my {item} bill so high?",
    ],
    "technical": [
        "The {item} app crashes when I open it",
        "Error {n} when syncing {item}",
        "Cannot log in to {item} after the update",
        "{item} is very slow since yesterday",
    ],
    "account": [
        "How do I change the email on my {item} account?",
        "Please close my {item} account",
        "New password for {item} does not work",
        "Add a second user to {item}",
    ],
}
ITEMS = ["mobile", "desktop", "premium plan", "family plan", "router", "cloud backup"]
rows = []
for team, templates in TEMPLATES.items():
    for _ in range(80):
        text = str(rng.choice(templates)).format(item=rng.choice(ITEMS), n=rng.integers(100, 999))
        rows.append({"text": text + str(rng.choice(["", "!", "!!", " :(", "..."])), "team": team})
tickets = pd.DataFrame(rows).sample(frac=1.0, random_state=0).reset_index(drop=True)
tickets.head()
""",
    ),
    (
        "code",
        """
def clean_text(text):
    text = text.lower()
    text = re.sub(r"[^a-z0-9\\s]", " ", text)
    return re.sub(r"\\s+", " ", text).strip()


tickets["clean"] = tickets["text"].apply(clean_text)
tickets["team"].value_counts()
""",
    ),
    (
        "code",
        """
X_train, X_test, y_train, y_test = train_test_split(
    tickets["text"], tickets["team"], test_size=0.2, random_state=3, stratify=tickets["team"]
)
""",
    ),
    (
        "code",
        """
vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2)
X_train_vec = vectorizer.fit_transform(X_train.apply(clean_text))
X_test_vec = vectorizer.transform(X_test.apply(clean_text))
X_train_vec.shape
""",
    ),
    (
        "code",
        """
clf = LogisticRegression(max_iter=1000)
clf.fit(X_train_vec, y_train)
print(classification_report(y_test, clf.predict(X_test_vec)))
""",
    ),
    (
        "code",
        """
def route(text):
    \"\"\"The team a new ticket should go to.\"\"\"
    return clf.predict(vectorizer.transform([clean_text(text)]))[0]


route("I was charged twice for my premium plan!!")
""",
    ),
]


# --- 4. numpy arrays, a scaler, several models; run out of order; saved with pickle ---

SENSOR_OUT_OF_ORDER: list[Cell] = [
    ("md", "# Pump failure from sensor readings"),
    (
        "code",
        """
import pickle

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
""",
        2,
        [],
    ),
    (
        "code",
        """
rng = np.random.default_rng(0)
readings = rng.normal(size=(400, 6))
labels = (readings[:, 0] + 0.5 * readings[:, 3] - readings[:, 5] > 0).astype(int)
labels.mean()
""",
        1,
        [result("0.4925", 1)],
    ),
    (
        "code",
        """
X_train, X_test, y_train, y_test = train_test_split(
    readings, labels, test_size=0.25, random_state=0
)
scaler = StandardScaler()
X_train_s = scaler.fit_transform(X_train)
X_test_s = scaler.transform(X_test)
""",
        3,
        [],
    ),
    (
        "code",
        """
knn = KNeighborsClassifier(n_neighbors=7)
knn.fit(X_train_s, y_train)
knn.score(X_test_s, y_test)
""",
        6,
        [result("0.88", 6)],
    ),
    (
        "code",
        """
svc_small = SVC(random_state=0)
svc_small.fit(X_train_s[:, :3], y_train)
svc_small.score(X_test_s[:, :3], y_test)
""",
        4,
        [result("0.81", 4)],
    ),
    (
        "code",
        """
svc = SVC(C=2.0, random_state=0)
svc.fit(X_train_s, y_train)
svc.score(X_test_s, y_test)
""",
        5,
        [result("0.96", 5)],
    ),
    (
        "code",
        """
with open("pump_model.pkl", "wb") as f:
    pickle.dump(svc, f)
""",
        7,
        [],
    ),
]


# --- 5. magics and shell escapes -----------------------------------------------------

LOAN_MAGICS: list[Cell] = [
    ("md", "# Loan default\n\nGradient boosting on application data."),
    ("code", "!pip install --quiet --no-index scikit-learn pandas"),
    (
        "code",
        """
%load_ext autoreload
%autoreload 2
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split
""",
    ),
    ("code", "data_files = !ls\ndata_files"),
    (
        "code",
        """
rng = np.random.default_rng(5)
n = 800
loans = pd.DataFrame(
    {
        "income": rng.lognormal(10.5, 0.4, n).round(0),
        "loan_amount": rng.lognormal(9.5, 0.6, n).round(0),
        "term_months": rng.choice([12, 24, 36, 60], n),
        "credit_score": rng.normal(680, 60, n).clip(300, 850).round(0),
        "late_payments": rng.poisson(0.6, n),
    }
)
risk = (
    4 * loans["loan_amount"] / loans["income"]
    - (loans["credit_score"] - 680) / 50
    + 0.8 * loans["late_payments"]
)
loans["defaulted"] = (risk + rng.normal(0, 1, n) > 1.5).astype(int)
loans.describe()
""",
    ),
    (
        "code",
        """
X = loans.drop(columns="defaulted")
y = loans["defaulted"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
""",
    ),
    (
        "code",
        """
%%time
model = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.1, random_state=0)
model.fit(X_train, y_train)
""",
    ),
    ("code", "%time test_scores = model.predict_proba(X_test)[:, 1]"),
    ("code", "%who"),
]


# --- 6. a planted credential, in a source and in a saved output ----------------------

CHURN_CREDENTIALS: list[Cell] = [
    ("md", "# Account churn risk\n\nWhich accounts should the success team call?"),
    (
        "code",
        """
import os

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
""",
        1,
        [],
    ),
    (
        "code",
        """
# Warehouse access for the real extract (this PoC uses a synthetic one).
WAREHOUSE_URL = "postgresql://analyst:Tr0ub4dor-and-3@warehouse.internal:5432/sales"
REVIEW_THRESHOLD = 0.35
""",
        2,
        [],
    ),
    (
        "code",
        'print("extract key:", os.environ.get("EXTRACT_KEY", "<unset>"))',
        3,
        [stream("extract key: AKIA4Q7XK2M9R8T3WZ5N\n")],
    ),
    (
        "code",
        """
rng = np.random.default_rng(3)
n = 500
accounts = pd.DataFrame(
    {
        "seats": rng.integers(1, 200, n),
        "monthly_spend": rng.gamma(2.0, 400, n).round(2),
        "tickets_90d": rng.poisson(2, n),
        "nps": rng.integers(-100, 101, n),
    }
)
logit = -1.0 + 0.35 * accounts["tickets_90d"] - 0.015 * accounts["nps"] - 0.004 * accounts["seats"]
accounts["churned"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
""",
        4,
        [],
    ),
    (
        "code",
        """
features = ["seats", "monthly_spend", "tickets_90d", "nps"]
X_train, X_test, y_train, y_test = train_test_split(
    accounts[features], accounts["churned"], test_size=0.2, random_state=0
)
clf = LogisticRegression(max_iter=500)
clf.fit(X_train, y_train)
clf.score(X_test, y_test)
""",
        5,
        [result("0.74", 5)],
    ),
    (
        "code",
        """
def needs_review(account):
    \"\"\"Accounts whose churn risk is worth a call from the success team.\"\"\"
    risk = clf.predict_proba(account)[:, 1]
    return risk >= REVIEW_THRESHOLD


needs_review(X_test.head())
""",
        6,
        [result("array([False,  True, False, False,  True])", 6)],
    ),
]


# --- 7. hidden state: only runs in the kernel that wrote it (lint only) -------------

HIDDEN_STATE: list[Cell] = [
    ("md", "# Ad spend vs sales"),
    (
        "code",
        "import pandas as pd\nfrom sklearn.linear_model import LinearRegression",
        1,
        [],
    ),
    ("code", "model = LinearRegression()\nmodel.fit(features, target)", 3, []),
    (
        "code",
        """
sales = pd.DataFrame({"ads": [1.0, 2.0, 3.0, 4.0], "sales": [2.1, 3.9, 6.2, 7.8]})
features = sales[["ads"]]
target = sales["sales"]
""",
        2,
        [],
    ),
    (
        "code",
        'forecast = model.predict(pd.DataFrame({"ads": [5.0]})) * scale_factor\nforecast',
        4,
        [result("array([10.12])", 4)],
    ),
]

#: file stem -> (cells, what tag/lint should find)
NOTEBOOKS: dict[str, tuple[list[Cell], str]] = {
    "churn_pipeline": (CHURN_PIPELINE, "pipeline in memory; a baseline on one column"),
    "house_prices": (HOUSE_PRICES, "pandas features with a fitted statistic; 3 models"),
    "ticket_text": (TICKET_TEXT, "text; the notebook's own routing function"),
    "sensor_out_of_order": (SENSOR_OUT_OF_ORDER, "arrays; pickle; out-of-order runs"),
    "loan_magics": (LOAN_MAGICS, "!pip, x = !ls, %%time, %time, %who"),
    "churn_credentials": (CHURN_CREDENTIALS, "a password in a URL, a key in an output"),
    "hidden_state": (HIDDEN_STATE, "names only the saving kernel had (lint only)"),
}


def render() -> dict[str, str]:
    """Every generated file: path relative to OUT -> text."""
    files = {
        f"{stem}.ipynb": notebook(stem, cells) for stem, (cells, _) in NOTEBOOKS.items()
    }
    files["data/customers.csv"] = customers_csv()
    return files


def main() -> int:
    files = render()
    for rel, text in files.items():
        path = OUT / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print("\n".join(sorted(files)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
