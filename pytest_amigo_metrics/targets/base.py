from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from ..runs.transcript import Transcript


class Chat(Protocol):
    """One conversation with the agent under test."""

    @property
    def ended(self) -> bool:
        """Whether the agent ended the conversation (no more user turns are taken)."""
        ...

    async def send(self, message: str) -> None:
        """Add the user's message and the agent's reply to the transcript."""
        ...


class Agent(Protocol):
    @property
    def name(self) -> str:
        """How reports name this agent (`python:pkg.mod:fn`, `model:<model>`, `amigo:<id>`)."""
        ...

    def conversation(self, transcript: Transcript) -> AbstractAsyncContextManager[Chat]:
        """Open a conversation recorded in `transcript`; closing it ends the conversation."""
        ...


class StatelessAgent:
    """An agent that answers from the conversation so far (Python callables, litellm models)."""

    async def reply(self, transcript: Transcript) -> str:
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def conversation(self, transcript: Transcript) -> AsyncIterator[Chat]:
        yield _StatelessChat(self, transcript)


class _StatelessChat:
    ended = False

    def __init__(self, agent: StatelessAgent, transcript: Transcript) -> None:
        self.agent = agent
        self.transcript = transcript

    async def send(self, message: str) -> None:
        self.transcript.add_user_turn(message)
        self.transcript.add_agent_turn(await self.agent.reply(self.transcript))
