"""The simulated user: plays a persona and scenario, or follows a fixed script."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ValidationError

from ..errors import ModelCallError
from ..models.llm import ModelEndpoint, RetryPolicy
from ..models.structured import InvalidAnswer, StructuredAnswerError, ask_structured
from ..suite.spec import Persona, Scenario
from .transcript import Transcript

Action = Literal["send", "objective_reached", "abandoned"]


class UserTurn(BaseModel):
    action: Action
    message: str = ""


class UserTurnSchema(BaseModel):
    """What the model is asked for: no defaults, as strict structured outputs require."""

    action: Action
    message: str


SYSTEM_PROMPT = """You are role-playing a user talking to an agent, to test the agent.
Stay in character; never reveal that you are simulated. Write only the user's next message.

Persona name: {persona.name}
Background: {persona.background}
Scenario: {scenario.name}
Objective: {scenario.objective}
Instructions: {scenario.instructions}

Answer with JSON: {{"action": "send", "message": "<your next message>"}} to continue,
{{"action": "objective_reached", "message": ""}} once your objective is met, or
{{"action": "abandoned", "message": ""}} when you give up on it."""

OPENING = "(The conversation starts now. Write your first message to the agent.)"
# Runs of a test should differ as real users do, yet replay alike: some temperature, and a
# seed per run for providers that honour one.
TEMPERATURE = 0.8


def parse_user_turn(text: str) -> UserTurn:
    try:
        turn = UserTurn.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'the answer'}: {error['msg']}"
            for error in exc.errors(include_url=False)[:3]
        )
        raise InvalidAnswer(f"not a user turn ({problems})") from None
    if turn.action == "send" and not turn.message.strip():
        raise InvalidAnswer("action 'send' needs a non-empty message")
    return turn


@dataclass
class SimulatedUser:
    persona: Persona
    scenario: Scenario
    script: list[str] | None
    model: ModelEndpoint
    retry: RetryPolicy
    retries: int = 2

    async def next_turn(self, transcript: Transcript, run_index: int = 0) -> UserTurn | None:
        """The next user turn, or None when the script has run out."""
        if self.script is not None:
            sent = sum(1 for m in transcript.messages if m.role == "user")
            return (
                UserTurn(action="send", message=self.script[sent])
                if sent < len(self.script)
                else None
            )
        system = SYSTEM_PROMPT.format(persona=self.persona, scenario=self.scenario)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": OPENING}]
        messages += transcript.as_chat("user")
        try:
            turn, _ = await ask_structured(
                self.model,
                messages,
                parse_user_turn,
                role="simulator",
                response_format=UserTurnSchema,
                retries=self.retries,
                retry=self.retry,
                temperature=TEMPERATURE,
                seed=run_index,
            )
        except StructuredAnswerError as exc:
            raise ModelCallError(
                f"simulator {self.model.label!r} gave no valid user turn after "
                f"{len(exc.attempts)} attempts:\n{exc.describe_attempts()}"
            ) from None
        return turn
