"""Request and response schemas of Ticket Router, from ticket_router.ipynb's examples."""

from typing import Any, TypeAlias

from nb2svc_runtime.schemas import identity
from nb2svc_runtime.spec import Schemas
from pydantic import BaseModel, ConfigDict


class Scores(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, allow_inf_nan=False)

    account: float | None
    billing: float | None
    technical: float | None


class PredictOutput(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, allow_inf_nan=False)

    label: str
    confidence: float | None
    scores: Scores


PredictRequest: TypeAlias = str
BatchRequest: TypeAlias = list[PredictRequest]
PredictResponse: TypeAlias = PredictOutput

EXAMPLE_REQUEST: Any = "My invoice was charged twice this month"
EXAMPLE_RESPONSE: Any = {
    "label": "billing",
    "confidence": 0.9619,
    "scores": {"account": 0.0342, "billing": 0.9619, "technical": 0.0039},
}


to_raw = identity


SCHEMAS = Schemas(
    PredictRequest,
    PredictResponse,
    EXAMPLE_REQUEST,
    EXAMPLE_RESPONSE,
    to_raw,
)
