"""The files the plugin keeps in the temp dir for other processes: where they live, and how
they are cleaned up.

- A session's own files (work done once per run, the limits its xdist workers share) live in
  a folder of their own, named after the run id: the session's end removes that folder only,
  whatever else the temp dir holds.
- Files shared across sessions (the Amigo API's per-user windows) stay as long as they count.
Whatever a killed session or an unused window left behind is removed once it has not changed
for STALE seconds, by a later session's end, at most once per PRUNE_EVERY seconds.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

STALE = 24 * 3600.0  # seconds unchanged after which a left-over file or folder is removed
PRUNE_EVERY = 3600.0  # seconds between two prunings of one folder
PRUNED_MARK = ".pruned"  # its modification time says when the folder was last pruned


def shared_directory(name: str) -> Path:
    """A folder every process of this user on this machine finds (made by make_directory,
    which checks that no other user owns it)."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in the environment (some containers)
        user = "user"
    return Path(tempfile.gettempdir()) / f"pytest-amigo-metrics-{user}" / name


def make_directory(folder: Path) -> Path:
    """Make a folder under shared_directory: the plugin's own folder in the temp dir is
    private (0o700), and one that is a symlink or another user's is refused (PermissionError),
    since its files decide what this user's sessions share."""
    root = shared_directory("-").parent
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    state = root.lstat()
    owner = getattr(os, "getuid", None)
    if stat.S_ISLNK(state.st_mode) or (owner is not None and state.st_uid != owner()):
        raise PermissionError(f"{root} is a symlink or another user's folder")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_directory(kind: str, run_id: str) -> Path:
    """The folder of one session's files of one kind, made on first use."""
    return make_directory(shared_directory(kind) / run_id)


def forget_run(kind: str, run_id: str) -> None:
    """Remove one session's files of one kind (by the process that ends the session), and
    what earlier sessions left behind."""
    shutil.rmtree(shared_directory(kind) / run_id, ignore_errors=True)
    prune(shared_directory(kind))


def prune(folder: Path, *, now: float | None = None) -> None:
    """Remove the entries of `folder` unchanged for STALE seconds; skipped when the folder was
    pruned less than PRUNE_EVERY seconds ago, so that a session's end stays cheap."""
    now = time.time() if now is None else now
    mark = folder / PRUNED_MARK
    with contextlib.suppress(OSError):
        if now - mark.stat().st_mtime < PRUNE_EVERY:
            return
    try:
        mark.touch()
        entries = list(folder.iterdir())
    except OSError:  # no folder yet, or not ours to write
        return
    for entry in entries:
        with contextlib.suppress(OSError):
            if entry.name == PRUNED_MARK or now - _last_change(entry) < STALE:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink()


def _last_change(entry: Path) -> float:
    """When the entry last changed: a folder counts its files' changes too."""
    latest = entry.lstat().st_mtime
    if entry.is_dir() and not entry.is_symlink():
        for child in entry.iterdir():
            latest = max(latest, child.lstat().st_mtime)
    return latest
