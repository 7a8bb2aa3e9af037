"""`nb2svc tag` on forecasting notebooks (statsmodels exponential smoothing, ARIMA): a
service taking a horizon and returning dated values, or a clear refusal when the
notebook never forecasts. Static proposals here (no kernel); the idiom notebook
monthly_sales_forecast goes through tag -> build -> verify in tests/test_tag_idioms.py.
"""

from __future__ import annotations

from pathlib import Path

from nb2svc.errors import ExitCode
from nb2svc.notebook.markers import mark_cells
from nb2svc.notebook.reader import read_notebook
from nb2svc.tag import TagResult, tag_notebook
from tests.helpers import make_notebook

SERIES = """
import numpy as np
import pandas as pd
from statsmodels.tsa.arima.model import ARIMA
from statsmodels.tsa.holtwinters import ExponentialSmoothing

months = pd.date_range("2020-01-01", periods=48, freq="MS")
visits = pd.Series(np.arange(48) * 3.0 + 100, index=months)
"""


def _roles(result: TagResult, tmp_path: Path) -> dict[str, str]:
    assert result.content is not None, [d.message for d in result.diagnostics]
    path = tmp_path / "tagged.ipynb"
    path.write_text(result.content, encoding="utf-8")
    nb, _ = read_notebook(path)
    marked, problems = mark_cells(nb)
    assert problems == []
    return {mc.role.value: mc.code.strip() for mc in marked if mc.role is not None}


def _tag(tmp_path: Path, *cells: str) -> TagResult:
    path = make_notebook(tmp_path, [("code", c) for c in (SERIES, *cells)])
    return tag_notebook(path, static=True)


def test_holt_winters_is_served_as_a_horizon_in_and_dated_values_out(
    tmp_path: Path,
) -> None:
    result = _tag(
        tmp_path,
        "STEPS = 6",
        'hw = ExponentialSmoothing(visits, trend="add").fit()\n'
        "outlook = hw.forecast(STEPS).round(1)",
    )
    roles = _roles(result, tmp_path)
    assert roles["preprocess"] == (
        "def preprocess(raw):\n"
        '    # one request: {"horizon": n}, the number of steps ahead\n'
        '    horizon = int(raw["horizon"])\n'
        "    if horizon < 1:\n"
        '        raise ValueError("the horizon is a number of steps, at least 1")\n'
        "    return horizon"
    )
    assert roles["predict"] == (
        "def predict(horizon):\n    return hw.forecast(horizon).round(1)"
    )
    assert "def postprocess(forecast):" in roles["postprocess"]
    assert '{"date": date, "value": float(value)}' in roles["postprocess"]
    assert roles["example"] == 'examples = [{"horizon": STEPS}, {"horizon": 1}]'
    assert roles["load"] == 'hw = joblib.load("hw.joblib")'
    assert "pandas" in roles["imports"]


def test_an_arima_forecast_with_named_steps(tmp_path: Path) -> None:
    result = _tag(
        tmp_path,
        "res = ARIMA(visits, order=(1, 1, 0)).fit()\nres.forecast(steps=3)",
    )
    roles = _roles(result, tmp_path)
    assert roles["predict"] == (
        "def predict(horizon):\n    return res.forecast(steps=horizon)"
    )
    assert roles["example"] == 'examples = [{"horizon": 3}, {"horizon": 1}]'


def test_a_forecaster_the_notebook_never_forecasts_with_is_refused_clearly(
    tmp_path: Path,
) -> None:
    result = _tag(tmp_path, "res = ARIMA(visits, order=(1, 1, 0)).fit()\nres.summary()")
    assert not result.proposed
    assert result.exit_code == ExitCode.USER_ERROR
    (error,) = result.diagnostics
    assert error.code == "NB1212"
    assert "a forecasting model" in error.message
    assert "never calls res.forecast(steps)" in error.message
    assert error.hint is not None and "res.forecast(12)" in error.hint
