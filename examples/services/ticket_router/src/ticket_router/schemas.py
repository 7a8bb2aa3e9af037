"""Request and response schemas of Ticket Router, from ticket_router.ipynb's examples."""

from typing import Annotated, Any, TypeAlias

from pydantic import BaseModel, BeforeValidator, ConfigDict


def _integral(value: Any) -> Any:
    """2.0 is an integer in JSON Schema, so it is one here too (requests are strict)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Integer: TypeAlias = Annotated[int, BeforeValidator(_integral)]


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


def to_raw(body: Any) -> Any:
    """The validated request body in the form the notebook's preprocess received."""
    return body
