"""An exclusive lock on a file, shared by every process of the machine (POSIX flock)."""

from __future__ import annotations

import contextlib
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
