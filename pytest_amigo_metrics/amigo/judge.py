"""The Amigo judge: the API's evaluate endpoint on the finished conversation; the results are
read back (with the metric version they were scored against) and checked like the local
judge's answers, never coerced."""

from __future__ import annotations

from functools import partial

from amigo_sdk.generated.model import (
    GetMetricEvaluationResultsParametersQuery,
    MetricEvaluateMetricsRequest,
    MetricEvaluationResultInstance,
)

from ..errors import JudgeOutputError
from ..runs.transcript import Transcript
from ..suite.metrics import value_problem
from ..verdicts.judge import ActiveMetric, Verdict
from .client import AmigoAPI

JUDGE_NAME = "amigo-api"
MAX_METRICS_PER_CALL = 10  # the evaluate endpoint's documented limit


class AmigoJudge:
    def __init__(self, api: AmigoAPI) -> None:
        self.api = api

    @property
    def name(self) -> str:
        return JUDGE_NAME

    async def evaluate_all(
        self, metrics: list[ActiveMetric], transcript: Transcript, up_to_turn: int | None = None
    ) -> list[Verdict]:
        """Evaluated and read back before the caller moves on: a later evaluation of the same
        metric and conversation (another `up_to_turn`) overwrites this one."""
        conversation_id = transcript.conversation_id
        up_to = transcript.interaction_of_turn(up_to_turn) if up_to_turn else None
        for start in range(0, len(metrics), MAX_METRICS_PER_CALL):
            body = MetricEvaluateMetricsRequest.model_validate(
                {
                    "metric_ids": [m.id for m in metrics[start : start + MAX_METRICS_PER_CALL]],
                    "conversation_id": conversation_id,
                    "evaluate_to_interaction_id": up_to,
                }
            )
            await self.api.call(
                "evaluate-metrics", partial(self.api.metrics.evaluate_metrics, body)
            )
        stored = await self._read_back(conversation_id, metrics)
        return [self._verdict(m, stored.get(m.id)) for m in metrics]

    async def _read_back(
        self, conversation_id: str, metrics: list[ActiveMetric]
    ) -> dict[str, MetricEvaluationResultInstance]:
        params = GetMetricEvaluationResultsParametersQuery.model_validate(
            {
                "conversation_id": [conversation_id],
                "source_type": ["manual"],
                "metric_id_and_version": [f"{m.id}-" for m in metrics],
                "sort_by": ["+created_at"],
            }
        )

        async def collect() -> dict[str, MetricEvaluationResultInstance]:
            return {
                r.metric_id: r
                async for r in self.api.metrics.iter_metric_evaluation_results(params)
            }

        return await self.api.call("get-metric-evaluation-results", collect)

    def _verdict(
        self, metric: ActiveMetric, result: MetricEvaluationResultInstance | None
    ) -> Verdict:
        if result is None:
            raise JudgeOutputError(
                f"Amigo API evaluated metric {metric.name!r} ({metric.id}) but no result was "
                "found for the conversation afterwards"
            )
        raw = result.model_dump_json()
        if problem := value_problem(metric.spec.metric_value, result.result):
            raise JudgeOutputError(
                f"Amigo API's evaluation of metric {metric.name!r} does not fit "
                f"v{result.metric_version}: {problem}\n    raw result: {raw}"
            )
        return Verdict(
            value=result.result,
            justification=result.justification,
            references=list(result.source.root.references),
            model=JUDGE_NAME,
            version=result.metric_version,
        )
