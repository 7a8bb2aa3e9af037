"""Request and response schemas of Fraud Scoring, from fraud_scoring.ipynb's examples."""

from typing import Annotated, Any, TypeAlias, get_args

import numpy as np
import pandas as pd
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _integral(value: Any) -> Any:
    """2.0 is an integer in JSON Schema, so it is one here too (requests are strict)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: Integer columns become int64, and JSON integers are exact only up to 2**53 - 1
#: (I-JSON, RFC 7493): outside that range a value is refused with a 422.
Integer: TypeAlias = Annotated[
    int, Field(ge=-(2**53 - 1), le=2**53 - 1), BeforeValidator(_integral)
]


class Record(BaseModel):
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, allow_inf_nan=False
    )

    amount: float
    merchant_category: str
    hour: Integer
    country_mismatch: bool
    card_age_days: Integer
    tx_last_24h: Integer


class PredictOutputItem(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, allow_inf_nan=False)

    fraud_probability: float | None
    decision: str
    model_version: str


PredictRequest: TypeAlias = list[Record]
BatchRequest: TypeAlias = list[PredictRequest]
PredictResponse: TypeAlias = list[PredictOutputItem]

#: The notebook's columns and their dtypes: requests are rebuilt as this frame.
DTYPES: dict[str, str] = {
    "amount": "float64",
    "merchant_category": "str",
    "hour": "int64",
    "country_mismatch": "bool",
    "card_age_days": "int64",
    "tx_last_24h": "int64",
}

_NUMPY_DTYPES = frozenset(
    {"bool", "float32", "float64", "int8", "int16", "int32", "int64"}
)
_ROW: type[BaseModel] = get_args(PredictRequest)[0]
#: (attribute, column) of each field of a row.
_FIELDS = [
    (name, name if field.alias is None else field.alias)
    for name, field in _ROW.model_fields.items()
]


#: (attribute, dtype, numeric) of each column, in order, and the columns' labels. A
#: numeric column's values go straight into numpy; pandas parses the others' (dates
#: in any form it reads, categories, nullable integers, strings).
_COLUMNS = [
    (
        attribute,
        pd.api.types.pandas_dtype(DTYPES[column]),
        DTYPES[column] in _NUMPY_DTYPES,
    )
    for attribute, column in _FIELDS
]
_LABELS = pd.Index([column for _, column in _FIELDS])

EXAMPLE_REQUEST: Any = [
    {
        "amount": 12.72,
        "merchant_category": "travel",
        "hour": 22,
        "country_mismatch": False,
        "card_age_days": 1472,
        "tx_last_24h": 0,
    }
]
EXAMPLE_RESPONSE: Any = [
    {"fraud_probability": 0.002904, "decision": "approve", "model_version": "2026.11"}
]


def to_raw(body: Any) -> Any:
    """The validated request body in the form the notebook's preprocess received."""
    arrays: list[Any] = []
    for attribute, dtype, numeric in _COLUMNS:
        values = [getattr(row, attribute) for row in body]
        if numeric:
            arrays.append(np.array(values, dtype=dtype))
        else:
            arrays.append(pd.array(values, dtype=dtype))
    # pandas' constructor from column arrays, checked as DataFrame(dict) checks them:
    # given the labels and the row count it need not infer them, which takes as long
    # again as the rest on a one-row request. tests/test_api.py compares the two.
    return pd.DataFrame._from_arrays(
        arrays, columns=_LABELS, index=pd.RangeIndex(len(body)), verify_integrity=True
    )
