"""Work done once per pytest session, whichever process (controller or xdist worker) comes
first; the others read its result. Keyed by the session's run id, kept in the temp dir."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .file_lock import locked, shared_directory

DIRECTORY = shared_directory("runs")


def once_per_run(run_id: str, key: str, compute: Callable[[], Any]) -> Any:
    """compute() for the first caller of this run; its JSON result for every later one.
    A failed compute() leaves nothing behind, so the next caller tries again."""
    DIRECTORY.mkdir(parents=True, exist_ok=True)
    result = DIRECTORY / f"{run_id}-{key}.json"
    with locked(DIRECTORY / f"{run_id}-{key}.lock"):
        if result.exists():
            return json.loads(result.read_text())
        value = compute()
        result.write_text(json.dumps(value))
        return value


def forget(run_id: str) -> None:
    """Remove what once_per_run kept for this run (by the process that ends the session)."""
    for path in DIRECTORY.glob(f"{run_id}-*"):
        path.unlink(missing_ok=True)
