"""Work done once per pytest session, whichever process (controller or xdist worker) comes
first; the others read its result. Kept in the session's own folder in the temp dir."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .file_lock import locked
from .temp_state import forget_run, run_directory

KIND = "runs"


def once_per_run(run_id: str, key: str, compute: Callable[[], Any]) -> Any:
    """compute() for the first caller of this run; its JSON result for every later one.
    A failed compute() leaves nothing behind, so the next caller tries again."""
    folder = run_directory(KIND, run_id)
    result = folder / f"{key}.json"
    with locked(folder / f"{key}.lock"):
        if result.exists():
            return json.loads(result.read_text())
        value = compute()
        result.write_text(json.dumps(value))
        return value


def forget(run_id: str) -> None:
    """Remove what once_per_run kept for this run (by the process that ends the session)."""
    forget_run(KIND, run_id)
