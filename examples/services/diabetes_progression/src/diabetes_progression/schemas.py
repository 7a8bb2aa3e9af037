"""Request and response schemas of Diabetes Progression, from diabetes_progression.ipynb's examples."""

from typing import Any, TypeAlias

from nb2svc_runtime.schemas import record_builder
from nb2svc_runtime.spec import Schemas
from pydantic import BaseModel, ConfigDict


class PredictInput(BaseModel):
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, allow_inf_nan=False
    )

    age: float
    sex: float
    bmi: float
    bp: float
    s1: float
    s2: float
    s3: float
    s4: float
    s5: float
    s6: float


class PredictOutput(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, allow_inf_nan=False)

    progression: float | None
    risk_band: str


PredictRequest: TypeAlias = PredictInput
BatchRequest: TypeAlias = list[PredictRequest]
PredictResponse: TypeAlias = PredictOutput

EXAMPLE_REQUEST: Any = {
    "age": 0.01991321417832592,
    "sex": 0.05068011873981862,
    "bmi": 0.10480868947391528,
    "bp": 0.07007229917592636,
    "s1": -0.035967781275239266,
    "s2": -0.02667890283117104,
    "s3": -0.024992656631590206,
    "s4": -0.002592261998183278,
    "s5": 0.0037090603325595967,
    "s6": 0.040343371647878594,
}
EXAMPLE_RESPONSE: Any = {"progression": 237.8794, "risk_band": "high"}


to_raw = record_builder()


SCHEMAS = Schemas(
    PredictRequest,
    PredictResponse,
    EXAMPLE_REQUEST,
    EXAMPLE_RESPONSE,
    to_raw,
)
