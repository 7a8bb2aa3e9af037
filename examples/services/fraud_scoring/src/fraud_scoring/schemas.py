"""Request and response schemas of Fraud Scoring, from fraud_scoring.ipynb's examples."""

from typing import Annotated, Any, TypeAlias

from nb2svc_runtime.schemas import JsonSafeInteger as Integer
from nb2svc_runtime.schemas import TableRows, frame_builder
from nb2svc_runtime.spec import Schemas
from pydantic import BaseModel, ConfigDict


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


PredictRequest: TypeAlias = Annotated[list[Record], TableRows()]
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


to_raw = frame_builder(PredictRequest, DTYPES)


SCHEMAS = Schemas(
    PredictRequest,
    PredictResponse,
    EXAMPLE_REQUEST,
    EXAMPLE_RESPONSE,
    to_raw,
    DTYPES,
)
