"""The drift statistics of the generated service (``nb2svc_runtime.profile``), checked directly.

The module is a plain template file, the same code the kernel runs at build time and
the service runs on its window: loaded here from the templates folder.
"""

from __future__ import annotations

import importlib.util
import json
import math
import random
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import pytest
from scipy import stats

from tests.conftest import REPO

PROFILE_PY = REPO / "runtime" / "src" / "nb2svc_runtime" / "profile.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nb2svc_test_profile", PROFILE_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


profile = _load()


def numeric(values: Sequence[Any]) -> dict[str, Any]:
    result = profile.profile_feature(list(values))
    assert result is not None and result["kind"] == "numeric"
    return dict(result)


def test_deciles_of_a_uniform_grid_are_exact() -> None:
    p = numeric(range(1, 1001))
    assert p["edges"] == [100, 200, 300, 400, 500, 600, 700, 800, 900]
    assert p["fractions"] == [0.1] * 10
    assert (p["min"], p["max"], p["count"], p["missing_rate"]) == (1, 1000, 1000, 0.0)
    assert len(p["cdf"]) == profile.CDF_POINTS
    assert p["cdf"][-1] == [1000, 1.0]


def test_bins_are_right_closed_and_shared_edges_merge() -> None:
    # 92% zeros: every decile below the 10th is 0, so there is one edge.
    values = [0] * 92 + [1] * 8
    p = numeric(values)
    assert p["edges"] == [0]
    assert p["fractions"] == [0.92, 0.08]
    assert p["cdf"] == [[0, 0.92], [1, 1.0]]


def test_missing_values_are_counted_apart() -> None:
    p = numeric([1.0, None, 2.0, float("nan"), 3.0])
    assert p["missing_rate"] == 0.4
    assert p["count"] == 3


def test_categories_keep_the_most_frequent_and_count_the_rest_as_other() -> None:
    values = [f"c{i:03d}" for i in range(200) for _ in range(i + 1)]
    p = profile.profile_feature(values)
    assert p["kind"] == "categorical"
    assert len(p["frequencies"]) == profile.TOP_CATEGORIES
    assert p["distinct"] == 200
    assert "c199" in p["frequencies"] and "c000" not in p["frequencies"]
    assert math.isclose(sum(p["frequencies"].values()) + p["other"], 1.0, abs_tol=1e-5)


def test_booleans_are_categories_and_numbers_round_to_eight_digits() -> None:
    p = profile.profile_feature([True, False, False, None])
    assert p["frequencies"] == {"false": 0.666667, "true": 0.333333}
    assert p["missing_rate"] == 0.25
    q = numeric([1 / 3, 2 / 3, 1.0])
    assert q["mean"] == 0.66666667
    assert q["edges"][0] == 0.33333333


def test_profile_is_deterministic_sorted_json_without_the_rows() -> None:
    rng = random.Random(7)
    rows = [
        {"x": rng.gauss(0, 1), "c": rng.choice("abc"), "n": rng.randint(0, 5)}
        for _ in range(5000)
    ]
    outputs = [{"score": rng.random()} for _ in rows]
    first = profile.build_profile(rows, outputs, ["c", "n", "x"])
    again = profile.build_profile(list(rows), list(outputs), ["x", "n", "c"])
    text = json.dumps(first, sort_keys=True)
    assert text == json.dumps(again, sort_keys=True)
    assert list(first["features"]) == ["c", "n", "x"]
    assert first["rows"] == first["prediction_rows"] == 5000
    # Compact: a few kilobytes for 5000 rows, no raw value list.
    assert len(text) < 12_000
    assert len(first["features"]["x"]["cdf"]) <= profile.CDF_POINTS


def test_unknown_feature_values_are_not_profiled() -> None:
    assert profile.profile_feature([{"nested": 1}, {"nested": 2}]) is None
    assert profile.profile_table([{"a": 1, "b": [1]}]).keys() == {"a"}


@pytest.mark.parametrize(
    ("expected", "actual", "psi"),
    [
        ([0.5, 0.5], [0.5, 0.5], 0.0),
        ([0.5, 0.5], [0.9, 0.1], 0.4 * math.log(1.8) + 0.4 * math.log(5)),
        ([0.25] * 4, [0.1, 0.2, 0.3, 0.4], None),
    ],
)
def test_psi_is_the_textbook_formula(
    expected: list[float], actual: list[float], psi: float | None
) -> None:
    want = (
        psi
        if psi is not None
        else sum(
            (a - e) * math.log(a / e) for e, a in zip(expected, actual, strict=True)
        )
    )
    assert math.isclose(profile.psi(expected, actual), want, abs_tol=1e-12)


def test_psi_floors_empty_bins_instead_of_going_infinite() -> None:
    value = profile.psi([0.5, 0.5, 0.0], [0.5, 0.0, 0.5])
    eps = profile.EPSILON
    want = (eps - 0.5) * math.log(eps / 0.5) + (0.5 - eps) * math.log(0.5 / eps)
    assert math.isclose(value, want)
    assert math.isfinite(value)


def test_ks_statistic_equals_scipy_for_discrete_data() -> None:
    rng = random.Random(1)
    reference = [min(30, int(rng.expovariate(0.3))) for _ in range(3000)]
    sample = [min(30, int(rng.expovariate(0.25))) for _ in range(700)]
    p = numeric(reference)
    ours = profile.ks_statistic(p, sorted(sample))
    theirs = stats.ks_2samp(sample, reference)
    assert ours == pytest.approx(theirs.statistic, abs=1e-6)
    pvalue = profile.ks_pvalue(ours, len(sample), len(reference))
    asymp = stats.ks_2samp(sample, reference, method="asymp").pvalue
    assert pvalue == pytest.approx(asymp, rel=1e-3, abs=1e-9)


def test_ks_statistic_is_close_to_scipy_for_continuous_data() -> None:
    rng = random.Random(2)
    reference = [rng.gauss(0, 1) for _ in range(3000)]
    for shift in (0.0, 0.1, 0.5):
        sample = [rng.gauss(shift, 1) for _ in range(1000)]
        ours = profile.ks_statistic(numeric(reference), sorted(sample))
        theirs = stats.ks_2samp(sample, reference).statistic
        # Measured at 100 reference quantiles: never above the exact statistic, and
        # below it by at most the mass between two of them.
        assert theirs - 1.5 / profile.CDF_POINTS <= ours <= theirs + 1e-6


def test_compare_reports_no_drift_for_the_same_distribution() -> None:
    rng = random.Random(3)
    p = numeric([rng.lognormvariate(3.6, 1.1) for _ in range(3000)])
    same = profile.compare(p, [rng.lognormvariate(3.6, 1.1) for _ in range(1000)])
    shifted = profile.compare(p, [rng.lognormvariate(5.0, 1.1) for _ in range(1000)])
    assert same["psi"] < 0.05
    assert shifted["psi"] > 1.0
    assert same["ks_statistic"] < 0.06 < 0.4 < shifted["ks_statistic"]
    big = profile.ks_pvalue(same["ks_statistic"], 1000, 3000)
    tiny = profile.ks_pvalue(shifted["ks_statistic"], 1000, 3000)
    assert big > 0.01 > 1e-20 > tiny


def test_compare_counts_missing_and_wrong_kinds_in_a_bin_of_their_own() -> None:
    p = numeric(list(range(100)))
    result = profile.compare(p, [*range(0, 100, 2), None, "text"] * 2)
    assert result["rows"] == 104 and result["present"] == 100
    assert result["missing_rate"] == pytest.approx(4 / 104)
    assert result["psi"] > 0.1  # 4% missing where the reference had none
    assert profile.compare(p, [])["ks_statistic"] is None


def test_compare_puts_unseen_categories_in_other() -> None:
    p = profile.profile_feature(["a"] * 50 + ["b"] * 50)
    unseen = profile.compare(p, ["c"] * 100)
    assert unseen["psi"] > 5
    assert unseen["ks_statistic"] is None
    assert profile.compare(p, ["a", "b"] * 50)["psi"] == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("value", "kind", "rows"),
    [
        (
            [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}],
            "frame",
            [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}],
        ),
        ({"a": 1.5, "nested": {"x": 1}}, "record", [{"a": 1.5}]),
        ("two words", "string", [{"length": 9, "words": 2}]),
        ([1.0, 2.0], "array", [{"0": 1.0, "1": 2.0}]),
        (3, "json", [{"value": 3}]),
    ],
)
def test_input_rows_by_kind(value: Any, kind: str, rows: list[dict[str, Any]]) -> None:
    assert profile.input_rows(value, kind) == rows


def test_output_rows_split_per_input_row_only_when_the_lengths_match() -> None:
    per_row = [{"p": 0.1, "d": "a"}, {"p": 0.9, "d": "b"}]
    assert profile.output_rows(per_row, 2) == per_row
    assert profile.output_rows([0.2, 0.8], 1) == [{"0": 0.2, "1": 0.8}]
    assert profile.output_rows(0.5, 1) == [{"prediction": 0.5}]
    assert profile.output_rows([[0.2, 0.8]], 1) == [{"0": 0.2, "1": 0.8}]
