"""nb2svc compare's arithmetic and data reading, on outputs written here (no service):
agreement within a tolerance, PSI / KS / label shift, the largest disagreements, the
JSON form and the data file formats."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from scipy.stats import ks_2samp

from nb2svc.compare.data import read_rows
from nb2svc.compare.model import Tolerance
from nb2svc.compare.report import render_json
from nb2svc.compare.stats import compare_outputs
from nb2svc.errors import ExitCode, InputError
from tests.helpers import run_cli
from tests.service_support import free_port

NAMES = ("a", "b", "rows.csv")


def outputs(probabilities: list[float], threshold: float) -> list[dict[str, object]]:
    return [
        {"p": p, "decision": "review" if p >= threshold else "approve"}
        for p in probabilities
    ]


def test_identical_outputs_agree_everywhere_and_do_not_shift() -> None:
    same = outputs([i / 100 for i in range(100)], 0.7)
    report = compare_outputs(
        list(range(100)), same, same, names=NAMES, tolerance=Tolerance()
    )
    assert report.passed and report.exit_code == ExitCode.OK
    assert report.disagreeing_rows == 0 and report.disagreements == ()
    assert {f.field: (f.exact, f.within) for f in report.agreement} == {
        "decision": (100, 100),
        "p": (100, 100),
    }
    assert all(s.psi == 0 for s in report.shift)
    [numeric] = [s for s in report.shift if s.kind == "numeric"]
    assert numeric.ks == 0 and numeric.ks_pvalue == 1


def test_tolerance_decides_agreement_of_numbers() -> None:
    a = [{"p": 0.5}, {"p": 0.25}, {"p": 0.1}]
    b = [{"p": 0.5 + 5e-7}, {"p": 0.25 + 1e-3}, {"p": 0.1}]
    report = compare_outputs([1, 2, 3], a, b, names=NAMES, tolerance=Tolerance(1e-6, 0))
    [field] = report.agreement
    assert (field.exact, field.within, field.rows) == (1, 2, 3)
    assert field.max_abs_diff == pytest.approx(1e-3)
    assert report.disagreeing_rows == 1
    assert [d.row for d in report.disagreements] == [2]
    loose = compare_outputs([1, 2, 3], a, b, names=NAMES, tolerance=Tolerance(1e-2, 0))
    assert loose.passed


def test_shift_matches_scipy_and_label_frequencies() -> None:
    pa = [i / 200 for i in range(200)]
    pb = [min(1.0, p * 1.3) for p in pa]
    report = compare_outputs(
        list(range(200)),
        outputs(pa, 0.7),
        outputs(pb, 0.7),
        names=NAMES,
        tolerance=Tolerance(),
    )
    shift = {s.field: s for s in report.shift}
    expected = ks_2samp(pa, pb)
    assert shift["p"].ks == pytest.approx(expected.statistic)
    assert shift["p"].ks_pvalue == pytest.approx(expected.pvalue)
    assert shift["p"].mean_b == pytest.approx(sum(pb) / 200)
    assert shift["p"].psi > 0.1
    reviewed_a = sum(p >= 0.7 for p in pa) / 200
    reviewed_b = sum(p >= 0.7 for p in pb) / 200
    assert shift["decision"].frequencies == (
        ("approve", 1 - reviewed_a, 1 - reviewed_b),
        ("review", reviewed_a, reviewed_b),
    )
    e, a_ = (1 - reviewed_a, reviewed_a), (1 - reviewed_b, reviewed_b)
    psi = sum((y - x) * math.log(y / x) for x, y in zip(e, a_, strict=True))
    assert shift["decision"].psi == pytest.approx(psi)


def test_largest_disagreements_come_first_label_changes_above_all() -> None:
    a = [
        {"p": 0.1, "d": "x"},
        {"p": 0.2, "d": "x"},
        {"p": 0.3, "d": "x"},
        {"p": 0.4, "d": "x"},
    ]
    b = [
        {"p": 0.1, "d": "x"},
        {"p": 0.5, "d": "x"},
        {"p": 0.31, "d": "y"},
        {"p": 0.45, "d": "x"},
    ]
    inputs = [{"row": i} for i in range(4)]
    report = compare_outputs(inputs, a, b, names=NAMES, tolerance=Tolerance(), top=2)
    assert report.disagreeing_rows == 3 and not report.passed
    assert report.exit_code == ExitCode.DISAGREE
    first, second = report.disagreements
    assert (first.row, first.fields, first.score) == (3, ("d", "p"), math.inf)
    assert (second.row, second.input, second.a, second.b) == (2, {"row": 1}, a[1], b[1])
    assert second.score == pytest.approx(0.3)
    accepted = compare_outputs(
        inputs, a, b, names=NAMES, tolerance=Tolerance(), max_disagreement=0.75
    )
    assert accepted.passed


def test_scalar_outputs_and_json_form() -> None:
    report = compare_outputs(
        ["x", "y"], [1.0, float("nan")], [1.0, 2.0], names=NAMES, tolerance=Tolerance()
    )
    document = json.loads(render_json(report))
    assert [f["field"] for f in document["agreement"]] == ["value"]
    assert document["disagreeing_rows"] == 1
    assert document["disagreements"][0]["a"] is None  # NaN is not JSON
    assert document["exit_code"] == ExitCode.DISAGREE


def test_data_files(tmp_path: Path) -> None:
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text("amount,name,flag,n,empty\n1.5,café,true,3,\n2,007,False,-1,\n")
    assert read_rows(csv_file) == [
        {"amount": 1.5, "name": "café", "flag": True, "n": 3, "empty": None},
        # 007 is not a JSON number: an identifier keeps its leading zeros
        {"amount": 2, "name": "007", "flag": False, "n": -1, "empty": None},
    ]
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text('{"a": 1}\n\n[1, 2]\n')
    assert read_rows(jsonl) == [{"a": 1}, [1, 2]]
    array = tmp_path / "rows.json"
    array.write_text('[{"a": 1}, "text"]')
    assert read_rows(array) == [{"a": 1}, "text"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.jsonl", '{"a": 1}\n{oops\n', "bad.jsonl: line 2"),
        ("bad.json", '{"a": 1}', "must hold an array"),
        ("bad.csv", "a,b\n1,2,3\n", "bad.csv: line 2"),
        ("empty.csv", "a,b\n", "has no rows"),
        ("rows.txt", "1\n", "unknown data file type '.txt'"),
    ],
)
def test_bad_data_files_name_file_and_line(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        read_rows(path)
    assert message in str(caught.value)
    assert caught.value.exit_code == ExitCode.INPUT


def test_cli_refuses_an_unknown_side_with_exit_3(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"a": 1}\n')
    code, output = run_cli("compare", tmp_path / "nope", "models:/x@y", "--data", rows)
    assert code == ExitCode.INPUT, output
    assert "nope: not a service URL" in output
    code, output = run_cli("compare", "models:/x@y", "models:/x/2", "--data", rows)
    assert code == ExitCode.INPUT, output
    assert "give its folder with --service DIR" in output


def test_cli_reports_an_unreachable_service_with_exit_8(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"a": 1}\n')
    url = f"http://127.0.0.1:{free_port()}"
    code, output = run_cli("compare", url, url, "--data", rows, "--json")
    assert code == ExitCode.SERVICE_FAILED, output
    document = json.loads(output)
    assert document["exit_code"] == ExitCode.SERVICE_FAILED
    assert "no nb2svc /metadata at " + url in document["diagnostics"][0]["message"]
