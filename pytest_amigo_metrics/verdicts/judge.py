"""The judge: one structured call per metric and run, validated against the metric version."""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter, create_model

from ..errors import AmigoRunError, JudgeOutputError
from ..models.llm import ModelEndpoint, RetryPolicy
from ..models.structured import InvalidAnswer, StructuredAnswerError, ask_structured
from ..runs.transcript import Transcript
from ..suite.metrics import JudgeValue, describe_value_space, value_problem
from ..suite.spec import BooleanMetricValue, CategoricalMetricValue, MetricSpec, MetricValue
from .judge_samples import SAMPLE_TEMPERATURE, combine

SYSTEM_PROMPT = """You evaluate a conversation between a user and an AI agent against one metric.
Read the metric's description and notes, then the conversation (each message has an id).
Answer with JSON only: {"value": ..., "justification": "...", "references": ["<message id>", ...]}
- value: {value_space}; null only when the metric does not apply to this conversation.
- justification: one or two sentences explaining the value, citing what was said.
- references: the ids of the messages your judgement rests on."""


_METRIC_VALUE: TypeAdapter[MetricValue] = TypeAdapter(MetricValue)


@dataclass(frozen=True)
class ActiveMetric:
    """A metric at the version the session registered."""

    id: str
    name: str
    version: int
    spec: MetricSpec


@dataclass(frozen=True)
class Verdict:
    value: JudgeValue
    justification: str
    references: list[str]
    model: str
    version: int | None = None  # the metric version evaluated, when the judge reports it
    # With several samples: each sample's value, and the share that agreed with `value`.
    samples: tuple[JudgeValue, ...] = ()
    agreement: float | None = None


class LocalJudge:
    """A litellm model, one structured call per metric (`samples` calls, combined, when asked
    for more), re-asked when its answer is invalid."""

    def __init__(
        self, model: ModelEndpoint, retries: int, retry: RetryPolicy, samples: int = 1
    ) -> None:
        self.model = model
        self.retries = retries
        self.retry = retry
        self.samples = samples

    @property
    def name(self) -> str:
        return self.model.label

    async def evaluate_all(
        self, metrics: list[ActiveMetric], transcript: Transcript, up_to_turn: int | None = None
    ) -> list[Verdict | AmigoRunError]:
        shown = transcript.up_to_turn(up_to_turn)
        return list(await asyncio.gather(*(self._one(m, shown) for m in metrics)))

    async def _one(self, metric: ActiveMetric, transcript: Transcript) -> Verdict | AmigoRunError:
        """A verdict, or why there is none: one metric's failure keeps no other's verdict."""
        try:
            if self.samples > 1:
                return await self._sampled(metric, transcript)
            return await evaluate(
                metric, transcript, model=self.model, retries=self.retries, retry=self.retry
            )
        except AmigoRunError as exc:
            return exc

    async def _sampled(self, metric: ActiveMetric, transcript: Transcript) -> Verdict:
        """`samples` evaluations at once, combined; any sample without a valid answer leaves
        the metric without a verdict, as a single evaluation would."""
        found = await asyncio.gather(
            *(
                evaluate(
                    metric,
                    transcript,
                    model=self.model,
                    retries=self.retries,
                    retry=self.retry,
                    temperature=SAMPLE_TEMPERATURE,
                    seed=index,
                )
                for index in range(self.samples)
            ),
            return_exceptions=True,
        )
        verdicts: list[Verdict] = []
        for index, verdict in enumerate(found):
            if isinstance(verdict, AmigoRunError):
                raise type(verdict)(f"sample {index + 1} of {self.samples}: {verdict}")
            if isinstance(verdict, BaseException):
                raise verdict
            verdicts.append(verdict)
        values = tuple(v.value for v in verdicts)
        combined = combine(metric.spec.metric_value, values)
        kept = verdicts[combined.chosen]
        return replace(kept, value=combined.value, samples=values, agreement=combined.agreement)


def response_schema(metric_value: MetricValue) -> type[BaseModel]:
    """The structured-output schema handed to the model, narrowed to the metric's type."""
    return _schema(metric_value.model_dump_json())


@functools.lru_cache(maxsize=256)
def _schema(metric_value_json: str) -> type[BaseModel]:
    metric_value: MetricValue = _METRIC_VALUE.validate_json(metric_value_json)
    value_type: Any
    if isinstance(metric_value, BooleanMetricValue):
        value_type = bool | None
    elif isinstance(metric_value, CategoricalMetricValue):
        value_type = Literal[tuple(metric_value.categories)] | None
    else:
        value_type = float | None
    model: type[BaseModel] = create_model(
        "MetricEvaluation",
        value=(value_type, ...),
        justification=(str, ...),
        references=(list[str], ...),
    )
    return model


def judge_messages(metric: ActiveMetric, transcript: Transcript) -> list[dict[str, str]]:
    spec = metric.spec
    payload = {
        "metric": {
            "name": spec.name,
            "description": spec.description,
            "additional_notes": spec.additional_notes,
            "metric_value": spec.metric_value.model_dump(),
        },
        "conversation": transcript.as_judge_input(),
    }
    system = SYSTEM_PROMPT.replace("{value_space}", describe_value_space(spec.metric_value))
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": json.dumps(payload, ensure_ascii=False)},
    ]


def parse_verdict(text: str, metric_value: MetricValue, transcript: Transcript) -> dict[str, Any]:
    """Strict: no coercion of '7' to 7 or 'true' to true; every reference must be a message id."""
    try:
        data = json.loads(text)
    except ValueError as exc:  # JSONDecodeError, or an integer of over 4,300 digits
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc).split(":")[0]
        raise InvalidAnswer(f"not JSON ({reason})") from None
    if not isinstance(data, dict) or not {"value", "justification", "references"} <= data.keys():
        raise InvalidAnswer("expected an object with value, justification and references")
    if problem := value_problem(metric_value, data["value"]):
        raise InvalidAnswer(f"value: {problem}")
    if not isinstance(data["justification"], str) or not data["justification"].strip():
        raise InvalidAnswer("justification must be a non-empty string")
    refs = data["references"]
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        raise InvalidAnswer("references must be a list of message ids")
    unknown = [r for r in refs if r not in transcript.message_ids()]
    if unknown:
        more = f" and {len(unknown) - 5:,} more" if len(unknown) > 5 else ""
        raise InvalidAnswer(
            f"references {unknown[:5]}{more} are not ids of messages in the conversation"
        )
    return data


async def evaluate(
    metric: ActiveMetric,
    transcript: Transcript,
    *,
    model: ModelEndpoint,
    retries: int,
    retry: RetryPolicy,
    temperature: float = 0.0,
    seed: int | None = None,
) -> Verdict:
    metric_value = metric.spec.metric_value
    try:
        data, reply = await ask_structured(
            model,
            judge_messages(metric, transcript),
            lambda text: parse_verdict(text, metric_value, transcript),
            role="judge",
            response_format=response_schema(metric_value),
            retries=retries,
            retry=retry,
            temperature=temperature,
            seed=seed,
        )
    except StructuredAnswerError as exc:
        raise JudgeOutputError(
            f"judge {model.label!r} gave no valid evaluation of metric {metric.name!r} "
            f"(v{metric.version}) after {len(exc.attempts)} attempts:\n{exc.describe_attempts()}"
        ) from None
    return Verdict(
        data["value"], data["justification"].strip(), list(data["references"]), reply.model
    )
