from __future__ import annotations

from ..errors import AgentError
from ..models.llm import ModelEndpoint, RetryPolicy, complete
from ..runs.transcript import Transcript
from .base import StatelessAgent


class LiteLLMAgent(StatelessAgent):
    """Any model litellm reaches, with an optional system prompt."""

    def __init__(self, model: ModelEndpoint, system_prompt: str | None, retry: RetryPolicy) -> None:
        self.model = model
        self.system_prompt = system_prompt
        self.retry = retry

    @property
    def name(self) -> str:
        return f"model:{self.model.label}"

    async def reply(self, transcript: Transcript) -> str:
        messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        # temperature=None: the agent samples as its provider does by default, like in production.
        completion = await complete(
            self.model,
            messages + transcript.as_chat("agent"),
            role="agent",
            retry=self.retry,
            temperature=None,
        )
        if not completion.text.strip():  # as for a Python agent: an empty reply is no reply
            raise AgentError(f"the agent {self.model.label!r} returned an empty reply")
        return completion.text
