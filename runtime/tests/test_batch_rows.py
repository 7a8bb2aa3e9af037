"""MAX_BATCH_ROWS counts rows: a table's, and a 2-D array input's, not only items.

A real uvicorn serves the columnar stub's "matrix" service (each input a 2-D array of
rows; the stub allows 50 rows a request).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from test_columnar import _serve


@pytest.fixture(scope="module")
def matrix() -> Iterator[httpx.Client]:
    yield from _serve("matrix")


def block(rows: int) -> list[list[float]]:
    return [[float(i), 1.0] for i in range(rows)]


def test_batch_items_of_rows_count_every_row(matrix: httpx.Client) -> None:
    fine = matrix.post("/predict/batch", json=[block(20), block(30)])
    assert fine.status_code == 200
    assert fine.json() == [sum(range(20)) + 20.0, sum(range(30)) + 30.0]
    over = matrix.post("/predict/batch", json=[block(20), block(31)])
    assert over.status_code == 413
    assert over.json()["error"]["code"] == "too_many_rows"
    assert "51 rows" in over.json()["error"]["message"]


def test_one_input_of_rows_counts_its_rows(matrix: httpx.Client) -> None:
    assert matrix.post("/predict", json=block(50)).status_code == 200
    over = matrix.post("/predict", json=block(51))
    assert over.status_code == 413
    assert over.json()["error"]["code"] == "too_many_rows"
