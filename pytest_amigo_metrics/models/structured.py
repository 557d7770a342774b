"""Ask a model for a structured answer; re-ask with the reason when it does not fit."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

from ..errors import ModelCallError, printable
from .llm import Completion, ModelEndpoint, RetryPolicy, complete

T = TypeVar("T")


_FENCED = re.compile(r"^\s*```(?:json)?\s*\n(.*)\n\s*```\s*$", re.DOTALL)
SHOWN_CHARACTERS = 2_000  # of an invalid answer, in errors and reports
QUOTED_CHARACTERS = 4_000  # of an invalid answer, when it is sent back with the reason


def cut(text: str, limit: int) -> str:
    """`text`, or its start and how much was left out: a model may answer megabytes."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit:,} more characters not shown]"


def unfence(text: str) -> str:
    """The JSON inside a reply that is one ```json fenced block (models often add one)."""
    match = _FENCED.match(text)
    return match[1] if match else text


class InvalidAnswer(ValueError):
    """The model's text does not fit what was asked; the message says why."""


class StructuredAnswerError(Exception):
    def __init__(self, model: ModelEndpoint, attempts: list[tuple[str, str]]) -> None:
        super().__init__(f"{model.label}: {len(attempts)} invalid answers")
        self.model = model
        self.attempts = attempts  # (raw text, why it was rejected)

    def describe_attempts(self) -> str:
        return "\n".join(
            f"  attempt {i}: {why}\n    raw: {printable(cut(raw, SHOWN_CHARACTERS))}"
            for i, (raw, why) in enumerate(self.attempts, 1)
        )


async def ask_structured(
    model: ModelEndpoint,
    messages: list[dict[str, str]],
    parse: Callable[[str], T],
    *,
    role: str,
    response_format: type[BaseModel],
    retries: int,
    retry: RetryPolicy,
    temperature: float = 0.0,
    seed: int | None = None,
) -> tuple[T, Completion]:
    conversation = list(messages)
    attempts: list[tuple[str, str]] = []
    for _ in range(retries + 1):
        try:
            reply = await complete(
                model,
                conversation,
                role=role,
                response_format=response_format,
                retry=retry,
                temperature=temperature,
                seed=seed,
            )
        except ModelCallError as exc:
            if not attempts:
                raise
            # The re-ask failed (in a replay: it was never recorded, since the recorded answer
            # was edited): the invalid answer that made it is the cause to show.
            raise ModelCallError(
                f"{model.label} gave an invalid answer, and asking again failed:\n"
                f"{StructuredAnswerError(model, attempts).describe_attempts()}\n"
                f"  asking again: {exc}"
            ) from None
        try:
            return parse(unfence(reply.text)), reply
        except InvalidAnswer as exc:
            # The reason may quote the answer (100,000 unknown references, a huge category):
            # cut short as the answer is.
            why = cut(str(exc), SHOWN_CHARACTERS)
            attempts.append((reply.text, why))
            conversation += [
                {"role": "assistant", "content": cut(reply.text, QUOTED_CHARACTERS)},
                {
                    "role": "user",
                    "content": f"That answer is invalid: {why}. Answer again with JSON only, "
                    "following the schema.",
                },
            ]
    raise StructuredAnswerError(model, attempts)
