"""An exclusive lock on a file, shared by every process of the machine (POSIX flock)."""

from __future__ import annotations

import contextlib
import getpass
import tempfile
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
