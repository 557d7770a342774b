"""An exclusive lock on a file, shared by every process of the machine (POSIX flock), and a
sliding window of start times kept under one."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows: locks hold within one process only
    fcntl = None  # type: ignore[assignment]


@contextlib.contextmanager
def locked(path: Path) -> Iterator[IO[str]]:
    with path.open("a+") as handle:
        acquire(handle)
        try:
            yield handle
        finally:
            # What was written reaches the file before the lock is let go: the next holder
            # (another thread or process) reads it, not the state before.
            handle.flush()
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


def acquire(handle: IO[str]) -> None:
    """Block until this handle holds the lock; closing the handle releases it."""
    if fcntl is not None:
        fcntl.flock(handle, fcntl.LOCK_EX)


# A request sent but not yet answered holds its place in a window for at most this many windows
# (one whose answer never comes, a transport error, frees it then).
PENDING_WINDOWS = 2.0


def take_from_window(
    path: Path,
    per_minute: float,
    window: float = 60.0,
    now: float | None = None,
    *,
    pending: bool = False,
) -> float:
    """Count one start (at `now`, wall-clock seconds) in the window kept in `path` if it has
    room: 0.0. Else the seconds until it has (nothing counted). A `pending` start holds its
    place until restamp_in_window() says when its answer came."""
    now = time.time() if now is None else now
    with locked(path) as handle:
        stamps = _live(_read_stamps(handle), window, now)
        if len(stamps) >= per_minute:
            return min(_frees_at(t, waiting, window, now) for t, waiting in stamps) - now + 0.01
        stamps.append((now, pending))
        _write_stamps(handle, stamps)
        return 0.0


def restamp_in_window(path: Path, stamp: float, now: float | None = None) -> None:
    """The answer to the pending start counted at `stamp` came at `now`: a server counts a
    request when it arrives, later than it was sent, so its window is measured from then. One
    that no longer holds its place (unanswered for too long) is counted again from `now`."""
    now = time.time() if now is None else now
    with locked(path) as handle:
        stamps = _read_stamps(handle)
        if (stamp, True) in stamps:
            stamps.remove((stamp, True))
        stamps.append((max(stamp, now), False))
        _write_stamps(handle, stamps)


def _frees_at(stamp: float, pending: bool, window: float, now: float) -> float:
    """The earliest a start leaves the window: a window after it; for a pending one, a window
    after its answer, which has not come yet (or when it stops holding its place)."""
    if not pending:
        return stamp + window
    return min(now + window, stamp + window * PENDING_WINDOWS)


def _live(stamps: list[tuple[float, bool]], window: float, now: float) -> list[tuple[float, bool]]:
    """The starts still in the window: counted ones for a window, pending ones for longer."""
    return [
        (t, pending)
        for t, pending in stamps
        if now - t < (window * PENDING_WINDOWS if pending else window)
    ]


def _read_stamps(handle: IO[str]) -> list[tuple[float, bool]]:
    """A start is a number, or a one-item list while it is pending."""
    handle.seek(0)
    try:
        return [
            (float(s[0]), True) if isinstance(s, list) else (float(s), False)
            for s in json.loads(handle.read() or "[]")
        ]
    except (ValueError, TypeError, IndexError):
        return []


def _write_stamps(handle: IO[str], stamps: list[tuple[float, bool]]) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps([[t] if pending else t for t, pending in stamps]))
