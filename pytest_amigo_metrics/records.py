"""Stored records, shaped like the Amigo API's MetricInstance, MetricVersionInstance and
MetricEvaluationResultInstance (with a `simulation` source)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from .suite.metrics import JudgeValue
from .suite.spec import MetricValue

LOCAL_ORG = "local"


class UserInfo(BaseModel):
    org_id: str
    user_id: str


LOCAL_USER = UserInfo(org_id=LOCAL_ORG, user_id="pytest-amigo-metrics")


class Tag(BaseModel):
    key: str
    value: str | None


class MetricRecord(BaseModel):
    id: str
    org_id: str
    name: str
    applied_to_services: list[str]
    additional_notes: str | None
    tags: list[Tag]
    creator: UserInfo
    updated_by: UserInfo
    metric_value_type: Literal["boolean", "numerical", "categorical"]
    latest_version: int
    is_deleted: bool
    created_at: datetime
    updated_at: datetime


class MetricVersionRecord(BaseModel):
    metric_id: str
    version: int
    description: str
    metric_value: MetricValue
    creator: UserInfo
    created_at: datetime


class SimulationEvaluationSource(BaseModel):
    type: Literal["simulation"] = "simulation"
    simulation_unit_test_set_run_id: str
    unit_test_id: str
    run_index: int
    references: list[str]


class EvaluationResult(BaseModel):
    """MetricEvaluationResultInstance, plus `judge_model`: which model produced the result."""

    id: str
    org_id: str
    created_at: datetime
    updated_at: datetime
    metric_id: str
    metric_version: int
    result: JudgeValue
    justification: str
    source: SimulationEvaluationSource
    judge_model: str


class ResultFilterValues(BaseModel):
    metric_ids: list[str]


class ResultsPage(BaseModel):
    metric_evaluation_results: list[EvaluationResult]
    has_more: bool
    continuation_token: int | None
    filter_values: ResultFilterValues | None = None  # on the first page only, as the API
