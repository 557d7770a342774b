"""Which items pytest-xdist has queued to this worker, so their runs can start early.

An xdist worker learns its items a few at a time. The plugin looks at the worker's queue
(xdist's WorkerInteractor keeps it) to start the runs of every item queued so far; when that
queue cannot be read (another xdist release), items simply start when they are reached.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def queued_items(config: pytest.Config, items: list[Any]) -> Callable[[], list[Any]] | None:
    """A function giving the items queued to this xdist worker; None outside a worker."""
    if not hasattr(config, "workerinput"):
        return None
    interactor = next(
        (p for p in config.pluginmanager.get_plugins() if type(p).__name__ == "WorkerInteractor"),
        None,
    )
    work = getattr(interactor, "torun", None)
    if work is None or not hasattr(work, "lock"):
        return lambda: []

    def queued() -> list[Any]:
        upcoming = [getattr(interactor, "nextitem_index", None)]
        try:
            with work.lock() as pending:
                upcoming += list(pending)
        except Exception:  # an xdist release whose queue looks different
            return []
        return [items[i] for i in upcoming if isinstance(i, int) and 0 <= i < len(items)]

    return queued
