"""Write the idiom test notebooks in tests/notebooks/idioms/.

The notebooks people actually write, for `nb2svc tag` to find the model in: course-book
chapters with markdown between the cells, Kaggle-style notebooks heavy on exploration,
and messy ones with dead cells and re-fits. Every notebook is unmarked (no nb2svc
markers), has no saved outputs, needs no download (scikit-learn's bundled datasets or
data generated with a seeded RNG) and runs top to bottom in a fresh kernel in seconds.

EXPECTED is the machine-readable answer key: for each notebook, the model the notebook
settles on (the one it saves; else the one it used last to predict on held-out or new
data) as an expression over the kernel's globals, the other fitted objects serving needs,
and what the service should take as input: the raw input, before the notebook's own
cleaning. tests/test_idiom_notebooks.py runs every notebook and checks the key against
the kernel; the tag tests check `nb2svc tag` against it.

Run from anywhere:  python tests/notebooks/make_tagged.py
The output is deterministic; a test checks the committed files match it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "idioms"

sys.path.insert(0, str(HERE))
from make_unmarked import Cell, notebook  # noqa: E402  (the same notebook writer)

sys.path.pop(0)


@dataclass(frozen=True)
class Expected:
    """What a mature `nb2svc tag` should make of one notebook."""

    #: Expression over the kernel's globals giving the model the notebook settles on
    #: (usually a variable name); None when nothing should be served.
    model: str | None
    #: Public import path of the model's type, checked with isinstance in the kernel.
    model_type: str | None
    #: The service's raw input, before the notebook's own cleaning:
    #: record (a dict) | frame (DataFrame rows) | string | horizon (forecast steps) |
    #: None (refuse).
    input_kind: str | None
    note: str
    style: str  # course | kaggle | messy | plain
    #: Expression over the kernel's globals giving raw inputs as the notebook last
    #: scored them (new or held-out data, before its own cleaning): a dict, rows of a
    #: DataFrame, a list of strings, or the forecast horizon.
    raw_input: str | None = None
    #: The raw input's columns (a frame) or keys (a record), in order, each with
    #: "text" or "number": what the service's requests carry, before the notebook
    #: encodes them (a category is text, not the notebook's codes).
    raw_columns: tuple[tuple[str, str], ...] = ()
    #: Other notebook globals serving needs (fitted encoders, the cleaning function).
    companions: tuple[str, ...] = ()
    #: Files the notebook writes next to itself (the saved model); not committed.
    saves: tuple[str, ...] = ()
    #: Config the service should expose (a decision threshold, say).
    config: tuple[str, ...] = ()
    #: Models fitted that are NOT the one to serve (traps, baselines, exercises).
    decoys: tuple[str, ...] = ()
    #: For a refusal: the candidates a good message lists (class names).
    candidates: tuple[str, ...] = ()


def columns(spec: str) -> tuple[tuple[str, str], ...]:
    """ "a:number, b:text" -> (("a", "number"), ("b", "text"))."""
    pairs = (item.rsplit(":", 1) for item in spec.split(", "))
    return tuple((name.strip(), kind) for name, kind in pairs)


# --- 1. course book: DictVectorizer + LogisticRegression from a train() helper -------

CHURN_COURSE_BOOK: list[Cell] = [
    (
        "md",
        """
# Chapter 3 — Churn prediction

A telecom company wants to know which customers are about to cancel, so that the
retention team can call them with an offer first. We frame this as **binary
classification**: for each customer, the model gives the probability of churn.

In this chapter we will:

1. prepare the data (types, missing values, consistent category names);
2. look at which features matter (churn rate and risk ratio per group);
3. one-hot encode with `DictVectorizer` and train a logistic regression;
4. tune the regularisation with K-fold cross-validation;
5. save the model and use it on one customer.
""",
    ),
    (
        "code",
        """
import pickle

import numpy as np
import pandas as pd
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold, train_test_split
""",
    ),
    (
        "md",
        """
## 3.1 The data

The real export can't be shared, so we simulate customers with the same columns and
roughly the same relationships. The seed makes every run of this chapter identical.
""",
    ),
    (
        "code",
        """
rng = np.random.default_rng(1)
n = 1500

raw = pd.DataFrame(
    {
        "customerID": [f"{i:04d}-CUST" for i in range(n)],
        "gender": rng.choice(["Female", "Male"], n),
        "SeniorCitizen": (rng.random(n) < 0.16).astype(int),
        "Partner": rng.choice(["Yes", "No"], n),
        "Dependents": rng.choice(["Yes", "No"], n, p=[0.3, 0.7]),
        "tenure": rng.integers(0, 73, n),
        "PhoneService": rng.choice(["Yes", "No"], n, p=[0.9, 0.1]),
        "InternetService": rng.choice(
            ["DSL", "Fiber optic", "No"], n, p=[0.35, 0.44, 0.21]
        ),
        "Contract": rng.choice(
            ["Month-to-month", "One year", "Two year"], n, p=[0.55, 0.21, 0.24]
        ),
        "PaymentMethod": rng.choice(
            [
                "Electronic check",
                "Mailed check",
                "Bank transfer (automatic)",
                "Credit card (automatic)",
            ],
            n,
        ),
        "MonthlyCharges": rng.normal(65, 30, n).clip(18, 120).round(2),
    }
)
# The export stores TotalCharges as text, with a blank for brand-new customers.
raw["TotalCharges"] = (raw["tenure"] * raw["MonthlyCharges"]).round(2).astype(str)
raw.loc[raw["tenure"] == 0, "TotalCharges"] = " "

logit = (
    -1.2
    + 1.1 * (raw["Contract"] == "Month-to-month")
    - 0.03 * raw["tenure"]
    + 0.6 * (raw["InternetService"] == "Fiber optic")
    + 0.4 * (raw["PaymentMethod"] == "Electronic check")
    + 0.3 * raw["SeniorCitizen"]
)
raw["Churn"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "Yes", "No")
raw.head().T
""",
    ),
    (
        "md",
        """
## 3.2 Data preparation

Column names and string values are inconsistent (`SeniorCitizen`, `Fiber optic`): we
lower-case everything and replace spaces with underscores. `TotalCharges` is text
because of the blanks: `pd.to_numeric(..., errors="coerce")` turns those into NaN,
which we fill with 0 (a new customer has paid nothing yet).
""",
    ),
    (
        "code",
        """
df = raw.copy()
df.columns = df.columns.str.lower().str.replace(" ", "_")

string_columns = [c for c in df.columns if pd.api.types.is_string_dtype(df[c])]
for c in string_columns:
    df[c] = df[c].str.lower().str.replace(" ", "_")

df.totalcharges = pd.to_numeric(df.totalcharges, errors="coerce")
df.totalcharges = df.totalcharges.fillna(0)
df.churn = (df.churn == "yes").astype(int)
df.head().T
""",
    ),
    (
        "md",
        """
## 3.3 Validation framework

60% train, 20% validation, 20% test. We keep `df_full_train` (train + validation) for
the final model.
""",
    ),
    (
        "code",
        """
df_full_train, df_test = train_test_split(df, test_size=0.2, random_state=1)
df_train, df_val = train_test_split(df_full_train, test_size=0.25, random_state=1)

df_train = df_train.reset_index(drop=True)
df_val = df_val.reset_index(drop=True)
df_test = df_test.reset_index(drop=True)

y_train = df_train.churn.values
y_val = df_val.churn.values
y_test = df_test.churn.values

del df_train["churn"]
del df_val["churn"]
del df_test["churn"]

len(df_train), len(df_val), len(df_test)
""",
    ),
    (
        "md",
        """
## 3.4 Feature importance: churn rate and risk ratio

The **risk ratio** of a group is its churn rate divided by the global churn rate:
above 1, the group is more likely to churn.
""",
    ),
    (
        "code",
        """
numerical = ["tenure", "monthlycharges", "totalcharges"]
categorical = [
    "gender",
    "seniorcitizen",
    "partner",
    "dependents",
    "phoneservice",
    "internetservice",
    "contract",
    "paymentmethod",
]

df_full_train = df_full_train.reset_index(drop=True)
global_churn = df_full_train.churn.mean()
round(global_churn, 3)
""",
    ),
    (
        "code",
        """
for c in ["contract", "internetservice", "paymentmethod"]:
    df_group = df_full_train.groupby(c).churn.agg(["mean", "count"])
    df_group["diff"] = df_group["mean"] - global_churn
    df_group["risk"] = df_group["mean"] / global_churn
    print(df_group.round(3), end="\\n\\n")
""",
    ),
    (
        "md",
        """
## 3.5 One-hot encoding and training

`DictVectorizer` turns a list of dicts into a matrix: string values become one-hot
columns, numbers pass through. We wrap training and prediction in two small functions,
because we'll call them many times during tuning.
""",
    ),
    (
        "code",
        """
def train(df_train, y_train, C=1.0):
    dicts = df_train[categorical + numerical].to_dict(orient="records")

    dv = DictVectorizer(sparse=False)
    X_train = dv.fit_transform(dicts)

    model = LogisticRegression(solver="liblinear", C=C, max_iter=1000)
    model.fit(X_train, y_train)

    return dv, model


def predict(df, dv, model):
    dicts = df[categorical + numerical].to_dict(orient="records")

    X = dv.transform(dicts)
    y_pred = model.predict_proba(X)[:, 1]

    return y_pred
""",
    ),
    (
        "code",
        """
dv, model = train(df_train, y_train, C=0.001)
y_pred = predict(df_val, dv, model)
round(roc_auc_score(y_val, y_pred), 3)
""",
    ),
    (
        "md",
        """
## 3.6 Tuning `C` with K-fold cross-validation

Small `C` means strong regularisation. For each value we train on 4 folds and score
the fifth, five times, and look at the mean and the spread of the AUC.
""",
    ),
    (
        "code",
        """
n_splits = 5

for C in [0.001, 0.01, 0.1, 0.5, 1, 5]:
    kfold = KFold(n_splits=n_splits, shuffle=True, random_state=1)
    scores = []

    for train_idx, val_idx in kfold.split(df_full_train):
        df_tr = df_full_train.iloc[train_idx]
        df_va = df_full_train.iloc[val_idx]

        dv, model = train(df_tr, df_tr.churn.values, C=C)
        y_pred = predict(df_va, dv, model)
        scores.append(roc_auc_score(df_va.churn.values, y_pred))

    print(f"C={C:<6} {np.mean(scores):.3f} +- {np.std(scores):.3f}")
""",
    ),
    (
        "md",
        """
## 3.7 The final model

`C=1.0` is as good as any: we train on the full training data and check the test set
once.
""",
    ),
    (
        "code",
        """
C = 1.0
dv, model = train(df_full_train, df_full_train.churn.values, C=C)
y_pred = predict(df_test, dv, model)
auc = roc_auc_score(y_test, y_pred)
round(auc, 3)
""",
    ),
    (
        "md",
        """
## 3.8 Saving the model

We pickle the vectorizer together with the model: one without the other is useless.
""",
    ),
    (
        "code",
        """
output_file = f"model_C={C}.bin"

with open(output_file, "wb") as f_out:
    pickle.dump((dv, model), f_out)

output_file
""",
    ),
    (
        "md",
        """
## 3.9 Using the model

A customer arrives as a dict, already in our lower-case format. The model gives the
probability that they churn.
""",
    ),
    (
        "code",
        """
customer = {
    "gender": "female",
    "seniorcitizen": 0,
    "partner": "yes",
    "dependents": "no",
    "phoneservice": "no",
    "internetservice": "dsl",
    "contract": "month-to-month",
    "paymentmethod": "electronic_check",
    "tenure": 1,
    "monthlycharges": 29.85,
    "totalcharges": 29.85,
}

X = dv.transform([customer])
model.predict_proba(X)[0, 1]
""",
    ),
    (
        "md",
        """
In the next chapter we put this model behind a web service, so that the marketing
team's tools can ask for a prediction.
""",
    ),
]


# --- 2. cross_validate(..., return_estimator=True): the best fold's estimator --------

WINE_CROSS_VALIDATE: list[Cell] = [
    ("md", "# Wine cultivar classifier\n\nWhich of three cultivars is a wine from?"),
    (
        "code",
        """
import joblib
import numpy as np
import pandas as pd
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import classification_report
from sklearn.model_selection import cross_validate, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
""",
    ),
    (
        "code",
        """
wine = load_wine(as_frame=True)
X, y = wine.data, wine.target
print(X.shape)
y.value_counts().sort_index()
""",
    ),
    ("code", "X.describe().T[['mean', 'std', 'min', 'max']].round(2)"),
    (
        "code",
        """
X_dev, X_holdout, y_dev, y_holdout = train_test_split(
    X, y, test_size=0.2, random_state=0, stratify=y
)
""",
    ),
    ("md", "Five folds; keep each fold's fitted pipeline to inspect it."),
    (
        "code",
        """
pipe = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))
cv = cross_validate(
    pipe,
    X_dev,
    y_dev,
    cv=5,
    scoring=["accuracy", "f1_macro"],
    return_train_score=True,
    return_estimator=True,
)
pd.DataFrame({k: v for k, v in cv.items() if k != "estimator"}).round(3)
""",
    ),
    (
        "code",
        """
coefs = np.stack([est[-1].coef_ for est in cv["estimator"]])
print("coefficient spread across folds:", coefs.std(axis=0).max().round(3))
""",
    ),
    ("md", "Keep the fold with the best macro F1."),
    (
        "code",
        """
best = int(np.argmax(cv["test_f1_macro"]))
final_model = cv["estimator"][best]
print(f"fold {best}: macro F1 {cv['test_f1_macro'][best]:.3f}")
""",
    ),
    (
        "code",
        """
holdout_pred = final_model.predict(X_holdout)
print(classification_report(y_holdout, holdout_pred, target_names=wine.target_names))
""",
    ),
    ("code", 'joblib.dump(final_model, "wine_classifier.joblib")'),
]


# --- 3. GridSearchCV: best_estimator_ saved with joblib ------------------------------

CANCER_GRID_SEARCH: list[Cell] = [
    (
        "md",
        """
# Breast cancer diagnosis — random forest, tuned

Wisconsin diagnostic data (bundled with scikit-learn). Target: 1 = benign, 0 = malignant.
""",
    ),
    (
        "code",
        """
import joblib
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
""",
    ),
    (
        "code",
        """
data = load_breast_cancer(as_frame=True)
df = data.frame
df.shape
""",
    ),
    ("code", 'df["target"].map(dict(enumerate(data.target_names))).value_counts()'),
    (
        "code",
        """
# most discriminating features, by difference of class means in std units
means = df.groupby("target").mean()
((means.loc[1] - means.loc[0]) / df.drop(columns="target").std()).abs().sort_values(
    ascending=False
).head(8)
""",
    ),
    (
        "code",
        """
X = df.drop(columns="target")
y = df["target"]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=42, stratify=y
)
""",
    ),
    ("md", "## Grid search\n\nA small grid; 4-fold stratified CV on ROC AUC."),
    (
        "code",
        """
param_grid = {
    "n_estimators": [50, 100],
    "max_depth": [4, None],
    "min_samples_leaf": [1, 3],
}
grid = GridSearchCV(
    RandomForestClassifier(random_state=0),
    param_grid,
    cv=StratifiedKFold(n_splits=4, shuffle=True, random_state=0),
    scoring="roc_auc",
)
grid.fit(X_train, y_train)
""",
    ),
    (
        "code",
        """
results = pd.DataFrame(grid.cv_results_)
results.sort_values("rank_test_score")[
    ["params", "mean_test_score", "std_test_score"]
].head()
""",
    ),
    ("code", "grid.best_params_, round(grid.best_score_, 4)"),
    (
        "code",
        """
test_auc = roc_auc_score(y_test, grid.predict_proba(X_test)[:, 1])
print(f"test ROC AUC: {test_auc:.4f}")
""",
    ),
    ("code", 'joblib.dump(grid.best_estimator_, "cancer_rf.joblib")'),
]


# --- 4. RandomizedSearchCV: best_estimator_ bound to a name, then saved ---------------

DIABETES_RANDOM_SEARCH: list[Cell] = [
    ("md", "# Disease progression after one year (diabetes data)"),
    (
        "code",
        """
import joblib
import numpy as np
import pandas as pd
from scipy.stats import loguniform, randint
from sklearn.datasets import load_diabetes
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import RandomizedSearchCV, train_test_split
""",
    ),
    (
        "code",
        """
diabetes = load_diabetes(as_frame=True, scaled=False)
df = diabetes.frame
df.head()
""",
    ),
    ("code", 'df.corr()["target"].drop("target").sort_values()'),
    (
        "code",
        """
X_train, X_test, y_train, y_test = train_test_split(
    df.drop(columns="target"), df["target"], test_size=0.2, random_state=3
)
""",
    ),
    ("md", "Baseline: ordinary least squares."),
    (
        "code",
        """
lin = LinearRegression().fit(X_train, y_train)
print("OLS  MAE", round(mean_absolute_error(y_test, lin.predict(X_test)), 1))
""",
    ),
    ("md", "Gradient boosting with a random search over its main knobs."),
    (
        "code",
        """
search = RandomizedSearchCV(
    HistGradientBoostingRegressor(random_state=0),
    {
        "learning_rate": loguniform(0.02, 0.3),
        "max_leaf_nodes": randint(4, 32),
        "min_samples_leaf": randint(5, 40),
        "l2_regularization": loguniform(1e-3, 10),
    },
    n_iter=8,
    cv=3,
    scoring="neg_mean_absolute_error",
    random_state=0,
)
search.fit(X_train, y_train)
search.best_params_
""",
    ),
    (
        "code",
        """
best_model = search.best_estimator_
pred = best_model.predict(X_test)
print("HGB  MAE", round(mean_absolute_error(y_test, pred), 1), "R2", round(r2_score(y_test, pred), 3))
""",
    ),
    (
        "code",
        """
residuals = pd.Series(y_test.values - pred, index=y_test.index)
residuals.describe().round(1)
""",
    ),
    ("code", 'joblib.dump(best_model, "progression_hgb.joblib", compress=3)'),
]


# --- 5. native xgboost: xgb.train on DMatrix, predict on a DMatrix --------------------

CONVERSION_XGB_NATIVE: list[Cell] = [
    (
        "md",
        """
# Visitor conversion — XGBoost baseline

Train/test like a competition: `train` has the label, `test` (new visitors) doesn't.
Native XGBoost API with early stopping on a validation split.
""",
    ),
    (
        "code",
        """
import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.datasets import make_classification
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split

pd.set_option("display.max_columns", 30)
""",
    ),
    (
        "code",
        """
FEATURES = [
    "basket_value",
    "account_age_days",
    "logins_30d",
    "avg_session_min",
    "pages_per_visit",
    "bounce_rate",
    "cart_adds",
    "discount_used",
    "mobile_share",
    "support_tickets",
    "days_since_last_visit",
    "referral_score",
]
X_all, y_all = make_classification(
    n_samples=3000,
    n_features=len(FEATURES),
    n_informative=6,
    n_redundant=2,
    weights=[0.8],
    flip_y=0.02,
    random_state=11,
)
frame = pd.DataFrame(X_all, columns=FEATURES)
frame["converted"] = y_all
train = frame.iloc[:2500].reset_index(drop=True)
test = frame.iloc[2500:].drop(columns="converted").reset_index(drop=True)
train.shape, test.shape
""",
    ),
    ("md", "## EDA"),
    ("code", "train.describe().T.round(2)"),
    ("code", 'train["converted"].value_counts(normalize=True).round(3)'),
    (
        "code",
        """
train.corr()["converted"].drop("converted").sort_values(key=abs, ascending=False).round(3)
""",
    ),
    (
        "code",
        'train.groupby("converted")[["cart_adds", "bounce_rate"]].mean().round(2)',
    ),
    ("code", "train.isna().sum().sum(), test.isna().sum().sum()"),
    ("md", "## Model"),
    (
        "code",
        """
X_tr, X_va, y_tr, y_va = train_test_split(
    train[FEATURES],
    train["converted"],
    test_size=0.25,
    random_state=7,
    stratify=train["converted"],
)
dtrain = xgb.DMatrix(X_tr, label=y_tr)
dvalid = xgb.DMatrix(X_va, label=y_va)

params = {
    "objective": "binary:logistic",
    "eval_metric": "auc",
    "eta": 0.1,
    "max_depth": 4,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "seed": 42,
    "nthread": 1,
}
booster = xgb.train(
    params,
    dtrain,
    num_boost_round=300,
    evals=[(dtrain, "train"), (dvalid, "valid")],
    early_stopping_rounds=25,
    verbose_eval=50,
)
booster.best_iteration
""",
    ),
    (
        "code",
        """
best_rounds = (0, booster.best_iteration + 1)
valid_pred = booster.predict(dvalid, iteration_range=best_rounds)
print(f"valid AUC {roc_auc_score(y_va, valid_pred):.4f}  logloss {log_loss(y_va, valid_pred):.4f}")
""",
    ),
    (
        "code",
        """
pd.Series(booster.get_score(importance_type="gain")).sort_values(ascending=False).round(1)
""",
    ),
    ("md", "## Predict the test set"),
    (
        "code",
        """
dtest = xgb.DMatrix(test[FEATURES])
submission = pd.DataFrame(
    {"visitor": np.arange(len(test)), "converted": booster.predict(dtest, iteration_range=best_rounds)}
)
submission.head()
""",
    ),
    ("code", 'booster.save_model("conversion_xgb.json")'),
]


# --- 6. native lightgbm: lgb.train on a Dataset with pandas categoricals --------------

LOAN_DEFAULT_LIGHTGBM: list[Cell] = [
    ("md", "# Loan default — LightGBM"),
    (
        "code",
        """
import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
""",
    ),
    (
        "code",
        """
rng = np.random.default_rng(5)
n = 2500
loans = pd.DataFrame(
    {
        "income": rng.lognormal(10.8, 0.5, n).round(-2),
        "loan_amount": rng.lognormal(9.3, 0.6, n).round(-2),
        "term_months": rng.choice([36, 60], n, p=[0.7, 0.3]),
        "grade": rng.choice(list("ABCDEFG"), n, p=[0.2, 0.28, 0.25, 0.14, 0.08, 0.03, 0.02]),
        "home_ownership": rng.choice(["RENT", "OWN", "MORTGAGE"], n, p=[0.45, 0.1, 0.45]),
        "emp_length": rng.integers(0, 11, n),
        "dti": rng.gamma(4, 4.5, n).round(2),
        "revol_util": rng.beta(2, 2, n).round(3),
    }
)
grade_risk = loans["grade"].map(dict(zip("ABCDEFG", np.linspace(-1.5, 1.5, 7))))
z = (
    -2.2
    + grade_risk
    + 0.9 * np.log(loans["loan_amount"] / loans["income"] * 10)
    + 0.35 * (loans["term_months"] == 60)
    + 0.02 * loans["dti"]
    - 0.04 * loans["emp_length"]
)
loans["defaulted"] = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
loans.head()
""",
    ),
    ("code", 'loans.groupby("grade")["defaulted"].agg(["mean", "size"]).round(3)'),
    ("code", 'loans["defaulted"].mean()'),
    ("md", "LightGBM handles pandas categoricals natively."),
    (
        "code",
        """
CATEGORICAL = ["grade", "home_ownership"]
for col in CATEGORICAL:
    loans[col] = loans[col].astype("category")

X = loans.drop(columns="defaulted")
y = loans["defaulted"]
X_train, X_valid, y_train, y_valid = train_test_split(
    X, y, test_size=0.2, random_state=1, stratify=y
)
""",
    ),
    (
        "code",
        """
train_set = lgb.Dataset(X_train, label=y_train)
valid_set = lgb.Dataset(X_valid, label=y_valid, reference=train_set)
params = {
    "objective": "binary",
    "metric": "auc",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 30,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "seed": 3,
    "num_threads": 1,
    "deterministic": True,
    "verbose": -1,
}
gbm = lgb.train(
    params,
    train_set,
    num_boost_round=400,
    valid_sets=[valid_set],
    callbacks=[lgb.early_stopping(30, verbose=False), lgb.log_evaluation(100)],
)
gbm.best_iteration
""",
    ),
    (
        "code",
        """
valid_pred = gbm.predict(X_valid, num_iteration=gbm.best_iteration)
print(f"validation AUC: {roc_auc_score(y_valid, valid_pred):.4f}")
""",
    ),
    (
        "code",
        """
pd.Series(gbm.feature_importance("gain"), index=gbm.feature_name()).sort_values(
    ascending=False
).round(0)
""",
    ),
    (
        "code",
        'gbm.save_model("loan_default_lgb.txt", num_iteration=gbm.best_iteration)',
    ),
    ("md", "Scoring this week's applications (the grades come in as plain text)."),
    (
        "code",
        """
incoming = pd.DataFrame(
    {
        "income": [42000.0, 91000.0, 28500.0],
        "loan_amount": [12000.0, 8000.0, 15000.0],
        "term_months": [36, 36, 60],
        "grade": ["C", "A", "E"],
        "home_ownership": ["RENT", "MORTGAGE", "RENT"],
        "emp_length": [2, 10, 0],
        "dti": [18.4, 9.1, 31.0],
        "revol_util": [0.62, 0.21, 0.88],
    }
)
applications = incoming.copy()
for col in CATEGORICAL:
    applications[col] = pd.Categorical(
        applications[col], categories=loans[col].cat.categories
    )
incoming.assign(p_default=gbm.predict(applications, num_iteration=gbm.best_iteration))
""",
    ),
]


# --- 7. statsmodels formula API: smf.logit(...).fit(), predict on a DataFrame ---------

ADMISSIONS_STATSMODELS: list[Cell] = [
    (
        "md",
        """
# Graduate admissions — logistic regression with statsmodels

How do GRE score, GPA and the prestige rank of the undergraduate school (1 = highest)
relate to admission? We want interpretable coefficients, so: formulas, not pipelines.
""",
    ),
    (
        "code",
        """
import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from sklearn.metrics import roc_auc_score
""",
    ),
    (
        "code",
        """
rng = np.random.default_rng(12)
n = 600
admissions = pd.DataFrame(
    {
        "gre": rng.normal(580, 110, n).clip(220, 800).round(-1),
        "gpa": rng.normal(3.4, 0.38, n).clip(2.2, 4.0).round(2),
        "rank": rng.choice([1, 2, 3, 4], n, p=[0.15, 0.38, 0.3, 0.17]),
    }
)
z = (
    -3.4
    + 0.0025 * admissions["gre"]
    + 0.8 * admissions["gpa"]
    - 0.55 * (admissions["rank"] - 1)
)
admissions["admit"] = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
admissions.describe().round(2)
""",
    ),
    ("code", 'pd.crosstab(admissions["admit"], admissions["rank"], margins=True)'),
    (
        "code",
        """
train = admissions.sample(frac=0.8, random_state=0)
test = admissions.drop(train.index)
len(train), len(test)
""",
    ),
    ("md", "## A linear probability model first"),
    (
        "code",
        """
lpm = smf.ols("admit ~ gre + gpa + C(rank)", data=train).fit()
print(lpm.summary().tables[1])
""",
    ),
    ("md", "## Logit"),
    (
        "code",
        """
logit_res = smf.logit("admit ~ gre + gpa + C(rank)", data=train).fit(disp=0)
print(logit_res.summary())
""",
    ),
    ("md", "Odds ratios with their 95% confidence intervals:"),
    (
        "code",
        """
ci = logit_res.conf_int()
ci.columns = ["2.5%", "97.5%"]
np.exp(ci.assign(OR=logit_res.params)).round(3)
""",
    ),
    (
        "code",
        """
for name, res in [("LPM", lpm), ("logit", logit_res)]:
    print(name, round(roc_auc_score(test["admit"], res.predict(test)), 3))
""",
    ),
    ("md", "## This year's applicants"),
    (
        "code",
        """
applicants = pd.DataFrame(
    {"gre": [640.0, 520.0, 760.0], "gpa": [3.6, 3.1, 3.9], "rank": [2, 3, 1]}
)
applicants.assign(p_admit=logit_res.predict(applicants).round(3))
""",
    ),
]


# --- 8. clustering served by predict: a scaler fitted in the notebook ----------------

IRIS_KMEANS: list[Cell] = [
    (
        "md",
        """
# Unsupervised: finding species without labels

k-means on the four iris measurements. k-means uses Euclidean distance, so we
standardise first; then we choose k with the elbow and the silhouette, and check the
clusters against the species we pretended not to know.
""",
    ),
    (
        "code",
        """
import joblib
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
""",
    ),
    (
        "code",
        """
iris = load_iris(as_frame=True)
flowers = iris.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
flowers.head()
""",
    ),
    (
        "code",
        """
scaler = StandardScaler()
X = scaler.fit_transform(flowers)
""",
    ),
    ("md", "## Choosing k"),
    (
        "code",
        """
scores = {}
for k in range(2, 9):
    km = KMeans(n_clusters=k, n_init=10, random_state=42)
    km.fit(X)
    scores[k] = {"inertia": km.inertia_, "silhouette": silhouette_score(X, km.labels_)}
pd.DataFrame(scores).T.round(3)
""",
    ),
    (
        "md",
        "The elbow is at 3, and we know there are three species: k = 3.",
    ),
    (
        "code",
        """
kmeans = KMeans(n_clusters=3, n_init=10, random_state=42)
kmeans.fit(X)
pd.crosstab(kmeans.labels_, iris.target.map(dict(enumerate(iris.target_names))))
""",
    ),
    (
        "code",
        """
centres = pd.DataFrame(
    scaler.inverse_transform(kmeans.cluster_centers_), columns=flowers.columns
)
centres.round(2)
""",
    ),
    ("md", "## Assigning new flowers"),
    (
        "code",
        """
new_flowers = pd.DataFrame(
    {
        "sepal_length": [5.0, 6.7, 5.9],
        "sepal_width": [3.4, 3.0, 2.8],
        "petal_length": [1.5, 5.2, 4.3],
        "petal_width": [0.2, 2.1, 1.3],
    }
)
kmeans.predict(scaler.transform(new_flowers))
""",
    ),
    (
        "code",
        'joblib.dump({"scaler": scaler, "kmeans": kmeans}, "iris_clusters.joblib")',
    ),
]


# --- 9. clustering by fit_predict in a pipeline, pickled -----------------------------

MALL_SEGMENTS: list[Cell] = [
    ("md", "# Mall customer segmentation"),
    (
        "code",
        """
import pickle

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
""",
    ),
    (
        "code",
        """
rng = np.random.default_rng(8)
profiles = [  # age, income (k$), spending score, share of customers
    (24, 28, 76, 0.2),
    (44, 86, 18, 0.2),
    (32, 84, 82, 0.2),
    (53, 48, 46, 0.25),
    (41, 24, 17, 0.15),
]
parts = []
for age, income, score, share in profiles:
    size = int(240 * share)
    parts.append(
        pd.DataFrame(
            {
                "age": rng.normal(age, 5, size).round().clip(18, 70).astype(int),
                "annual_income_k": rng.normal(income, 8, size).round().clip(12, 140),
                "spending_score": rng.normal(score, 8, size).round().clip(1, 100),
            }
        )
    )
mall = pd.concat(parts, ignore_index=True).sample(frac=1, random_state=8)
mall.insert(0, "customer_id", range(1, len(mall) + 1))
mall.insert(1, "gender", rng.choice(["Female", "Male"], len(mall), p=[0.56, 0.44]))
mall = mall.reset_index(drop=True)
mall.head()
""",
    ),
    ("code", "mall.describe().round(1)"),
    (
        "code",
        'mall.groupby("gender")[["annual_income_k", "spending_score"]].mean().round(1)',
    ),
    (
        "code",
        """
features = ["age", "annual_income_k", "spending_score"]
segmenter = make_pipeline(StandardScaler(), KMeans(n_clusters=5, n_init=10, random_state=0))
mall["segment"] = segmenter.fit_predict(mall[features])
mall["segment"].value_counts().sort_index()
""",
    ),
    (
        "code",
        """
summary = mall.groupby("segment")[features].mean().round(1)
summary["size"] = mall["segment"].value_counts().sort_index()
summary
""",
    ),
    ("md", "Hand the segmenter to the CRM team."),
    (
        "code",
        """
with open("mall_segmenter.pkl", "wb") as f:
    pickle.dump(segmenter, f)
""",
    ),
]


# --- 10. text: the notebook's own regex cleaning before a TfidfVectorizer --------------

TICKET_TRIAGE_TFIDF: list[Cell] = [
    (
        "md",
        """
# Support ticket triage

Route incoming tickets to billing / technical / account / delivery. Tickets are messy:
URLs, e-mail addresses, order numbers, shouting. We clean with a few regexes, then
TF-IDF + a linear model.
""",
    ),
    (
        "code",
        """
import re

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import classification_report, f1_score
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import MultinomialNB
""",
    ),
    (
        "code",
        """
rng = np.random.default_rng(21)
PHRASES = {
    "billing": [
        "I was charged twice for order {num}",
        "refund still not received for invoice {num}",
        "why is my bill higher this month",
        "the payment failed but the money left my account",
        "please cancel the extra charge on my card",
        "VAT is wrong on invoice {num}",
    ],
    "technical": [
        "the app crashes when I open settings",
        "cannot connect, error code {num}",
        "the page at {url} keeps loading forever",
        "login button does nothing on android",
        "sync stopped working after the update",
        "video playback freezes every few seconds",
    ],
    "account": [
        "please change the email on my account to {email}",
        "how do I reset my password",
        "I want to delete my account and my data",
        "two factor codes never arrive on my phone",
        "my username was changed without my consent",
        "merge my two accounts please",
    ],
    "delivery": [
        "parcel {num} has not arrived yet",
        "tracking at {url} says delivered but nothing came",
        "the courier left the box in the rain",
        "wrong item delivered for order {num}",
        "can I change the delivery address for order {num}",
        "package arrived damaged",
    ],
}
OPENERS = ["", "Hi, ", "Hello team! ", "URGENT: ", "hey ", "Good morning, "]
CLOSERS = ["", " Thanks.", " Please help!!", " regards, Sam", " ASAP", " :("]

rows = []
for _ in range(900):
    label = rng.choice(list(PHRASES))
    body = rng.choice(PHRASES[label]).format(
        num=int(rng.integers(1000, 99999)),
        url=f"https://shop.example.com/orders/{int(rng.integers(100, 999))}",
        email=f"user{int(rng.integers(1, 500))}@mail.example.org",
    )
    text = rng.choice(OPENERS) + body + rng.choice(CLOSERS)
    if rng.random() < 0.15:
        text = text.upper()
    rows.append((text, label))
tickets = pd.DataFrame(rows, columns=["text", "team"])
tickets.sample(5, random_state=0)
""",
    ),
    ("md", "## EDA"),
    ("code", 'tickets["team"].value_counts()'),
    ("code", 'tickets["text"].str.len().describe().round(1)'),
    (
        "code",
        """
tickets.assign(
    has_url=tickets["text"].str.contains("http"),
    shouting=tickets["text"].str.isupper(),
).groupby("team")[["has_url", "shouting"]].mean().round(2)
""",
    ),
    ("md", "## Cleaning"),
    (
        "code",
        """
def clean_text(text):
    text = text.lower()
    text = re.sub(r"https?://\\S+|www\\.\\S+", " url ", text)
    text = re.sub(r"\\S+@\\S+", " email ", text)
    text = re.sub(r"\\d+", " num ", text)
    text = re.sub(r"[^a-z\\s]", " ", text)
    return re.sub(r"\\s+", " ", text).strip()


clean_text("URGENT: parcel 12345 at https://x.example.com/t/1 ... NOT here!!")
""",
    ),
    (
        "code",
        """
tickets["clean"] = tickets["text"].map(clean_text)
X_train, X_test, y_train, y_test = train_test_split(
    tickets["clean"], tickets["team"], test_size=0.25, random_state=4, stratify=tickets["team"]
)
vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
X_train_vec = vectorizer.fit_transform(X_train)
X_test_vec = vectorizer.transform(X_test)
X_train_vec.shape
""",
    ),
    ("md", "## Models"),
    (
        "code",
        """
nb = MultinomialNB().fit(X_train_vec, y_train)
print("naive Bayes macro F1:", round(f1_score(y_test, nb.predict(X_test_vec), average="macro"), 3))
""",
    ),
    (
        "code",
        """
clf = LogisticRegression(C=5.0, max_iter=1000)
clf.fit(X_train_vec, y_train)
print(classification_report(y_test, clf.predict(X_test_vec)))
""",
    ),
    (
        "code",
        """
terms = np.array(vectorizer.get_feature_names_out())
for team, coefs in zip(clf.classes_, clf.coef_):
    print(team, ", ".join(terms[np.argsort(coefs)[-5:]]))
""",
    ),
    ("md", "## Try it"),
    (
        "code",
        """
new_tickets = [
    "Hi, I was charged TWICE for order #5521, see https://shop.example.com/orders/5521",
    "The app crashes every time I open settings :(",
    "where is my parcel??? ordered 2 weeks ago",
]
clf.predict(vectorizer.transform([clean_text(t) for t in new_tickets]))
""",
    ),
]


# --- 11. messy: LabelEncoder loop into a dict, StandardScaler, re-fits, dead cells ----

CENSUS_LABEL_ENCODING: list[Cell] = [
    ("md", "income prediction (census-like)"),
    (
        "code",
        """
import pandas as pd
import numpy as np
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.model_selection import train_test_split
from sklearn.ensemble import RandomForestClassifier, GradientBoostingClassifier
from sklearn.metrics import accuracy_score, f1_score
import joblib
import warnings
warnings.filterwarnings("ignore")
""",
    ),
    ("code", '# df = pd.read_csv("adult.csv")\n# df = df.sample(5000)'),
    (
        "code",
        """
rng = np.random.default_rng(99)
n = 2000
df = pd.DataFrame({
    "age": rng.integers(17, 80, n),
    "workclass": rng.choice(["Private", "Self-emp", "Government", "Without-pay"], n, p=[0.7, 0.12, 0.16, 0.02]),
    "education": rng.choice(["HS-grad", "Some-college", "Bachelors", "Masters", "Doctorate"], n, p=[0.35, 0.25, 0.25, 0.1, 0.05]),
    "marital_status": rng.choice(["Married", "Never-married", "Divorced", "Widowed"], n),
    "occupation": rng.choice(["Tech-support", "Craft-repair", "Sales", "Exec-managerial", "Prof-specialty", "Other-service"], n),
    "sex": rng.choice(["Male", "Female"], n),
    "hours_per_week": rng.normal(40, 11, n).round().clip(1, 99),
    "capital_gain": np.where(rng.random(n) < 0.08, rng.integers(1000, 20000, n), 0),
})
edu = df["education"].map({"HS-grad": 0, "Some-college": 0.5, "Bachelors": 1.2, "Masters": 1.7, "Doctorate": 2.2})
z = -4 + 0.04 * df["age"] + edu + 0.03 * df["hours_per_week"] + 0.8 * (df["marital_status"] == "Married") + 0.0002 * df["capital_gain"]
df["income"] = np.where(rng.random(n) < 1 / (1 + np.exp(-z)), ">50K", "<=50K")
df.head()
""",
    ),
    ("code", "df.info()"),
    ("code", "df.isnull().sum()"),
    ("code", 'df["income"].value_counts()'),
    ("code", "df2 = df.copy()"),
    (
        "code",
        """
cats = ["workclass", "education", "marital_status", "occupation", "sex"]
encoders = {}
for col in cats:
    le = LabelEncoder()
    df[col] = le.fit_transform(df[col])
    encoders[col] = le
df.head()
""",
    ),
    (
        "code",
        """
df["income"] = (df["income"] == ">50K").astype(int)
X = df.drop("income", axis=1)
y = df["income"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
""",
    ),
    ("code", "print(X_train.shape)\n# print(X_test.shape)"),
    (
        "code",
        """
num_cols = ["age", "hours_per_week", "capital_gain"]
scaler = StandardScaler()
X_train[num_cols] = scaler.fit_transform(X_train[num_cols])
X_test[num_cols] = scaler.transform(X_test[num_cols])
""",
    ),
    (
        "code",
        """
model = RandomForestClassifier()
model.fit(X_train, y_train)
accuracy_score(y_test, model.predict(X_test))
""",
    ),
    (
        "code",
        """
# try gradient boosting
gb = GradientBoostingClassifier()
gb.fit(X_train, y_train)
accuracy_score(y_test, gb.predict(X_test)), f1_score(y_test, gb.predict(X_test))
""",
    ),
    ("code", "# gb.feature_importances_"),
    (
        "code",
        """
# rf again with less overfitting
model = RandomForestClassifier(n_estimators=200, max_depth=10, min_samples_leaf=2, random_state=42)
model.fit(X_train, y_train)
print(accuracy_score(y_test, model.predict(X_test)), f1_score(y_test, model.predict(X_test)))
""",
    ),
    ("code", "pd.Series(model.feature_importances_, index=X.columns).sort_values()"),
    (
        "code",
        """
joblib.dump(model, "income_rf.joblib")
joblib.dump(encoders, "income_encoders.joblib")
joblib.dump(scaler, "income_scaler.joblib")
""",
    ),
    (
        "code",
        """
# check on a new person
person = pd.DataFrame([{
    "age": 37, "workclass": "Private", "education": "Masters", "marital_status": "Married",
    "occupation": "Exec-managerial", "sex": "Female", "hours_per_week": 45, "capital_gain": 0,
}])
p = person.copy()
for col in cats:
    p[col] = encoders[col].transform(p[col])
p[num_cols] = scaler.transform(p[num_cols])
model.predict_proba(p)
""",
    ),
    ("code", ""),
]


# --- 12. a custom transformer class defined in the notebook, in a saved Pipeline ------

HOUSE_CUSTOM_TRANSFORMER: list[Cell] = [
    (
        "md",
        """
# House values with a reusable pipeline

Two transformers of our own — ratio features and quantile clipping — in a scikit-learn
`Pipeline`, so that exactly the same steps run in training and in production.
""",
    ),
    (
        "code",
        """
import joblib
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
""",
    ),
    (
        "code",
        """
rng = np.random.default_rng(31)
n = 1800
districts = pd.DataFrame(
    {
        "median_income": rng.gamma(4.0, 1.0, n).round(3),
        "house_age": rng.integers(1, 53, n),
        "total_rooms": rng.lognormal(7.6, 0.6, n).round(),
        "total_bedrooms": None,
        "population": rng.lognormal(7.0, 0.7, n).round(),
        "households": None,
    }
)
districts["households"] = (districts["population"] / rng.normal(2.9, 0.5, n).clip(1.2)).round()
districts["total_bedrooms"] = (districts["total_rooms"] * rng.normal(0.21, 0.03, n).clip(0.1)).round()
districts["median_value"] = (
    45_000 * districts["median_income"]
    + 900 * districts["house_age"]
    + 30_000 * (districts["total_rooms"] / districts["households"])
    - 12_000 * (districts["population"] / districts["households"])
    + rng.normal(0, 25_000, n)
).clip(15_000, 500_000).round(-2)
districts.describe().round(1)
""",
    ),
    ("md", "## Our transformers"),
    (
        "code",
        """
class RatioFeatures(BaseEstimator, TransformerMixin):
    \"\"\"Per-household ratios, which say more than district totals.\"\"\"

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        X = X.copy()
        X["rooms_per_household"] = X["total_rooms"] / X["households"]
        X["bedrooms_per_room"] = X["total_bedrooms"] / X["total_rooms"]
        X["people_per_household"] = X["population"] / X["households"]
        return X


class QuantileClipper(BaseEstimator, TransformerMixin):
    \"\"\"Clip every column to the [lower, upper] quantiles seen in training.\"\"\"

    def __init__(self, lower=0.01, upper=0.99):
        self.lower = lower
        self.upper = upper

    def fit(self, X, y=None):
        values = np.asarray(X, dtype=float)
        self.low_ = np.quantile(values, self.lower, axis=0)
        self.high_ = np.quantile(values, self.upper, axis=0)
        return self

    def transform(self, X):
        return np.clip(np.asarray(X, dtype=float), self.low_, self.high_)
""",
    ),
    (
        "code",
        """
X = districts.drop(columns="median_value")
y = districts["median_value"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=2)
""",
    ),
    (
        "code",
        """
price_pipeline = Pipeline(
    [
        ("ratios", RatioFeatures()),
        ("clip", QuantileClipper(0.01, 0.99)),
        ("scale", StandardScaler()),
        ("model", Ridge(alpha=1.0)),
    ]
)
price_pipeline.fit(X_train, y_train)
print("ridge MAE:", round(mean_absolute_error(y_test, price_pipeline.predict(X_test))))
""",
    ),
    ("md", "Does a boosted model beat it? Same steps, another final estimator."),
    (
        "code",
        """
boosted = Pipeline(
    [
        ("ratios", RatioFeatures()),
        ("clip", QuantileClipper()),
        ("model", HistGradientBoostingRegressor(max_iter=150, random_state=0)),
    ]
)
boosted.fit(X_train, y_train)
print("boosted MAE:", round(mean_absolute_error(y_test, boosted.predict(X_test))))
""",
    ),
    (
        "md",
        "Barely — and the ridge is easier to explain to the valuers. We ship the ridge.",
    ),
    ("code", 'joblib.dump(price_pipeline, "house_value_pipeline.joblib")'),
    (
        "code",
        """
check = joblib.load("house_value_pipeline.joblib")
np.allclose(check.predict(X_test.head()), price_pipeline.predict(X_test.head()))
""",
    ),
]


# --- 13. FunctionTransformer over a notebook-defined function; not saved ---------------

CREDIT_FUNCTION_TRANSFORMER: list[Cell] = [
    ("md", "# Credit approval model"),
    (
        "code",
        """
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
""",
    ),
    (
        "code",
        """
rng = np.random.default_rng(17)
n = 1600
applications = pd.DataFrame(
    {
        "age": rng.integers(19, 75, n),
        "income": rng.lognormal(10.6, 0.55, n).round(-1),
        "debt": rng.lognormal(9.2, 1.0, n).round(-1),
        "years_at_job": rng.exponential(4.0, n).round(1),
        "purpose": rng.choice(["car", "home", "education", "business", "other"], n),
        "previous_defaults": rng.poisson(0.2, n),
    }
)
z = (
    1.5
    - 2.2 * (applications["debt"] / applications["income"])
    + 0.08 * applications["years_at_job"]
    - 1.1 * applications["previous_defaults"]
    + 0.4 * (applications["purpose"] == "home")
)
applications["approved"] = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
applications.head()
""",
    ),
    ("code", 'applications.groupby("purpose")["approved"].mean().round(3)'),
    ("md", "Ratios matter more than amounts: compute them inside the pipeline."),
    (
        "code",
        """
def engineer(df):
    out = df.copy()
    out["debt_to_income"] = out["debt"] / out["income"].clip(lower=1)
    out["log_income"] = np.log1p(out["income"])
    out["young"] = (out["age"] < 25).astype(int)
    return out.drop(columns=["debt", "income"])
""",
    ),
    (
        "code",
        """
numeric = ["age", "years_at_job", "previous_defaults", "debt_to_income", "log_income", "young"]
encode = ColumnTransformer(
    [
        ("num", StandardScaler(), numeric),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["purpose"]),
    ]
)
loan_model = Pipeline(
    [
        ("features", FunctionTransformer(engineer)),
        ("encode", encode),
        ("clf", LogisticRegression(max_iter=1000)),
    ]
)
""",
    ),
    (
        "code",
        """
X = applications.drop(columns="approved")
y = applications["approved"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

baseline = DummyClassifier(strategy="prior").fit(X_train, y_train)
loan_model.fit(X_train, y_train)
for name, m in [("prior", baseline), ("logistic", loan_model)]:
    print(name, round(roc_auc_score(y_test, m.predict_proba(X_test)[:, 1]), 3))
""",
    ),
    ("md", "Scoring the applications received this morning:"),
    (
        "code",
        """
todays = pd.DataFrame(
    {
        "age": [23, 41, 58],
        "income": [24000.0, 67000.0, 52000.0],
        "debt": [15000.0, 9000.0, 40000.0],
        "years_at_job": [0.5, 8.0, 20.0],
        "purpose": ["car", "home", "business"],
        "previous_defaults": [0, 0, 1],
    }
)
todays.assign(p_approve=loan_model.predict_proba(todays)[:, 1].round(3))
""",
    ),
]


# --- 14. probabilities, ROC AUC and a decision threshold after the model --------------

FRAUD_THRESHOLD: list[Cell] = [
    (
        "md",
        """
# Card fraud — gradient boosting with a tuned threshold

Fraud is rare, so accuracy is useless: we look at ROC AUC and average precision, then
choose the probability threshold that catches most fraud at a tolerable alert rate.
""",
    ),
    (
        "code",
        """
import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder
""",
    ),
    (
        "code",
        """
rng = np.random.default_rng(4)
n = 6000
tx = pd.DataFrame(
    {
        "amount": rng.lognormal(3.6, 1.1, n).round(2),
        "hour": rng.integers(0, 24, n),
        "merchant_category": rng.choice(
            ["grocery", "fuel", "online", "travel", "electronics", "restaurant"], n
        ),
        "km_from_home": rng.exponential(12, n).round(1),
        "tx_last_24h": rng.poisson(2.0, n),
        "foreign": (rng.random(n) < 0.07).astype(int),
    }
)
risk = (
    -9.5
    + 0.7 * np.log1p(tx["amount"])
    + 2.0 * tx["hour"].isin([0, 1, 2, 3, 4]).astype(int)
    + 1.6 * tx["merchant_category"].isin(["online", "electronics"]).astype(int)
    + 0.04 * tx["km_from_home"]
    + 0.35 * tx["tx_last_24h"]
    + 2.2 * tx["foreign"]
)
tx["is_fraud"] = (rng.random(n) < 1 / (1 + np.exp(-risk))).astype(int)
tx.head()
""",
    ),
    ("md", "## EDA"),
    ("code", 'tx["is_fraud"].agg(["mean", "sum"])'),
    (
        "code",
        'tx.groupby("merchant_category")["is_fraud"].mean().sort_values().round(4)',
    ),
    ("code", 'tx.groupby(tx["hour"] // 6)["is_fraud"].mean().round(4)'),
    (
        "code",
        'tx.groupby("is_fraud")[["amount", "km_from_home", "tx_last_24h"]].median()',
    ),
    ("md", "## Model"),
    (
        "code",
        """
X = tx.drop(columns="is_fraud")
y = tx["is_fraud"]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, random_state=0, stratify=y
)
fraud_clf = Pipeline(
    [
        (
            "encode",
            ColumnTransformer(
                [("cat", OrdinalEncoder(), ["merchant_category"])],
                remainder="passthrough",
                verbose_feature_names_out=False,
            ),
        ),
        (
            "gbm",
            HistGradientBoostingClassifier(
                max_iter=200, learning_rate=0.05, categorical_features=[0], random_state=0
            ),
        ),
    ]
)
fraud_clf.fit(X_train, y_train)
""",
    ),
    (
        "code",
        """
proba = fraud_clf.predict_proba(X_test)[:, 1]
print(f"ROC AUC {roc_auc_score(y_test, proba):.3f}, AP {average_precision_score(y_test, proba):.3f}")
""",
    ),
    (
        "code",
        """
precision, recall, thresholds = precision_recall_curve(y_test, proba)
curve = pd.DataFrame({"threshold": thresholds, "precision": precision[:-1], "recall": recall[:-1]})
curve[curve["recall"] >= 0.35].tail(5).round(3)
""",
    ),
    (
        "md",
        "At 0.05 we flag about 6% of transactions and catch about a third of the "
        "fraud: as many alerts as the team can review.",
    ),
    ("code", "THRESHOLD = 0.05"),
    (
        "code",
        """
flags = (proba > THRESHOLD).astype(int)
print("alert rate:", flags.mean().round(4))
confusion_matrix(y_test, flags)
""",
    ),
    ("code", 'joblib.dump(fraud_clf, "fraud_hgb.joblib")'),
    (
        "code",
        """
incoming = pd.DataFrame(
    [
        {"amount": 912.40, "hour": 3, "merchant_category": "electronics", "km_from_home": 340.0, "tx_last_24h": 6, "foreign": 1},
        {"amount": 23.10, "hour": 12, "merchant_category": "grocery", "km_from_home": 1.2, "tx_last_24h": 1, "foreign": 0},
    ]
)
(fraud_clf.predict_proba(incoming)[:, 1] > THRESHOLD).astype(int)
""",
    ),
]


# --- 15. trap: the full model is saved, then a 3-feature demo model is fitted last ----

MACHINE_FAILURE_DEMO_LAST: list[Cell] = [
    ("md", "# Predictive maintenance: will the machine fail within 24 h?"),
    (
        "code",
        """
import joblib
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier, export_text
""",
    ),
    (
        "code",
        """
SENSORS = ["temperature", "vibration", "rpm", "torque", "tool_wear", "pressure", "humidity", "voltage"]
X_raw, y_raw = make_classification(
    n_samples=2400, n_features=8, n_informative=5, n_redundant=1, weights=[0.9], random_state=23
)
readings = pd.DataFrame(X_raw, columns=SENSORS)
readings["temperature"] = (readings["temperature"] * 4 + 70).round(1)
readings["rpm"] = (readings["rpm"] * 150 + 1500).round()
readings["failure"] = y_raw
readings.describe().round(2)
""",
    ),
    (
        "code",
        """
X_train, X_test, y_train, y_test = train_test_split(
    readings[SENSORS], readings["failure"], test_size=0.25, random_state=5, stratify=readings["failure"]
)
""",
    ),
    (
        "code",
        """
model = RandomForestClassifier(n_estimators=150, min_samples_leaf=2, class_weight="balanced", random_state=0)
model.fit(X_train, y_train)
proba = model.predict_proba(X_test)[:, 1]
print("AUC", round(roc_auc_score(y_test, proba), 3), "F1", round(f1_score(y_test, proba > 0.5), 3))
""",
    ),
    ("code", 'joblib.dump(model, "failure_rf.joblib")'),
    (
        "md",
        """
## For the slides

Operators want something they can read. A depth-3 tree on three sensors they know —
not as good, not for production, but it explains the gist.
""",
    ),
    (
        "code",
        """
demo_features = ["temperature", "vibration", "rpm"]
demo = DecisionTreeClassifier(max_depth=3, random_state=0)
demo.fit(X_train[demo_features], y_train)
print(export_text(demo, feature_names=demo_features))
""",
    ),
    (
        "code",
        """
demo_pred = demo.predict(X_test[demo_features])
print("demo tree F1:", round(f1_score(y_test, demo_pred), 3))
""",
    ),
]


# --- 16. course book: the saved model, then an exercise fits one that isn't saved -----

DIABETES_EXERCISE: list[Cell] = [
    (
        "md",
        """
# Lab 4 — Regularised linear regression

We predict disease progression one year after baseline from ten measurements, with
ridge regression, and keep the model for the next lab.
""",
    ),
    (
        "code",
        """
import pickle

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Lasso, Ridge
from sklearn.model_selection import train_test_split
""",
    ),
    (
        "md",
        """
`load_diabetes` gives features that are already centred and scaled. `as_frame=True`
returns pandas objects, with the column names.
""",
    ),
    (
        "code",
        """
X, y = load_diabetes(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
X_train.shape
""",
    ),
    (
        "md",
        """
## 4.1 Choosing alpha

Ridge adds `alpha * ||w||²` to the squared error. We compare a few values of `alpha`
on the test set (in a real project: on a validation set, or with cross-validation).
""",
    ),
    (
        "code",
        """
for alpha in [0.01, 0.1, 1.0, 10.0]:
    r = Ridge(alpha=alpha).fit(X_train, y_train)
    print(f"alpha={alpha:<5} R2={r.score(X_test, y_test):.3f}")
""",
    ),
    (
        "code",
        """
reg = Ridge(alpha=0.1)
reg.fit(X_train, y_train)
print("test R2:", round(reg.score(X_test, y_test), 3))
dict(zip(X.columns, np.round(reg.coef_, 1)))
""",
    ),
    ("md", "## 4.2 Saving the model for Lab 5"),
    (
        "code",
        """
with open("diabetes_ridge.pkl", "wb") as f:
    pickle.dump(reg, f)
""",
    ),
    (
        "md",
        """
## Exercises

1. Replace ridge with **lasso** (`Lasso(alpha=0.1)`). How many coefficients become
   exactly zero? Is the test R² better or worse?
2. Plot the coefficients of both models side by side.
""",
    ),
    (
        "code",
        """
# Exercise 1
lasso = Lasso(alpha=0.1)
lasso.fit(X_train, y_train)
print("zero coefficients:", int((lasso.coef_ == 0).sum()))
lasso.score(X_test, y_test)
""",
    ),
]


# --- 17. random forest vs an XGBoost booster; the saved model is the booster ----------

SUBSCRIPTION_RF_VS_BOOSTER: list[Cell] = [
    (
        "md",
        """
# Will a trial user subscribe? Random forest vs XGBoost

One-hot features with `pd.get_dummies`; both models on the same split; the winner is
saved for the product team.
""",
    ),
    (
        "code",
        """
import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
""",
    ),
    (
        "code",
        """
rng = np.random.default_rng(77)
n = 3000
users = pd.DataFrame(
    {
        "trial_days_used": rng.integers(0, 15, n),
        "projects_created": rng.poisson(2.5, n),
        "invited_teammates": rng.poisson(0.8, n),
        "plan_viewed": rng.choice(["none", "team", "business"], n, p=[0.5, 0.35, 0.15]),
        "signup_source": rng.choice(["ads", "organic", "referral", "partner"], n),
        "company_size": rng.choice(["1", "2-10", "11-50", "51+"], n, p=[0.4, 0.35, 0.18, 0.07]),
    }
)
z = (
    -3.0
    + 0.12 * users["trial_days_used"]
    + 0.3 * users["projects_created"]
    + 0.6 * users["invited_teammates"]
    + users["plan_viewed"].map({"none": 0.0, "team": 0.9, "business": 1.4})
    + 0.5 * (users["signup_source"] == "referral")
)
users["subscribed"] = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
users.head()
""",
    ),
    ("code", 'users.groupby("plan_viewed")["subscribed"].mean().round(3)'),
    (
        "code",
        """
X = pd.get_dummies(users.drop(columns="subscribed"), dtype=float)
y = users["subscribed"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=9, stratify=y)
X_train.columns.tolist()
""",
    ),
    ("md", "## XGBoost"),
    (
        "code",
        """
params = {"objective": "binary:logistic", "eval_metric": "auc", "max_depth": 3, "eta": 0.08, "seed": 0, "nthread": 1}
dtrain = xgb.DMatrix(X_train, label=y_train)
dtest = xgb.DMatrix(X_test, label=y_test)
bst = xgb.train(params, dtrain, num_boost_round=250, evals=[(dtest, "test")], verbose_eval=False)
xgb_auc = roc_auc_score(y_test, bst.predict(dtest))
""",
    ),
    ("md", "## Random forest"),
    (
        "code",
        """
rf = RandomForestClassifier(n_estimators=200, min_samples_leaf=5, random_state=0)
rf.fit(X_train, y_train)
rf_auc = roc_auc_score(y_test, rf.predict_proba(X_test)[:, 1])
""",
    ),
    (
        "code",
        """
pd.Series({"xgboost": xgb_auc, "random forest": rf_auc}).round(4)
""",
    ),
    ("md", "XGBoost wins (and is smaller to ship): save the booster."),
    ("code", 'bst.save_model("subscription_xgb.json")'),
    (
        "code",
        """
new_users = pd.DataFrame(
    {
        "trial_days_used": [13, 2],
        "projects_created": [5, 0],
        "invited_teammates": [3, 0],
        "plan_viewed": ["business", "none"],
        "signup_source": ["referral", "ads"],
        "company_size": ["11-50", "1"],
    }
)
X_new = pd.get_dummies(new_users, dtype=float).reindex(columns=X_train.columns, fill_value=0.0)
bst.predict(xgb.DMatrix(X_new))
""",
    ),
]


# --- 18. nothing to serve: a loop over anomaly detectors, none saved or singled out ---

ANOMALY_DETECTOR_ZOO: list[Cell] = [
    (
        "md",
        """
# Which anomaly detector for the sensor stream?

A comparison on synthetic data with known anomalies: no winner yet, more data needed.
""",
    ),
    (
        "code",
        """
import numpy as np
import pandas as pd
from sklearn.covariance import EllipticEnvelope
from sklearn.ensemble import IsolationForest
from sklearn.metrics import f1_score, precision_score, recall_score
from sklearn.neighbors import LocalOutlierFactor
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM
""",
    ),
    (
        "code",
        """
rng = np.random.default_rng(2)
normal = rng.multivariate_normal([0, 0, 0], [[1, 0.6, 0.2], [0.6, 1, 0.3], [0.2, 0.3, 1]], 950)
anomalies = rng.uniform(-6, 6, (50, 3))
signals = pd.DataFrame(np.vstack([normal, anomalies]), columns=["flow", "pressure", "temperature"])
truth = np.r_[np.zeros(950, dtype=int), np.ones(50, dtype=int)]
X = StandardScaler().fit_transform(signals)
""",
    ),
    (
        "code",
        """
detectors = {
    "isolation forest": IsolationForest(contamination=0.05, random_state=0),
    "local outlier factor": LocalOutlierFactor(n_neighbors=35, contamination=0.05),
    "one-class SVM": OneClassSVM(nu=0.05, gamma="scale"),
    "elliptic envelope": EllipticEnvelope(contamination=0.05, random_state=0),
}
results = {}
for name, detector in detectors.items():
    flagged = (detector.fit_predict(X) == -1).astype(int)
    results[name] = {
        "precision": precision_score(truth, flagged),
        "recall": recall_score(truth, flagged),
        "f1": f1_score(truth, flagged),
    }
pd.DataFrame(results).T.round(3)
""",
    ),
    (
        "md",
        """
All four find most of the planted anomalies on this toy data; the differences are within
noise. Next: label a week of real alarms and compare again.
""",
    ),
]


# --- 19. forecasting: Holt-Winters on a monthly series, forecast a horizon ------------

MONTHLY_SALES_FORECAST: list[Cell] = [
    (
        "md",
        """
# Monthly sales forecast

Holt-Winters exponential smoothing (additive trend, multiplicative seasonality) on six
years of monthly sales; compared with a seasonal-naive baseline on the last year.
""",
    ),
    (
        "code",
        """
import numpy as np
import pandas as pd
from statsmodels.tsa.holtwinters import ExponentialSmoothing
""",
    ),
    (
        "code",
        """
rng = np.random.default_rng(6)
months = pd.date_range("2019-01-01", periods=72, freq="MS")
season = 1 + 0.25 * np.sin(2 * np.pi * (months.month - 3) / 12)
sales = pd.Series(
    ((1200 + 14 * np.arange(72)) * season * rng.normal(1, 0.03, 72)).round(),
    index=months,
    name="units",
)
sales.tail(12)
""",
    ),
    ("code", "sales.groupby(sales.index.year).sum()"),
    (
        "code",
        """
train, holdout = sales.iloc[:-12], sales.iloc[-12:]
naive = train.iloc[-12:].set_axis(holdout.index)
print("seasonal naive MAPE:", round((abs(naive - holdout) / holdout).mean() * 100, 2), "%")
""",
    ),
    (
        "code",
        """
hw = ExponentialSmoothing(train, trend="add", seasonal="mul", seasonal_periods=12).fit()
hw_pred = hw.forecast(12)
print("Holt-Winters MAPE:", round((abs(hw_pred - holdout) / holdout).mean() * 100, 2), "%")
""",
    ),
    ("md", "Holt-Winters wins: refit on everything and forecast the next 12 months."),
    ("code", "HORIZON = 12  # months ahead"),
    (
        "code",
        """
hw_final = ExponentialSmoothing(sales, trend="add", seasonal="mul", seasonal_periods=12).fit()
forecast = hw_final.forecast(HORIZON).round()
forecast
""",
    ),
]


# --- 20. messy: a custom transformer and a FunctionTransformer over notebook code ------

COMMENT_MODERATION: list[Cell] = [
    ("md", "moderation model v3 (comments queue) -- WIP, don't judge"),
    (
        "code",
        """
import pickle
import re

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import classification_report
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer
""",
    ),
    (
        "code",
        """
rng = np.random.default_rng(23)
polite = ["thanks for the update", "great article", "I disagree but fair point",
          "see the docs at https://example.org/faq", "nice work on the release",
          "could you share the data", "interesting read", "well explained, thx"]
rude = ["this is GARBAGE", "u r an idiot!!!", "WORST. POST. EVER!!",
        "nobody cares, go away", "what a stupid take!!", "shut up already",
        "lol u clearly have no clue", "STOP POSTING THIS"]
comments, flagged = [], []
for _ in range(700):
    bad = rng.random() < 0.35
    base = rng.choice(rude if bad else polite)
    extra = rng.choice(["", " !!", " :)", " pls", " https://t.co/x1"], p=[0.6, 0.1, 0.1, 0.1, 0.1])
    comments.append(base + extra)
    flagged.append(int(bad if rng.random() > 0.05 else not bad))
len(comments), np.mean(flagged)
""",
    ),
    ("md", "text cleanup. links and txt-speak confuse the vectorizer"),
    (
        "code",
        """
SLANG = {"u": "you", "r": "are", "thx": "thanks", "pls": "please", "lol": ""}


def normalise(text):
    text = re.sub(r"https?://\\S+", " link ", text)
    words = [SLANG.get(w.lower(), w) for w in text.split()]
    return " ".join(w for w in words if w)
""",
    ),
    (
        "code",
        """
class Normaliser(BaseEstimator, TransformerMixin):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return [normalise(t) for t in X]


def shouting(texts):
    # share of capitals, and exclamation marks
    return np.array(
        [[sum(c.isupper() for c in t) / max(len(t), 1), t.count("!")] for t in texts]
    )
""",
    ),
    ("code", "# Normaliser().transform(comments[:5])"),
    (
        "code",
        """
X_train, X_test, y_train, y_test = train_test_split(
    comments, flagged, test_size=0.25, random_state=7, stratify=flagged
)
quick = make_pipeline(TfidfVectorizer(), MultinomialNB()).fit(X_train, y_train)
print("nb", quick.score(X_test, y_test))
""",
    ),
    (
        "code",
        """
moderator = Pipeline(
    [
        ("clean", Normaliser()),
        (
            "features",
            FeatureUnion(
                [
                    ("words", TfidfVectorizer(ngram_range=(1, 2), min_df=2)),
                    ("shouting", FunctionTransformer(shouting)),
                ]
            ),
        ),
        ("clf", LogisticRegression(max_iter=500, C=3.0)),
    ]
)
moderator.fit(X_train, y_train)
print(classification_report(y_test, moderator.predict(X_test), digits=3))
""",
    ),
    (
        "code",
        """
with open("moderation.pkl", "wb") as f:
    pickle.dump(moderator, f)
""",
    ),
    ("md", "sanity check on this morning's queue"),
    (
        "code",
        """
new_comments = [
    "thx, see https://example.org/post/12",
    "U R CLUELESS!!!",
    "could you share the notebook pls",
]
moderator.predict_proba(new_comments)[:, 1].round(3)
""",
    ),
    ("code", ""),
]


#: file stem -> cells
NOTEBOOKS: dict[str, list[Cell]] = {
    "churn_course_book": CHURN_COURSE_BOOK,
    "wine_cross_validate": WINE_CROSS_VALIDATE,
    "cancer_grid_search": CANCER_GRID_SEARCH,
    "diabetes_random_search": DIABETES_RANDOM_SEARCH,
    "conversion_xgb_native": CONVERSION_XGB_NATIVE,
    "loan_default_lightgbm": LOAN_DEFAULT_LIGHTGBM,
    "admissions_statsmodels": ADMISSIONS_STATSMODELS,
    "iris_kmeans": IRIS_KMEANS,
    "mall_segments": MALL_SEGMENTS,
    "ticket_triage_tfidf": TICKET_TRIAGE_TFIDF,
    "census_label_encoding": CENSUS_LABEL_ENCODING,
    "house_custom_transformer": HOUSE_CUSTOM_TRANSFORMER,
    "credit_function_transformer": CREDIT_FUNCTION_TRANSFORMER,
    "fraud_threshold": FRAUD_THRESHOLD,
    "machine_failure_demo_last": MACHINE_FAILURE_DEMO_LAST,
    "diabetes_exercise": DIABETES_EXERCISE,
    "subscription_rf_vs_booster": SUBSCRIPTION_RF_VS_BOOSTER,
    "anomaly_detector_zoo": ANOMALY_DETECTOR_ZOO,
    "monthly_sales_forecast": MONTHLY_SALES_FORECAST,
    "comment_moderation": COMMENT_MODERATION,
}

#: file stem -> the answer key
EXPECTED: dict[str, Expected] = {
    "churn_course_book": Expected(
        model="model",
        model_type="sklearn.linear_model.LogisticRegression",
        input_kind="record",
        raw_input="customer",
        raw_columns=columns(
            "gender:text, seniorcitizen:number, partner:text, dependents:text, "
            "phoneservice:text, internetservice:text, contract:text, "
            "paymentmethod:text, tenure:number, monthlycharges:number, "
            "totalcharges:number"
        ),
        companions=("dv",),
        saves=("model_C=1.0.bin",),
        decoys=(),
        style="course",
        note="dv, model = train(...) in a helper, re-bound in a K-fold loop and at "
        "the end; the final pair is pickled as a (dv, model) tuple; scored on a "
        "customer dict through dv.transform([customer])",
    ),
    "wine_cross_validate": Expected(
        model="final_model",
        model_type="sklearn.pipeline.Pipeline",
        input_kind="frame",
        raw_input="X_holdout",
        raw_columns=columns(
            "alcohol:number, malic_acid:number, ash:number, "
            "alcalinity_of_ash:number, magnesium:number, total_phenols:number, "
            "flavanoids:number, nonflavanoid_phenols:number, "
            "proanthocyanins:number, color_intensity:number, hue:number, "
            "od280/od315_of_diluted_wines:number, proline:number"
        ),
        saves=("wine_classifier.joblib",),
        style="plain",
        note="cross_validate(..., return_estimator=True); final_model is "
        "cv['estimator'][best], saved with joblib; 'pipe' itself is never fitted",
        decoys=("pipe",),
    ),
    "cancer_grid_search": Expected(
        model="grid.best_estimator_",
        model_type="sklearn.ensemble.RandomForestClassifier",
        input_kind="frame",
        raw_input="X_test",
        raw_columns=columns(
            "mean radius:number, mean texture:number, mean perimeter:number, "
            "mean area:number, mean smoothness:number, mean compactness:number, "
            "mean concavity:number, mean concave points:number, "
            "mean symmetry:number, mean fractal dimension:number, "
            "radius error:number, texture error:number, perimeter error:number, "
            "area error:number, smoothness error:number, compactness error:number, "
            "concavity error:number, concave points error:number, "
            "symmetry error:number, fractal dimension error:number, "
            "worst radius:number, worst texture:number, worst perimeter:number, "
            "worst area:number, worst smoothness:number, worst compactness:number, "
            "worst concavity:number, worst concave points:number, "
            "worst symmetry:number, worst fractal dimension:number"
        ),
        saves=("cancer_rf.joblib",),
        style="kaggle",
        note="GridSearchCV; joblib.dump(grid.best_estimator_, ...) with no name of "
        "its own; the test set is scored through grid.predict_proba",
    ),
    "diabetes_random_search": Expected(
        model="best_model",
        model_type="sklearn.ensemble.HistGradientBoostingRegressor",
        input_kind="frame",
        raw_input="X_test",
        raw_columns=columns(
            "age:number, sex:number, bmi:number, bp:number, s1:number, s2:number, "
            "s3:number, s4:number, s5:number, s6:number"
        ),
        saves=("progression_hgb.joblib",),
        decoys=("lin",),
        style="plain",
        note="RandomizedSearchCV; best_model = search.best_estimator_, saved with "
        "joblib (compress=3); an OLS baseline before it",
    ),
    "conversion_xgb_native": Expected(
        model="booster",
        model_type="xgboost.Booster",
        input_kind="frame",
        raw_input="test[FEATURES]",
        raw_columns=columns(
            "basket_value:number, account_age_days:number, logins_30d:number, "
            "avg_session_min:number, pages_per_visit:number, bounce_rate:number, "
            "cart_adds:number, discount_used:number, mobile_share:number, "
            "support_tickets:number, days_since_last_visit:number, "
            "referral_score:number"
        ),
        companions=("FEATURES", "best_rounds"),
        saves=("conversion_xgb.json",),
        style="kaggle",
        note="xgb.train on DMatrix with early stopping; predicts on "
        "xgb.DMatrix(test[FEATURES]) with iteration_range; booster.save_model(json)",
    ),
    "loan_default_lightgbm": Expected(
        model="gbm",
        model_type="lightgbm.Booster",
        input_kind="frame",
        raw_input="incoming",
        raw_columns=columns(
            "income:number, loan_amount:number, term_months:number, grade:text, "
            "home_ownership:text, emp_length:number, dti:number, "
            "revol_util:number"
        ),
        companions=("CATEGORICAL", "loans"),
        saves=("loan_default_lgb.txt",),
        style="plain",
        note="lgb.train on a Dataset with pandas categoricals; the raw input has the "
        "grades as text: the notebook casts them with pd.Categorical(categories="
        "loans[col].cat.categories) before gbm.predict(num_iteration=best)",
    ),
    "admissions_statsmodels": Expected(
        model="logit_res",
        model_type="statsmodels.discrete.discrete_model.BinaryResultsWrapper",
        input_kind="frame",
        raw_input="applicants",
        raw_columns=columns("gre:number, gpa:number, rank:number"),
        decoys=("lpm",),
        style="course",
        note="smf.ols then smf.logit(formula).fit(); not saved; logit_res is the "
        "one used last, on new applicants (a DataFrame with the formula's columns)",
    ),
    "iris_kmeans": Expected(
        model="kmeans",
        model_type="sklearn.cluster.KMeans",
        input_kind="frame",
        raw_input="new_flowers",
        raw_columns=columns(
            "sepal_length:number, sepal_width:number, petal_length:number, "
            "petal_width:number"
        ),
        companions=("scaler",),
        saves=("iris_clusters.joblib",),
        decoys=("km",),
        style="course",
        note="elbow loop fits km for k=2..8; kmeans (k=3) serves by "
        "kmeans.predict(scaler.transform(new_flowers)); both saved in one dict",
    ),
    "mall_segments": Expected(
        model="segmenter",
        model_type="sklearn.pipeline.Pipeline",
        input_kind="frame",
        raw_input="mall[features]",
        raw_columns=columns(
            "age:number, annual_income_k:number, spending_score:number"
        ),
        saves=("mall_segmenter.pkl",),
        style="kaggle",
        note="a scaler + KMeans pipeline fitted by fit_predict (no .fit call); "
        "pickled; the input is the three feature columns",
    ),
    "ticket_triage_tfidf": Expected(
        model="clf",
        model_type="sklearn.linear_model.LogisticRegression",
        input_kind="string",
        raw_input="new_tickets",
        companions=("vectorizer", "clean_text"),
        decoys=("nb",),
        style="kaggle",
        note="regex clean_text() before a TfidfVectorizer; a naive Bayes baseline; "
        "not saved; clf predicts last on raw new texts through clean_text. The raw "
        "input is the ticket as written (URLs, shouting): clean_text then the "
        "vectorizer are the service's preprocess, not the cleaned X_test",
    ),
    "census_label_encoding": Expected(
        model="model",
        model_type="sklearn.ensemble.RandomForestClassifier",
        input_kind="frame",
        raw_input="person",
        raw_columns=columns(
            "age:number, workclass:text, education:text, marital_status:text, "
            "occupation:text, sex:text, hours_per_week:number, "
            "capital_gain:number"
        ),
        companions=("encoders", "scaler", "cats", "num_cols"),
        saves=("income_rf.joblib", "income_encoders.joblib", "income_scaler.joblib"),
        decoys=("gb",),
        style="messy",
        note="LabelEncoder loop into an encoders dict on the whole frame, a "
        "StandardScaler on a column subset; model re-fitted with other params; dead "
        "cells, commented code, an empty last cell; warnings silenced. The raw "
        "input is the new person as typed (text categories): the notebook's own "
        "loop and scaler on a copy of it are the service's preprocess",
    ),
    "house_custom_transformer": Expected(
        model="price_pipeline",
        model_type="sklearn.pipeline.Pipeline",
        input_kind="frame",
        raw_input="X_test",
        raw_columns=columns(
            "median_income:number, house_age:number, total_rooms:number, "
            "total_bedrooms:number, population:number, households:number"
        ),
        companions=("RatioFeatures", "QuantileClipper"),
        saves=("house_value_pipeline.joblib",),
        decoys=("boosted",),
        style="course",
        note="two transformer classes defined in the notebook inside the Pipeline "
        "(the service needs their code to unpickle); a boosted variant is fitted "
        "later and not kept; the saved file is loaded back as 'check'",
    ),
    "credit_function_transformer": Expected(
        model="loan_model",
        model_type="sklearn.pipeline.Pipeline",
        input_kind="frame",
        raw_input="todays",
        raw_columns=columns(
            "age:number, income:number, debt:number, years_at_job:number, "
            "purpose:text, previous_defaults:number"
        ),
        companions=("engineer",),
        decoys=("baseline",),
        style="plain",
        note="FunctionTransformer(engineer) over a notebook function inside the "
        "Pipeline; a DummyClassifier baseline; not saved, loan_model predicts last",
    ),
    "comment_moderation": Expected(
        model="moderator",
        model_type="sklearn.pipeline.Pipeline",
        input_kind="string",
        raw_input="new_comments",
        companions=("Normaliser", "normalise", "shouting", "SLANG"),
        saves=("moderation.pkl",),
        decoys=("quick",),
        style="messy",
        note="a custom transformer class calling a notebook function that uses a "
        "dict defined beside it, and FunctionTransformer(shouting) inside a "
        "FeatureUnion, all in a Pipeline pickled with pickle.dump; a naive Bayes "
        "decoy; a commented-out dead cell and an empty last cell",
    ),
    "fraud_threshold": Expected(
        model="fraud_clf",
        model_type="sklearn.pipeline.Pipeline",
        input_kind="frame",
        raw_input="incoming",
        raw_columns=columns(
            "amount:number, hour:number, merchant_category:text, "
            "km_from_home:number, tx_last_24h:number, foreign:number"
        ),
        saves=("fraud_hgb.joblib",),
        config=("THRESHOLD",),
        style="kaggle",
        note="predict_proba, ROC AUC, a precision-recall curve; the service returns "
        "(proba > THRESHOLD).astype(int): predict_proba(...)[:, 1] as predict, the "
        "threshold as postprocess, THRESHOLD a setting",
    ),
    "machine_failure_demo_last": Expected(
        model="model",
        model_type="sklearn.ensemble.RandomForestClassifier",
        input_kind="frame",
        raw_input="X_test",
        raw_columns=columns(
            "temperature:number, vibration:number, rpm:number, torque:number, "
            "tool_wear:number, pressure:number, humidity:number, voltage:number"
        ),
        saves=("failure_rf.joblib",),
        decoys=("demo",),
        style="messy",
        note="trap: the full 8-sensor model is saved; a 3-feature demo tree is "
        "fitted and used to predict last, for slides",
    ),
    "diabetes_exercise": Expected(
        model="reg",
        model_type="sklearn.linear_model.Ridge",
        input_kind="frame",
        raw_input="X_test",
        raw_columns=columns(
            "age:number, sex:number, bmi:number, bp:number, s1:number, s2:number, "
            "s3:number, s4:number, s5:number, s6:number"
        ),
        saves=("diabetes_ridge.pkl",),
        decoys=("r", "lasso"),
        style="course",
        note="trap: ridge 'reg' is pickled; the exercise at the end fits a Lasso "
        "and scores it on the test set, unsaved",
    ),
    "subscription_rf_vs_booster": Expected(
        model="bst",
        model_type="xgboost.Booster",
        input_kind="frame",
        raw_input="new_users",
        raw_columns=columns(
            "trial_days_used:number, projects_created:number, "
            "invited_teammates:number, plan_viewed:text, signup_source:text, "
            "company_size:text"
        ),
        companions=("X_train",),
        saves=("subscription_xgb.json",),
        decoys=("rf",),
        style="plain",
        note="booster first, then a random forest fitted after it (the last fit); "
        "the booster is saved and predicts on new users one-hot encoded with "
        "get_dummies().reindex(columns=X_train.columns): the raw input is before "
        "get_dummies",
    ),
    "anomaly_detector_zoo": Expected(
        model=None,
        model_type=None,
        input_kind=None,
        candidates=(
            "IsolationForest",
            "LocalOutlierFactor",
            "OneClassSVM",
            "EllipticEnvelope",
        ),
        style="plain",
        note="refuse: four detectors fitted in a loop over a dict, none saved, "
        "none singled out; the message lists them as candidates",
    ),
    "monthly_sales_forecast": Expected(
        model="hw_final",
        model_type="statsmodels.tsa.holtwinters.results.HoltWintersResultsWrapper",
        input_kind="horizon",
        raw_input="HORIZON",
        decoys=("hw",),
        style="plain",
        note="Holt-Winters refit on all data, hw_final.forecast(HORIZON).round(): "
        'served as {"horizon": n} -> hw_final.forecast(n).round() -> one '
        '{"date", "value"} per month ahead',
    ),
}


def gitignore() -> str:
    """The files the notebooks save next to themselves: never committed."""
    names = sorted(name for e in EXPECTED.values() for name in e.saves)
    header = "# written by running the notebooks (tests/notebooks/make_tagged.py)\n"
    return header + "".join(f"/{name}\n" for name in names)


def render() -> dict[str, str]:
    """Every generated file: path relative to OUT -> text."""
    assert NOTEBOOKS.keys() == EXPECTED.keys()
    files = {
        f"{stem}.ipynb": notebook(stem, cells) for stem, cells in NOTEBOOKS.items()
    }
    files[".gitignore"] = gitignore()
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
