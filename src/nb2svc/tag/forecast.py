"""A forecasting model (statsmodels' exponential smoothing, ARIMA results) as a service:
a request names a horizon, `{"horizon": n}`; predict calls the model's `forecast(n)`
the way the notebook does; postprocess returns dated values, one per step ahead.

Reads a NotebookScan; returns the cells to propose, or raises TagError when the
notebook never calls `forecast` on the model (then tag cannot tell what to serve).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from nb2svc.errors import Severity
from nb2svc.model import Role
from nb2svc.tag.flow import TagError, cell_no, diag
from nb2svc.tag.proposal import NewCell
from nb2svc.tag.scan import Fit, NotebookScan

#: The request's field: how many steps ahead to forecast.
HORIZON = "horizon"


@dataclass(frozen=True)
class ForecastCall:
    """The notebook's last `<model>.forecast(steps)` after the model is fitted."""

    cell: int
    pos: int
    steps: ast.expr  # what the notebook passes: HORIZON, 12
    expr: ast.expr  # the whole expression around the call: m.forecast(H).round()
    call: ast.Call


def _steps_of(call: ast.Call) -> ast.expr | None:
    if len(call.args) == 1 and not call.keywords:
        return call.args[0]
    named = [k.value for k in call.keywords if k.arg == "steps"]
    return named[0] if len(named) == 1 and not call.args else None


def find_forecast(scan: NotebookScan, fit: Fit) -> ForecastCall | None:
    found = None
    for cell, pos, stmt, top in scan.statements:
        if pos <= fit.pos or not top:
            continue
        value = stmt.value if isinstance(stmt, ast.Assign | ast.Expr) else None
        if value is None:
            continue
        for node in ast.walk(value):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "forecast"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == fit.obj
                and (steps := _steps_of(node)) is not None
            ):
                found = ForecastCall(cell, pos, steps, value, node)
    return found


def _with_steps(found: ForecastCall, name: str) -> ast.expr:
    """The notebook's expression with the number of steps read from `name`."""

    class Swap(ast.NodeTransformer):
        def visit_Call(self, node: ast.Call) -> ast.Call:
            self.generic_visit(node)
            if ast.unparse(node) == ast.unparse(found.call):
                steps = ast.Name(name, ast.Load())
                if node.args:
                    node.args = [steps]
                else:
                    node.keywords = [ast.keyword("steps", steps)]
            return node

    copied = ast.parse(ast.unparse(found.expr), mode="eval").body
    swapped = Swap().visit(copied)
    assert isinstance(swapped, ast.expr)
    return swapped


def refuse_forecast(scan: NotebookScan, fit: Fit, summary: str) -> TagError:
    return TagError(
        diag(
            scan.nb,
            f"the model to serve is {summary}, a forecasting model, but the notebook "
            f"never calls {fit.obj}.forecast(steps) after fitting it, so tag cannot "
            "tell what its service should return",
            f"forecast with it in the notebook ({fit.obj}.forecast(12)), then run "
            "tag again; or mark the cells by hand: a predict function taking the "
            "number of steps and returning the forecast (docs/notebook-contract.md)",
            "NB1212",
            fit.cell,
            severity=Severity.ERROR,
        )
    )


def forecast_cells(
    found: ForecastCall, names: tuple[str, str, str]
) -> tuple[list[NewCell], list[str]]:
    """preprocess (the horizon from the request), predict (the notebook's forecast
    call) and postprocess (dated values); and notes saying so. `names`: the three
    functions' names."""
    preprocess, predict, postprocess = names
    pre = (
        f"def {preprocess}(raw):\n"
        f'    # one request: {{"{HORIZON}": n}}, the number of steps ahead\n'
        f'    {HORIZON} = int(raw["{HORIZON}"])\n'
        f"    if {HORIZON} < 1:\n"
        f'        raise ValueError("the horizon is a number of steps, at least 1")\n'
        f"    return {HORIZON}"
    )
    call = ast.unparse(_with_steps(found, HORIZON))
    pred = f"def {predict}({HORIZON}):\n    return {call}"
    post = (
        f"def {postprocess}(forecast):\n"
        "    # one dated value per step ahead (its position if the series has no dates)\n"
        "    rows = []\n"
        "    for when, value in pd.Series(forecast).items():\n"
        '        date = when.date().isoformat() if hasattr(when, "date") else int(when)\n'
        '        rows.append({"date": date, "value": float(value)})\n'
        "    return rows"
    )
    cells = [
        NewCell("end", 0, pre, Role.PREPROCESS, key="preprocess", order=5),
        NewCell("end", 0, pred, Role.PREDICT, key="predict", order=6),
        NewCell("end", 0, post, Role.POSTPROCESS, key="postprocess", order=7),
    ]
    notes = [
        f'forecast: a request names the horizon ({{"{HORIZON}": n}}); predict '
        f"calls {call} as the notebook does in "
        f"{cell_no(found.cell)}; postprocess returns one dated value per step"
    ]
    return cells, notes


def horizon_example(found: ForecastCall) -> tuple[NewCell, str]:
    """The notebook's own horizon, and one step ahead; and a note saying so."""
    steps = ast.unparse(found.steps)
    source = f'examples = [{{"{HORIZON}": {steps}}}, {{"{HORIZON}": 1}}]'
    note = (
        f"example: the horizon the notebook forecasts in {cell_no(found.cell)} "
        f"({steps}), and one step ahead"
    )
    return NewCell("end", 0, source, Role.EXAMPLE, key="example", order=8), note


def is_forecaster(scan: NotebookScan, fit: Fit) -> bool:
    """Read from the code (tag --static): built by a statsmodels.tsa class."""
    b = scan.binding(fit.ctor, fit.pos) if fit.ctor else None
    module = b.import_line[0] if b is not None and b.import_line else ""
    return module.startswith("statsmodels.tsa")
