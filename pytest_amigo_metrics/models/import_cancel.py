"""Ending a background import early: a session that ends before it needs litellm (`-k`
selecting nothing, Ctrl-C or a usage error during collection) need not wait seconds for it."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType


class ImportCancelled(BaseException):
    """Raised in the importing thread at its next module. A BaseException, so that a library's
    `except ImportError` / `except Exception` around an optional import does not swallow it."""


class CancelPoint:
    """A finder first on `sys.meta_path` that finds nothing, until the import is cancelled:
    then the importing thread's next module raises ImportCancelled. The import unwinds through
    the import system, which removes the half-made modules and releases its locks, so the
    thread ends holding none (frozen at exit while holding one, it could hang the exit)."""

    def __init__(self, thread: threading.Thread) -> None:
        self.thread = thread
        self.cancelled = False

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if self.cancelled and threading.current_thread() is self.thread:
            raise ImportCancelled(fullname)
        return None

    def install(self) -> None:
        sys.meta_path.insert(0, self)

    def remove(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)
