"""The reference profile of the service's inputs and predictions, and drift against it.

nb2svc runs this same code in the notebook's kernel to profile the notebook's
``reference`` data at build time, and the service runs it on its recent requests, so
both sides turn values into rows, bins and categories the same way. Pure Python.

A profile holds, per feature, no raw rows: for a numeric feature its quantile bins
(edges and the share of rows in each), points of its cumulative distribution, a few
summary numbers and its missing rate; for any other feature the frequencies of its
most common values and its missing rate. The service's predictions on the same data
are profiled the same way.

An identifier (an id, a card number, an e-mail address: a feature whose values are
nearly all distinct) is profiled without its values: only its count, missing rate and
number of distinct values are kept, under ``unprofiled``, and no drift is measured.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

FORMAT = 1
#: Quantile bins of a numeric feature, compared with the population stability index.
BINS = 10
#: Most points of a numeric feature's cumulative distribution kept for the KS test.
CDF_POINTS = 100
#: Categories kept by frequency; the others are counted together as "other".
TOP_CATEGORIES = 50
#: Smallest share a bin counts with in the PSI (an empty bin would make it infinite).
EPSILON = 1e-4
_SCALARS = (str, bool, int, float)
#: A feature is an identifier when more than this share of its values present are
#: distinct, and more than ID_MIN_DISTINCT of them ...
ID_DISTINCT_SHARE = 0.9
ID_MIN_DISTINCT = 10
#: ... and, for numbers, every value is whole and at least this large (an account or
#: card number; counts and amounts are features however varied they are).
ID_MIN_MAGNITUDE = 10**6


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, _SCALARS)


def _flatten(value: Any, name: str) -> dict[str, Any]:
    """One row of features: an object's scalar members, an array's items by position."""
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items() if _scalar(v)}
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value) if _scalar(v)}
    return {name: value} if _scalar(value) else {}


def input_rows(value: Any, kind: str) -> list[dict[str, Any]]:
    """The feature rows of one request input, in its JSON form.

    A table gives a row per record; a text gives its length in characters and words;
    an object its scalar members; an array its items by position.
    """
    if kind == "frame":
        if not isinstance(value, list):
            return []
        return [_flatten(row, "value") for row in value if isinstance(row, Mapping)]
    if kind == "string":
        if not isinstance(value, str):
            return []
        return [{"length": len(value), "words": len(value.split())}]
    return [_flatten(value, "value")]


def output_rows(value: Any, rows: int) -> list[dict[str, Any]]:
    """The prediction rows of one response (JSON form) to an input of ``rows`` rows.

    A list with one item per input row is one prediction per row; any other value is
    one prediction. Objects give their scalar members, a lone value ``prediction``.
    """
    items = value if isinstance(value, list) and len(value) == rows else [value]
    return [_flatten(item, "prediction") for item in items]


def _number(value: Any) -> float | None:
    """A finite number, or None (booleans are categories, not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def category(value: Any) -> str:
    """The key a value is counted under: strings as they are, others as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    number = _number(value)
    if number is not None and number == int(number):
        return str(int(number))
    return repr(value)


def _round(value: float) -> int | float:
    """Eight significant digits; integral values as integers. Deterministic text."""
    rounded = float(f"{value:.8g}")
    return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded


def _share(count: int, total: int) -> float:
    return round(count / total, 6) if total else 0.0


def _quantile(ordered: Sequence[float], i: int, k: int) -> float:
    """The inverted-CDF ``i/k`` quantile: the smallest value with at least ``i/k`` of
    the rows at or below it (integer arithmetic: no rounding at bin boundaries)."""
    index = max(0, -(-i * len(ordered) // k) - 1)
    return ordered[min(index, len(ordered) - 1)]


def _dedupe(values: list[int | float]) -> list[int | float]:
    return sorted(set(values))


def bin_counts(ordered: Sequence[float], edges: Sequence[float]) -> list[int]:
    """Rows per bin: bin 0 is (-inf, edges[0]], bin i (edges[i-1], edges[i]], the last
    (edges[-1], inf). ``ordered`` must be sorted."""
    counts, start = [], 0
    for edge in edges:
        end = bisect.bisect_right(ordered, edge)
        counts.append(end - start)
        start = end
    counts.append(len(ordered) - start)
    return counts


def is_identifier(present: Sequence[Any]) -> bool:
    """Whether values (none missing) are identifiers rather than a feature's values."""
    distinct = len({category(v) for v in present})
    if distinct <= ID_MIN_DISTINCT or distinct <= ID_DISTINCT_SHARE * len(present):
        return False
    numbers = [_number(v) for v in present]
    if any(n is not None for n in numbers):
        return all(
            n is not None and n == int(n) and abs(n) >= ID_MIN_MAGNITUDE
            for n in numbers
        )
    return True


def _numeric(ordered: list[float], missing_rate: float) -> dict[str, Any]:
    """A numeric feature's profile from its sorted values."""
    count = len(ordered)
    edges = _dedupe([_round(_quantile(ordered, i, BINS)) for i in range(1, BINS)])
    distinct = _dedupe([_round(x) for x in ordered])
    points = (
        distinct
        if len(distinct) <= CDF_POINTS
        else _dedupe(
            [
                _round(_quantile(ordered, i, CDF_POINTS))
                for i in range(1, CDF_POINTS + 1)
            ]
        )
    )
    mean = sum(ordered) / count
    variance = sum((x - mean) ** 2 for x in ordered) / count
    return {
        "kind": "numeric",
        "count": count,
        "missing_rate": missing_rate,
        "edges": edges,
        "fractions": [_share(c, count) for c in bin_counts(ordered, edges)],
        "cdf": [[x, _share(bisect.bisect_right(ordered, x), count)] for x in points],
        "min": _round(ordered[0]),
        "max": _round(ordered[-1]),
        "mean": _round(mean),
        "std": _round(math.sqrt(variance)),
    }


def profile_feature(values: Sequence[Any]) -> dict[str, Any] | None:
    """The profile of one feature's values, or None when they are not scalars.

    An identifier's profile is of kind ``identifier``: counts, no values.
    """
    present = [v for v in values if not _missing(v)]
    if not all(_scalar(v) for v in present):
        return None
    total = len(values)
    missing_rate = _share(total - len(present), total)
    if is_identifier(present):
        return {
            "kind": "identifier",
            "count": len(present),
            "missing_rate": missing_rate,
            "distinct": len({category(v) for v in present}),
        }
    numbers = [_number(v) for v in present]
    if present and all(n is not None for n in numbers):
        return _numeric(sorted(n for n in numbers if n is not None), missing_rate)
    counts = Counter(category(v) for v in present)
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = top[:TOP_CATEGORIES]
    count = len(present)
    return {
        "kind": "categorical",
        "count": count,
        "missing_rate": missing_rate,
        "distinct": len(counts),
        "frequencies": {key: _share(n, count) for key, n in kept},
        "other": _share(count - sum(n for _, n in kept), count),
    }


def profile_table(
    rows: Sequence[Mapping[str, Any]], names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Profiles of the named features (all features of ``rows`` by default)."""
    if names is None:
        names = sorted({name for row in rows for name in row})
    table = {}
    for name in sorted(names):
        profile = profile_feature([row.get(name) for row in rows])
        if profile is not None:
            table[name] = profile
    return table


def build_profile(
    inputs: Sequence[Mapping[str, Any]],
    outputs: Sequence[Mapping[str, Any]],
    features: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The reference profile: input rows and the pipeline's predictions on them.

    Identifiers leave ``features``/``predictions`` for ``unprofiled`` (present only
    when there are some), where they keep their counts and no values.
    """
    profile: dict[str, Any] = {"format": FORMAT, "rows": len(inputs)}
    unprofiled: dict[str, Any] = {}
    for key, rows, names in (
        ("features", inputs, features),
        ("predictions", outputs, None),
    ):
        table = profile_table(rows, names)
        ids = {n: p for n, p in table.items() if p["kind"] == "identifier"}
        profile[key] = {n: p for n, p in table.items() if n not in ids}
        if ids:
            unprofiled[key] = ids
    profile["prediction_rows"] = len(outputs)
    if unprofiled:
        profile["unprofiled"] = unprofiled
    return profile


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of two distributions over the same bins."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, EPSILON), max(a, EPSILON)
        total += (a - e) * math.log(a / e)
    return total


def ks_statistic(profile: Mapping[str, Any], ordered: Sequence[float]) -> float:
    """Largest gap between the sample's and the reference's cumulative distributions,
    at the reference's CDF points (exact for up to CDF_POINTS distinct values)."""
    count = len(ordered)
    return max(
        abs(bisect.bisect_right(ordered, x) / count - float(share))
        for x, share in profile["cdf"]
    )


def ks_pvalue(statistic: float, rows: int, reference_rows: int) -> float:
    """The KS test's p-value for samples of these sizes: scipy.stats.ks_2samp's
    asymptotic one (the Kolmogorov distribution at the effective sample size)."""
    from scipy.stats import kstwo  # the service's only use of scipy

    effective = round(rows * reference_rows / (rows + reference_rows))
    return float(kstwo.sf(statistic, max(1, effective)))


def compare(profile: Mapping[str, Any], values: Sequence[Any]) -> dict[str, Any]:
    """Drift of ``values`` from the reference ``profile`` of one feature.

    ``psi`` compares the bins (a missing value is a bin of its own);
    ``ks_statistic`` (numeric features) the cumulative distributions of the values
    present. A value of the wrong kind counts as missing.
    """
    total = len(values)
    ref_missing = profile["missing_rate"]
    expected: list[float]
    actual: list[float]
    ks = None
    if profile["kind"] == "numeric":
        numbers = [_number(v) for v in values]
        ordered = sorted(n for n in numbers if n is not None)
        counts = bin_counts(ordered, profile["edges"])
        expected = [f * (1 - ref_missing) for f in profile["fractions"]]
        if ordered and profile["cdf"]:
            ks = ks_statistic(profile, ordered)
        present = len(ordered)
    else:
        known = profile["frequencies"]
        keys = [category(v) for v in values if not _missing(v)]
        found = Counter(k if k in known else None for k in keys)
        counts = [found.get(key, 0) for key in known] + [found.get(None, 0)]
        expected = [f * (1 - ref_missing) for f in [*known.values(), profile["other"]]]
        present = len(keys)
    actual = [c / total for c in counts] if total else [0.0] * len(counts)
    missing = (total - present) / total if total else 0.0
    return {
        "rows": total,
        "present": present,
        "missing_rate": missing,
        "psi": psi([*expected, ref_missing], [*actual, missing]),
        "ks_statistic": ks,
    }
