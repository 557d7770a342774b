"""An exclusive lock on a file, shared by every process of the machine (POSIX flock), and a
sliding window of start times kept under one."""

from __future__ import annotations

import contextlib
import getpass
import json
import tempfile
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
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


def acquire(handle: IO[str]) -> None:
    """Block until this handle holds the lock; closing the handle releases it."""
    if fcntl is not None:
        fcntl.flock(handle, fcntl.LOCK_EX)


def shared_directory(name: str) -> Path:
    """A folder every process of this user on this machine finds (and no other user owns)."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in the environment (some containers)
        user = "user"
    return Path(tempfile.gettempdir()) / f"pytest-amigo-metrics-{user}" / name


def take_from_window(
    path: Path, per_minute: float, window: float = 60.0, now: float | None = None
) -> float:
    """Count one start (at `now`, wall-clock seconds) in the window kept in `path` if it has
    room: 0.0. Else the seconds until it has (nothing counted)."""
    with locked(path) as handle:
        handle.seek(0)
        try:
            stamps = [float(s) for s in json.loads(handle.read() or "[]")]
        except (ValueError, TypeError):
            stamps = []
        now = time.time() if now is None else now
        stamps = [s for s in stamps if now - s < window]
        if len(stamps) >= per_minute:
            return min(stamps) + window - now + 0.01
        stamps.append(now)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(stamps))
        return 0.0


def restamp_in_window(path: Path, stamp: float, now: float | None = None) -> None:
    """Move one start counted at `stamp` to `now`: a server counts a request when it arrives,
    later than it was sent, so the window is measured from when its answer came back."""
    with locked(path) as handle:
        handle.seek(0)
        try:
            stamps = [float(s) for s in json.loads(handle.read() or "[]")]
        except (ValueError, TypeError):
            return
        if stamp not in stamps:
            return  # it has left the window already
        stamps[stamps.index(stamp)] = max(stamp, time.time() if now is None else now)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(stamps))
