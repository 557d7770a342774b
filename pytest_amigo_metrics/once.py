"""Work done once per pytest session, whichever process (controller or xdist worker) comes
first; the others read its result. Kept in the session's own folder in the temp dir."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from .file_lock import locked
from .temp_state import forget_run, run_directory, shared_directory

KIND = "runs"


def once_per_run(run_id: str, key: str, compute: Callable[[], Any]) -> Any:
    """compute() for the first caller of this run; its JSON result for every later one.
    A failed compute() leaves nothing behind, so the next caller tries again."""
    with contextlib.ExitStack() as stack:
        try:
            folder = run_directory(KIND, run_id)
            stack.enter_context(locked(folder / f"{key}.lock"))
        except OSError:  # the temp dir is not ours to write: another user's, full, ...
            # Without xdist there is no other process to share the result with; under xdist
            # the controller checked the folder before its workers started (check_folder).
            return compute()
        result = folder / f"{key}.json"
        if result.exists():
            return json.loads(result.read_text())
        value = compute()
        result.write_text(json.dumps(value))
        return value


def check_folder(run_id: str) -> None:
    """Before xdist starts its workers: the folder they will share can be written, else a
    usage error (a worker's would end the session in an INTERNALERROR)."""
    try:
        with locked(run_directory(KIND, run_id) / "check.lock"):
            pass
    except OSError as exc:
        raise pytest.UsageError(
            f"the session's xdist workers share files in {shared_directory(KIND)}, which "
            f"cannot be used: {exc}\n    fix: make it a folder of yours you can write to, or "
            "point TMPDIR at one"
        ) from None


def forget(run_id: str) -> None:
    """Remove what once_per_run kept for this run (by the process that ends the session)."""
    forget_run(KIND, run_id)
