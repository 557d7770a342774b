from __future__ import annotations

from typing import Protocol

from ..transcript import Transcript


class Agent(Protocol):
    @property
    def name(self) -> str:
        """How reports name this agent (`python:pkg.mod:fn`, `model:<litellm model>`)."""
        ...

    async def reply(self, transcript: Transcript) -> str: ...
