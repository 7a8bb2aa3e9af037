"""`nb2svc tag` follows the notebook's own cleaning back to raw input, and carries what
the notebook does after the model (probabilities, a decision threshold) into the
service. Static proposals on small notebooks written here (no kernel); the idiom
notebooks go through tag -> build -> verify in tests/test_tag_idioms.py.
"""

from __future__ import annotations

from pathlib import Path

from nb2svc.notebook.markers import mark_cells
from nb2svc.notebook.reader import read_notebook
from nb2svc.tag import TagResult, tag_notebook
from tests.helpers import make_notebook

IMPORTS = """
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder, StandardScaler
"""

DATA = """
rng = np.random.default_rng(0)
df = pd.DataFrame({
    "plan": rng.choice(["basic", "pro", "team"], 300),
    "seats": rng.integers(1, 50, 300),
    "usage": rng.random(300) * 100,
})
df["churned"] = (rng.random(300) < 0.3).astype(int)
"""


def _tag(tmp_path: Path, cells: list[str]) -> TagResult:
    path = make_notebook(tmp_path, [("code", c) for c in cells])
    result = tag_notebook(path, static=True)
    assert result.proposed, [d.message for d in result.diagnostics]
    return result


def _roles(result: TagResult, tmp_path: Path) -> dict[str, list[str]]:
    assert result.content is not None
    path = tmp_path / "tagged.ipynb"
    path.write_text(result.content, encoding="utf-8")
    nb, _ = read_notebook(path)
    marked, problems = mark_cells(nb)
    assert problems == []
    found: dict[str, list[str]] = {}
    for mc in marked:
        if mc.role is not None:
            found.setdefault(mc.role.value, []).append(mc.code.strip())
    return found


def test_label_encoding_and_scaling_of_a_copy_become_preprocess(
    tmp_path: Path,
) -> None:
    cells = [
        IMPORTS,
        DATA,
        """
encoders = {}
for col in ["plan"]:
    le = LabelEncoder()
    df[col] = le.fit_transform(df[col])
    encoders[col] = le
scaler = StandardScaler()
df[["usage"]] = scaler.fit_transform(df[["usage"]])
X_train, X_test, y_train, y_test = train_test_split(
    df.drop(columns="churned"), df["churned"], random_state=0
)
""",
        "model = LogisticRegression().fit(X_train, y_train)",
        """
new_rows = pd.DataFrame([{"plan": "pro", "seats": 12, "usage": 40.5}])
p = new_rows.copy()
for col in ["plan"]:
    p[col] = encoders[col].transform(p[col])
p[["usage"]] = scaler.transform(p[["usage"]])
model.predict(p)
""",
    ]
    result = _tag(tmp_path, cells)
    roles = _roles(result, tmp_path)
    (preprocess,) = roles["preprocess"]
    assert "p = x.copy()" in preprocess
    assert "p[col] = encoders[col].transform(p[col])" in preprocess
    assert 'p[["usage"]] = scaler.transform(p[["usage"]])' in preprocess
    # the raw rows, before the notebook's own encoding, are the examples
    assert roles["example"] == ["examples = new_rows[:5]"]
    load = "\n".join(roles["load"])
    assert "encoders = joblib.load" in load and "scaler = joblib.load" in load
    # `encoders = {}` is filled later: state to load, never a config default
    assert not any("encoders = {}" in c for c in roles.get("config", []))
    assert not any("encoders = {}" in c for c in roles.get("helpers", []))
    assert "the service takes new_rows as it comes" in "\n".join(result.notes)


def test_a_regex_cleaner_before_the_vectorizer_becomes_preprocess(
    tmp_path: Path,
) -> None:
    cells = [
        """
import re
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
""",
        """
def clean(text):
    return re.sub(r"[^a-z ]", " ", text.lower())
""",
        """
texts = ["Refund PLEASE!!", "app crashes :(", "refund my order 12", "crash on login"]
labels = ["billing", "tech", "billing", "tech"]
vec = TfidfVectorizer()
X = vec.fit_transform([clean(t) for t in texts])
clf = LogisticRegression().fit(X, labels)
""",
        """
new_texts = ["WHERE is my REFUND???", "it crashes again"]
clf.predict(vec.transform([clean(t) for t in new_texts]))
""",
    ]
    roles = _roles(_tag(tmp_path, cells), tmp_path)
    (preprocess,) = roles["preprocess"]
    assert "x = [clean(value) for value in x]" in preprocess
    assert preprocess.index("clean(value)") < preprocess.index("vec.transform(x)")
    assert roles["example"] == ["examples = new_texts[:5]"]
    assert any("def clean(text)" in c for c in roles["helpers"])


FRAUD = [
    IMPORTS,
    DATA,
    """
X_train, X_test, y_train, y_test = train_test_split(
    df[["seats", "usage"]], df["churned"], random_state=0
)
clf = LogisticRegression().fit(X_train, y_train)
""",
]


def test_a_written_threshold_becomes_postprocess_with_a_config_setting(
    tmp_path: Path,
) -> None:
    cells = [
        *FRAUD,
        "flags = (clf.predict_proba(X_test)[:, 1] >= 0.35).astype(int)",
    ]
    result = _tag(tmp_path, cells)
    roles = _roles(result, tmp_path)
    assert roles["config"] == ["THRESHOLD = 0.35"]
    assert roles["predict"] == [
        "def predict(features):\n    return clf.predict_proba(features)[:, 1]"
    ]
    assert roles["postprocess"] == [
        "def postprocess(scores):\n    return (scores >= THRESHOLD).astype(int)"
    ]


def test_a_named_threshold_on_the_stored_scores_is_carried_over(
    tmp_path: Path,
) -> None:
    cells = [
        *FRAUD,
        "proba = clf.predict_proba(X_test)[:, 1]\nroc_auc_score(y_test, proba)",
        "CUTOFF = 0.2",
        "alerts = proba > CUTOFF\nalerts.mean()",
    ]
    roles = _roles(_tag(tmp_path, cells), tmp_path)
    assert roles["config"] == ["CUTOFF = 0.2"]
    assert roles["postprocess"] == [
        "def postprocess(scores):\n    return scores > CUTOFF"
    ]


def test_probabilities_where_the_notebook_evaluates_probabilities(
    tmp_path: Path,
) -> None:
    cells = [
        *FRAUD,
        'print("AUC", roc_auc_score(y_test, clf.predict_proba(X_test)[:, 1]))',
        "clf.predict(X_test[:3])",
    ]
    result = _tag(tmp_path, cells)
    roles = _roles(result, tmp_path)
    assert roles["predict"] == [
        "def predict(features):\n    return clf.predict_proba(features)[:, 1]"
    ]
    assert "postprocess" not in roles
    assert "the notebook evaluates 'clf.predict_proba'" in "\n".join(result.notes)


def test_labels_stay_labels_where_the_notebook_never_scores_probabilities(
    tmp_path: Path,
) -> None:
    cells = [*FRAUD, "clf.predict_proba(X_test[:2])", "clf.predict(X_test[:3])"]
    roles = _roles(_tag(tmp_path, cells), tmp_path)
    assert roles["predict"] == [
        "def predict(features):\n    return clf.predict(features)"
    ]


def test_one_hot_encoding_of_new_rows_becomes_preprocess(tmp_path: Path) -> None:
    """pd.get_dummies(new).reindex(columns=X_train.columns): the service takes the
    rows before the encoding, and encodes them as the notebook does."""
    cells = [
        IMPORTS,
        DATA,
        """
X = pd.get_dummies(df.drop(columns="churned"), dtype=float)
X_train, X_test, y_train, y_test = train_test_split(X, df["churned"], random_state=0)
clf = LogisticRegression().fit(X_train, y_train)
""",
        """
new_accounts = pd.DataFrame([{"plan": "team", "seats": 30, "usage": 80.0}])
X_new = pd.get_dummies(new_accounts, dtype=float).reindex(
    columns=X_train.columns, fill_value=0.0
)
clf.predict(X_new)
""",
    ]
    roles = _roles(_tag(tmp_path, cells), tmp_path)
    (preprocess,) = roles["preprocess"]
    assert (
        "x = pd.get_dummies(x, dtype=float).reindex(columns=X_train.columns, "
        "fill_value=0.0)"
    ) in preprocess
    assert roles["example"] == ["examples = new_accounts[:5]"]
    assert any("X_train = joblib.load" in c for c in roles["load"])


def test_a_threshold_set_beside_other_code_is_moved_into_a_config_cell(
    tmp_path: Path,
) -> None:
    cells = [
        *FRAUD,
        "scores = clf.predict_proba(X_test)[:, 1]",
        'CUTOFF = 0.4\nPLOT_TITLE = "alerts"\nalerts = (scores >= CUTOFF).astype(int)',
    ]
    result = _tag(tmp_path, cells)
    roles = _roles(result, tmp_path)
    assert roles["config"] == ["CUTOFF = 0.4"]
    assert roles["postprocess"] == [
        "def postprocess(scores):\n    return (scores >= CUTOFF).astype(int)"
    ]
    assert "config: CUTOFF moved out of cell" in "\n".join(result.notes)
