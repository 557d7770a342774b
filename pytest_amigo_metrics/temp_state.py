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

try:
    import fcntl
except ImportError:  # Windows: no locks to look for
    fcntl = None  # type: ignore[assignment]

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
    """Make a folder under shared_directory, once the plugin's own folder checks out."""
    _check_root()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _check_root() -> None:
    """The plugin's folder in the temp dir is this user's alone (0o700): one that is a
    symlink or another user's is refused (PermissionError), since its files decide what this
    user's sessions share and what their ends delete."""
    root = shared_directory("-").parent
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    state = root.lstat()
    owner = getattr(os, "getuid", None)
    if not _is_folder(state.st_mode) or (owner is not None and state.st_uid != owner()):
        raise PermissionError(f"{root} is a symlink or another user's folder")
    if owner is not None and stat.S_IMODE(state.st_mode) & 0o077:
        root.chmod(0o700)  # made by an earlier release with the umask's mode


def _is_folder(mode: int) -> bool:
    return stat.S_ISDIR(mode) and not stat.S_ISLNK(mode)


def run_directory(kind: str, run_id: str) -> Path:
    """The folder of one session's files of one kind, made on first use."""
    return make_directory(shared_directory(kind) / run_id)


def forget_run(kind: str, run_id: str) -> None:
    """Remove one session's files of one kind (by the process that ends the session), and
    what earlier sessions left behind; nothing in a folder that is not the plugin's own."""
    try:
        _check_root()
    except OSError:
        return
    folder = shared_directory(kind)
    shutil.rmtree(folder / run_id, ignore_errors=True)  # never follows a symlink
    prune(folder)


def prune(folder: Path, *, now: float | None = None) -> None:
    """Remove the entries of `folder` unchanged for STALE seconds and not locked by any
    process; skipped when the folder was pruned less than PRUNE_EVERY seconds ago, so that a
    session's end stays cheap, and when `folder` is not a folder (a symlink)."""
    now = time.time() if now is None else now
    mark = folder / PRUNED_MARK
    try:
        if not _is_folder(folder.lstat().st_mode):
            return
        if now - mark.stat().st_mtime < PRUNE_EVERY:
            return
    except OSError:  # no folder yet, or never pruned
        pass
    try:
        mark.touch()
        entries = list(folder.iterdir())
    except OSError:  # no folder yet, or not ours to write
        return
    for entry in entries:
        with contextlib.suppress(OSError):
            if entry.name == PRUNED_MARK or now - _last_change(entry) < STALE:
                continue
            files = list(entry.iterdir()) if _is_folder(entry.lstat().st_mode) else [entry]
            if any(_locked(path) for path in files):
                continue
            if entry in files:
                entry.unlink()
            else:
                shutil.rmtree(entry, ignore_errors=True)


def _last_change(entry: Path) -> float:
    """When the entry last changed: a folder counts its files' changes too."""
    latest = entry.lstat().st_mtime
    if _is_folder(entry.lstat().st_mode):
        for child in entry.iterdir():
            latest = max(latest, child.lstat().st_mtime)
    return latest


def _locked(path: Path) -> bool:
    """Whether a process holds a lock on the file (an flock, or a record lock on any byte):
    a conversation slot or a session's shared limit still in use, however old the file."""
    if fcntl is None or not path.is_file() or path.is_symlink():
        return False
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return True  # not ours to check: leave it
    try:
        for lock, unlock in ((fcntl.flock, fcntl.flock), (fcntl.lockf, fcntl.lockf)):
            try:
                lock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            unlock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
