"""Limits that hold across the processes of one session: pytest-xdist's workers.

Each worker runs its items on its own event loop, so an asyncio semaphore only bounds that
worker. Under xdist the session's limits (calls in flight per model, conversations in flight,
requests per minute per model) are also kept in files that every worker of the session opens:
- slots: byte i of a file, locked with a POSIX record lock, is slot i; a lock dies with its
  process, so a crashed worker frees its slots;
- a per-minute window: the start times of the last minute, in a small JSON file under a file
  lock.
Without fcntl (Windows) each worker keeps its own limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

from ..temp_state import forget_run, run_directory

try:
    import fcntl
except ImportError:  # Windows: each worker keeps its own limits
    fcntl = None  # type: ignore[assignment]

KIND = "limits"
POLL = 0.005  # seconds between looks for a slot another worker freed
NOT_SHARED = -1  # what a worker holds when the file system refused record locks


def shared_limits_available() -> bool:
    return fcntl is not None


def limit_file(scope: str, name: str) -> Path:
    """The file of one limit of one session (scope: the session's run id)."""
    return run_directory(KIND, scope) / hashlib.sha256(name.encode()).hexdigest()[:16]


def forget_limits(scope: str) -> None:
    """Remove the session's limit files (by the process that ends the session)."""
    forget_run(KIND, scope)


class SharedSlots:
    """At most `size` holders at once across the session's processes."""

    def __init__(self, path: Path, size: int) -> None:
        assert fcntl is not None, "shared slots need POSIX record locks"
        self.size = size
        # Closing any descriptor of the file drops this process's locks on it: one, kept open.
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._held: set[int] = set()
        self._start = os.getpid() % size  # workers look from different places first
        self._freed = asyncio.Event()
        self._polling = asyncio.Lock()
        self.broken = False  # the file system refused record locks: this worker's limits only

    def try_take(self) -> int | None:
        """A free slot, now held by this process, or None when every slot is taken (-1: no
        shared slot to hold, the file system does not lock)."""
        assert fcntl is not None
        if self.broken:
            return NOT_SHARED
        for step in range(self.size):
            slot = (self._start + step) % self.size
            if slot in self._held:
                continue
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, slot, os.SEEK_SET)
            except OSError as exc:
                if exc.errno in (errno.EACCES, errno.EAGAIN):  # another process holds it
                    continue
                self.broken = True  # e.g. ENOLCK on a network file system
                return NOT_SHARED
            self._held.add(slot)
            return slot
        return None

    async def take(self) -> tuple[int, float]:
        """Wait for a slot; the slot and the seconds waited. One task of this process looks
        at a time, so that waiting costs one look per POLL, not one per waiting task."""
        slot = self.try_take()
        if slot is not None:
            return slot, 0.0
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        async with self._polling:
            while (slot := self.try_take()) is None:
                self._freed.clear()
                # Woken by a slot this process frees, or after POLL to look at the others'.
                # No wait_for: it can lose a cancellation that arrives as it ends.
                waking = loop.call_later(POLL, self._freed.set)
                try:
                    await self._freed.wait()
                finally:
                    waking.cancel()
        return slot, time.monotonic() - started

    def give_back(self, slot: int) -> None:
        assert fcntl is not None
        if slot == NOT_SHARED or slot not in self._held:
            return
        self._held.discard(slot)
        with contextlib.suppress(OSError):  # closed at the end of the session already
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, slot, os.SEEK_SET)
        self._freed.set()

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[float]:
        """Hold a slot for the block; yields the seconds waited for it."""
        slot, waited = await self.take()
        try:
            yield waited
        finally:
            self.give_back(slot)

    def close(self) -> None:
        self._held.clear()
        with contextlib.suppress(OSError):
            os.close(self._fd)
