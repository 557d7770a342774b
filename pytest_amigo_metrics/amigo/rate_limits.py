"""Client-side queuing for the Amigo API's per-user limits, shared by every process of the
machine (xdist workers, parallel sessions): the documented requests per minute of each
endpoint, and one unfinished conversation per user at a time."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import AmigoRunError
from ..file_lock import acquire, restamp_in_window, take_from_window
from ..temp_state import make_directory, prune, shared_directory
from .endpoints import Endpoint

# Shared by every session of the user: the API counts requests per user, not per session.
# A scope's files unused for a day are removed (temp_state.py).
WINDOWS = "amigo-limits"
# Seconds the current task waited for the API's limits; each run sets it to report its queueing.
RATE_LIMIT_WAIT: ContextVar[list[float] | None] = ContextVar("amigo_rate_limit_wait", default=None)


def note_wait(seconds: float) -> None:
    waits = RATE_LIMIT_WAIT.get()
    if waits is not None and seconds > 0:
        waits.append(seconds)


@dataclass(frozen=True)
class Turn:
    """One request let through: its endpoint, the seconds it waited, and its place in the
    window (None where the endpoint has no documented limit)."""

    endpoint: str
    waited: float = 0.0
    stamp: float | None = None


class RateLimiter:
    """Sliding windows of request times, one file per endpoint, kept under a file lock."""

    def __init__(
        self,
        scope: str,
        *,
        window: float = 60.0,
        directory: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.window = window
        self.clock = clock
        self.prefix = hashlib.sha256(scope.encode()).hexdigest()[:16]
        self._slot = asyncio.Lock()
        self.directory = directory or shared_directory(WINDOWS)
        try:
            if directory is None:  # the shared one: private to this user
                make_directory(self.directory)
            else:
                directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AmigoRunError(
                f"the Amigo API's rate-limit windows are kept in {self.directory}, which cannot "
                f"be used ({exc}); make it a folder of yours you can write to, or point TMPDIR "
                "at one"
            ) from None
        prune(self.directory)

    def _path(self, name: str) -> Path:
        return self.directory / f"{self.prefix}-{name}"

    async def wait_turn(self, endpoint: Endpoint) -> Turn:
        """Wait until the endpoint's limit allows one more request, and count it."""
        if not endpoint.per_minute:
            return Turn(endpoint.name)
        waited = 0.0
        while True:
            stamp = self.clock()
            delay = await asyncio.to_thread(self._take, endpoint.name, endpoint.per_minute, stamp)
            if delay <= 0:
                return Turn(endpoint.name, waited, stamp)
            await asyncio.sleep(delay)
            waited += delay

    async def answered(self, turn: Turn) -> None:
        """The request's answer came: its place in the window starts now, since the server
        counted it somewhere between the two (a 1 s window was overrun by the difference)."""
        if turn.stamp is not None:
            path = self._path(turn.endpoint + ".json")
            await asyncio.to_thread(restamp_in_window, path, turn.stamp, self.clock())

    def _take(self, name: str, limit: int, now: float | None = None) -> float:
        """Its place in the window, held until answered() says when the answer came."""
        now = self.clock() if now is None else now
        return take_from_window(self._path(name + ".json"), limit, self.window, now, pending=True)

    @contextlib.asynccontextmanager
    async def conversation_slot(self) -> AsyncIterator[float]:
        """Hold the user's single unfinished-conversation slot; yields the seconds waited."""
        started = time.monotonic()
        async with self._slot:
            handle = await asyncio.to_thread(self._open_slot)
            try:
                yield time.monotonic() - started
            finally:
                handle.close()  # closing releases the flock

    def _open_slot(self) -> IO[str]:
        path = self._path("conversation.lock")
        handle = path.open("a+")
        acquire(handle)
        os.utime(path)  # in use now: not a left-over to remove
        return handle


def scope_of(base_url: str, organization_id: str, user_id: str) -> str:
    return f"{base_url.rstrip('/')}|{organization_id}|{user_id}"
