"""`nb2svc tag` scans the examples it proposes the way `build` scans what it ships
(nb2svc.shipped): a card number in the held-out rows is reported before build refuses
it. Runs the notebook in a real kernel (tag's traced run and its check run).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nb2svc.tag import tag_notebook
from tests.helpers import make_notebook

pytestmark = pytest.mark.slow

CELLS = [
    """
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
""",
    """
rng = np.random.default_rng(0)
CARDS = ["4111111111111111", "5500005555555559", "4012888888881881"]
payments = pd.DataFrame(
    {
        "amount": rng.random(200) * 100,
        "hour": rng.integers(0, 24, 200),
        "card": rng.choice(CARDS, 200),
    }
)
y = (payments["amount"] > 50).astype(int)
X_train, X_test, y_train, y_test = train_test_split(payments, y, random_state=0)
""",
    """
model = make_pipeline(
    ColumnTransformer([("num", "passthrough", ["amount", "hour"])]),
    LogisticRegression(),
)
model.fit(X_train, y_train)
model.score(X_test, y_test)
""",
]


def test_a_card_number_in_the_proposed_examples_is_reported(tmp_path: Path) -> None:
    path = make_notebook(tmp_path, [("code", c) for c in CELLS], "payments.ipynb")
    result = tag_notebook(path)
    assert result.proposed, [d.message for d in result.diagnostics]
    found = [d for d in result.diagnostics if d.code == "NB1113"]
    assert found, [d.message for d in result.diagnostics]
    message = found[0].message
    assert message.startswith("the proposed examples: ")
    assert "card" in message and "'nb2svc build' refuses to ship it" in message
    assert "4111111111111111" not in message  # redacted, never in clear
    assert found[0].hint is not None and "--redact-examples" in found[0].hint
    assert found[0].location.cell is not None  # points at the example cell


def test_clean_examples_give_no_shipped_data_warning(tmp_path: Path) -> None:
    cells = [c.replace('"card": rng.choice(CARDS, 200),', "") for c in CELLS]
    path = make_notebook(tmp_path, [("code", c) for c in cells], "payments.ipynb")
    result = tag_notebook(path)
    assert result.proposed, [d.message for d in result.diagnostics]
    assert not [d for d in result.diagnostics if d.code == "NB1113"]
