from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import AgentError
from ..transcript import Transcript
from .base import StatelessAgent


def import_callable(ref: str, search_paths: list[Path]) -> Callable[..., Any]:
    """Import `package.module:function` (dotted attributes allowed), looking in search_paths too."""
    module_name, _, attribute = ref.partition(":")
    for path in reversed(search_paths):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise AgentError(
            f"cannot load the agent {ref!r}: {type(exc).__name__}: {exc}\n"
            f"    looked in: {', '.join(str(p) for p in search_paths)} and sys.path"
        ) from None
    if not callable(target):
        raise AgentError(f"the agent {ref!r} is not callable")
    return target  # type: ignore[no-any-return]


class PythonAgent(StatelessAgent):
    """A Python callable given the conversation so far as OpenAI-style messages
    (`[{"role": "user" | "assistant", "content": ...}]`), sync or async, returning a string."""

    def __init__(self, ref: str, search_paths: list[Path]) -> None:
        self.ref = ref
        self.search_paths = search_paths
        self._function: Callable[..., Any] | None = None

    @property
    def name(self) -> str:
        return f"python:{self.ref}"

    async def reply(self, transcript: Transcript) -> str:
        if self._function is None:
            self._function = import_callable(self.ref, self.search_paths)
        messages = transcript.as_chat("agent")
        try:
            if inspect.iscoroutinefunction(self._function):
                result = await self._function(messages)
            else:
                result = await asyncio.to_thread(self._function, messages)
                if inspect.isawaitable(result):
                    result = await result
        except Exception as exc:
            trace = "".join(traceback.format_exception(exc, limit=-3))
            raise AgentError(f"the agent {self.ref!r} raised:\n{trace}") from None
        if not isinstance(result, str) or not result.strip():
            raise AgentError(
                f"the agent {self.ref!r} must return a non-empty string, got {result!r}"
            )
        return result
