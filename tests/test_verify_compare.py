"""verify's comparison, reports and exit codes, on hand-made values (no kernel, no
service): the fast half of verify's tests. tests/test_verify.py runs the real thing."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from nb2svc.errors import Diagnostic, ExitCode, Location, Severity
from nb2svc.verify.compare import Tolerance, compare_values, sci
from nb2svc.verify.html import render_html
from nb2svc.verify.model import ExampleResult, Outcome, Report
from nb2svc.verify.notebook import NotebookRun
from nb2svc.verify.report import render_json
from nb2svc.verify.runner import compare_with_service, notebook_self_differences
from nb2svc.verify.service import Answer, ServiceRun

TOL = Tolerance()


def diffs(expected: Any, actual: Any, shape: Any = None, **tol: float) -> list[str]:
    tolerance = Tolerance(**tol) if tol else TOL
    result = compare_values(expected, actual, tolerance, "examples[1]", shape=shape)
    return [str(d) for d in result.differences]


def test_the_issue_example_reads_exactly_so() -> None:
    assert diffs(
        {"default_probability": 0.41735}, {"default_probability": 0.41802}
    ) == [
        "examples[1].default_probability: notebook 0.41735 vs service 0.41802 "
        "(rel 1.6e-3)"
    ]


def test_equal_values_have_no_differences() -> None:
    value = {"a": [1, 2.5, "x", True, None, {"b": [0.1]}], "c": "ü"}
    assert diffs(value, json.loads(json.dumps(value))) == []


def test_floats_use_rtol_and_atol() -> None:
    assert diffs(1.0, 1.0 + 5e-7) == []  # within the default rtol 1e-6
    assert diffs(1.0, 1.0 + 5e-6) != []
    assert diffs(1.0, 1.0 + 5e-6, rtol=1e-5, atol=0.0) == []
    assert diffs(0.0, 5e-10) == []  # within the default atol 1e-9
    assert diffs(0.0, 5e-8) == [
        "examples[1]: notebook 0.0 vs service 5e-08 (rel 1.0e0)"
    ]
    assert diffs(0.0, 5e-8, atol=1e-7, rtol=0.0) == []


def test_nan_equals_nan_and_null() -> None:
    nan = float("nan")
    assert diffs([nan, 1.0], [nan, 1.0]) == []
    assert diffs([nan], [None]) == []  # JSON has no NaN: to_jsonable makes it null
    assert diffs([nan], [1.0]) != []
    assert diffs([1.0], [nan]) != []


@pytest.mark.parametrize(
    ("expected", "actual", "message"),
    [
        ("billing", "account", 'notebook "billing" vs service "account"'),
        (3, 4, "notebook 3 vs service 4"),
        (True, False, "notebook true vs service false"),
        (1, 1.0, "notebook int 1 vs service float 1.0"),
        (1.0, 1, "notebook float 1.0 vs service int 1"),
        (1, True, "notebook int 1 vs service bool true"),
        (None, 0, "notebook null null vs service int 0"),
        ("1", 1, 'notebook string "1" vs service int 1'),
        ([1], {"a": 1}, 'notebook array [1] vs service object {"a": 1}'),
    ],
)
def test_strings_ints_and_bools_are_exact_and_typed(
    expected: Any, actual: Any, message: str
) -> None:
    assert diffs(expected, actual) == [f"examples[1]: {message}"]


def test_objects_compare_keys_not_their_order() -> None:
    assert diffs({"a": 1, "b": 2}, {"b": 2, "a": 1}) == []
    assert diffs({"a": 1, "b": 2}, {"a": 1, "c": 2}) == [
        'examples[1]: keys differ: service lacks "b"; service adds "c"'
    ]


def test_lists_compare_length_and_order() -> None:
    assert diffs([1, 2, 3], [1, 2]) == [
        "examples[1]: notebook 3 items vs service 2 items"
    ]
    assert diffs(["a", "b"], ["b", "a"]) == [
        'examples[1][0]: notebook "a" vs service "b"',
        'examples[1][1]: notebook "b" vs service "a"',
    ]


def test_paths_quote_keys_that_are_not_identifiers() -> None:
    assert diffs({"a b": {"ok_1": [0, 5]}}, {"a b": {"ok_1": [0, 6]}}) == [
        'examples[1]["a b"].ok_1[1]: notebook 5 vs service 6'
    ]


def test_array_shape_and_dtype_from_the_notebook() -> None:
    shape = {"type": "ndarray", "shape": [2, 2], "dtype": "float64"}
    assert diffs([[0.1, 0.2], [0.3, 0.4]], [[0.1, 0.2], [0.3, 0.4]], shape) == []
    assert diffs([[0.1, 0.2], [0.3, 0.4]], [[0.1, 0.2, 0.3, 0.4]], shape) == [
        "examples[1]: notebook ndarray float64 shape (2, 2) vs service shape (1, 4)"
    ]
    assert diffs([[0.1, 0.2], [0.3, 0.4]], [[0.1], [0.3, 0.4]], shape) == [
        "examples[1]: notebook ndarray float64 shape (2, 2) vs service a ragged "
        "array [[0.1], [0.3, 0.4]]"
    ]
    ints = {"type": "ndarray", "shape": [3], "dtype": "int64"}
    assert diffs([1, 0, 1], [1.0, 0.0, 1.0], ints) == [
        "examples[1]: notebook ndarray int64 shape (3,) vs service values of "
        "another dtype (float 1.0)"
    ]
    # Values are compared element by element once shape and dtype agree.
    assert diffs([[0.1, 0.2], [0.3, 0.4]], [[0.1, 0.2], [0.3, 0.5]], shape) == [
        "examples[1][1][1]: notebook 0.4 vs service 0.5 (rel 2.0e-1)"
    ]


def test_frame_shape_columns_and_dtypes_from_the_notebook() -> None:
    shape = {
        "type": "DataFrame",
        "shape": [2, 2],
        "columns": ["p", "label"],
        "dtypes": ["float64", "object"],
    }
    frame = [{"p": 0.5, "label": "a"}, {"p": 0.25, "label": "b"}]
    assert diffs(frame, [dict(r) for r in frame], shape) == []
    assert diffs(frame, frame[:1], shape) == [
        "examples[1]: notebook DataFrame shape (2, 2) vs service 1 records with "
        "columns ['label', 'p'] (notebook ['p', 'label'])"
    ]
    ints = [{"p": 1, "label": "a"}, {"p": 0.25, "label": "b"}]
    assert diffs(frame, ints, shape) == [
        "examples[1][0].p: notebook float64 0.5 vs service int 1"
    ]


def test_nested_shapes_follow_dicts_and_lists() -> None:
    shape = {
        "type": "dict",
        "items": {"probs": {"type": "ndarray", "shape": [2], "dtype": "float32"}},
    }
    assert diffs({"probs": [0.5, 0.5]}, {"probs": [0.5, 0.5, 0.0]}, shape) == [
        "examples[1].probs: notebook ndarray float32 shape (2,) vs service shape (3,)"
    ]


def test_errors_are_measured_for_the_table() -> None:
    result = compare_values([1.0, 2.0, 4.0], [1.0, 2.002, 4.0], TOL, "x")
    assert result.max_abs == pytest.approx(0.002)
    assert result.max_rel == pytest.approx(0.002 / 2.002)
    assert [p.ok for p in result.points] == [True, False, True]


def test_sci_is_compact() -> None:
    assert [sci(1.6e-3), sci(0.5), sci(12000.0)] == ["1.6e-3", "5.0e-1", "1.2e4"]


# --- runs of the notebook, and the service's answers ------------------------------


def run(outputs: list[Any], repeats: list[Any] | None = None) -> NotebookRun:
    return NotebookRun(
        input_kind="record",
        inputs=tuple({"a": i} for i in range(len(outputs))),
        outputs=tuple(outputs),
        shapes=tuple({"type": "dict"} for _ in outputs),
        repeats=tuple(repeats if repeats is not None else outputs),
        python="python",
        python_version="3.11",
        versions={},
        seconds=1.0,
    )


def test_runs_that_disagree_are_nondeterminism() -> None:
    assert notebook_self_differences([run([{"y": 1.0}]), run([{"y": 1.0}])], TOL) == []
    found = notebook_self_differences([run([{"y": 1.0}]), run([{"y": 1.5}])], TOL)
    assert [str(d) for d in found] == [
        "examples[0].y: run 1 1.0 vs run 2 1.5 (rel 3.3e-1)"
    ]


def test_two_calls_that_disagree_are_nondeterminism() -> None:
    found = notebook_self_differences([run([{"y": 1.0}], [{"y": 2.0}])], TOL)
    assert [str(d) for d in found] == [
        "examples[0].y: run 1 call 1 1.0 vs call 2 2.0 (rel 5.0e-1)"
    ]


def answer(body: Any, error: str | None = None) -> Answer:
    return Answer(200 if error is None else 500, body, error, 0.01)


def service(single: list[Answer], batch: Answer) -> ServiceRun:
    return ServiceRun(tuple(single), batch, ("python",), "python", 1.0, "cleanly")


def test_batch_must_equal_the_per_row_outputs() -> None:
    nb = run([{"y": 1.0}, {"y": 2.0}])
    single = [answer({"y": 1.0}), answer({"y": 2.0})]
    examples, general = compare_with_service(
        nb, service(single, answer([{"y": 2.0}, {"y": 1.0}])), TOL
    )
    assert general == []
    assert [e.status for e in examples] == ["mismatch", "mismatch"]
    assert str(examples[0].differences[0]) == (
        "batch[0].y: notebook 1.0 vs service 2.0 (rel 5.0e-1)"
    )
    _, general = compare_with_service(nb, service(single, answer([{"y": 1.0}])), TOL)
    assert [d.path for d in general] == ["batch"]


def test_a_service_error_is_a_mismatch_of_that_example() -> None:
    nb = run([{"y": 1.0}])
    error = "HTTP 500 prediction_failed: The model could not produce a prediction"
    examples, general = compare_with_service(
        nb, service([answer(None, error)], answer(None, error)), TOL
    )
    assert examples[0].status == "error"
    assert str(examples[0].differences[0]) == (
        f'examples[0]: notebook {{"y": 1.0}} vs service answered {error}'
    )
    assert str(general[0]) == f"batch: service answered {error}"


# --- reports ------------------------------------------------------------------------


def report(outcome: Outcome, **changes: Any) -> Report:
    base = Report(
        notebook="nb.ipynb",
        out="build/nb",
        package="nb",
        outcome=outcome,
        tolerance=TOL,
        runs=1,
        build="up to date",
    )
    return Report(**{**base.__dict__, **changes})


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        (Outcome.MATCH, 0),
        (Outcome.MISMATCH, 7),
        (Outcome.NOTEBOOK_FAILED, 4),
        (Outcome.SERVICE_FAILED, 8),
        (Outcome.NONDETERMINISTIC, 9),
    ],
)
def test_each_outcome_has_its_exit_code(outcome: Outcome, code: int) -> None:
    assert report(outcome).exit_code == code
    assert code == 0 or code in {c.value for c in ExitCode}


def a_mismatch() -> Report:
    comparison = compare_values(
        [{"p": 0.5, "<script>": 0.25}, {"p": math.inf}],
        [{"p": 0.6, "<script>": 0.5}, {"p": math.inf}],
        TOL,
        "examples[0]",
    )
    example = ExampleResult(
        index=0,
        status="mismatch",
        input={"a": "<b>"},
        notebook=[{"p": 0.5}],
        service=[{"p": 0.6}],
        batch=[{"p": 0.6}],
        latency_ms=3.2,
        max_abs_error=comparison.max_abs,
        max_rel_error=math.inf,
        differences=tuple(comparison.differences),
        points=tuple(comparison.points),
    )
    note = Diagnostic(Severity.WARNING, Location("x/<pipeline>.py"), "edited & <b>")
    return report(Outcome.MISMATCH, examples=(example,), diagnostics=(note,))


def test_json_report_is_strict_json_for_ci() -> None:
    data = json.loads(render_json(a_mismatch()))
    assert data["outcome"] == "mismatch"
    assert data["exit_code"] == 7
    assert data["tolerance"] == {"rtol": 1e-6, "atol": 1e-9}
    assert data["summary"]["matched"] == 0
    assert data["examples"][0]["max_rel_error"] is None  # inf is not JSON
    assert data["differences"][0]["path"] == "examples[0][0].p"
    assert data["diagnostics"][0]["severity"] == "warning"


def test_html_report_is_self_contained_and_escaped() -> None:
    page = render_html(a_mismatch())
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page  # neither ours nor the values'
    assert "examples[0][0][&quot;&lt;script&gt;&quot;]: notebook 0.25" in page
    assert "&lt;b&gt;" in page
    assert page.count("<svg") == 2
    assert "<circle" in page
    urls = [w for w in page.split('"') if w.startswith(("http:", "https:", "//"))]
    assert urls == ["http://www.w3.org/2000/svg"] * 2  # SVG namespaces only
    assert "examples[0][0].p: notebook 0.5 vs service 0.6" in page


def test_html_report_without_numbers_says_so() -> None:
    example = ExampleResult(0, "match", "a", "b", "b", "b", 1.0, 0.0, 0.0)
    page = render_html(report(Outcome.MATCH, examples=(example,)))
    assert "hold no numbers to plot" in page
    assert "<svg" not in page
