"""The plugin's files in the temp dir: a session removes its own, and left-overs go (temp_state.py)."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

import pytest

from conftest import Suite
from pytest_amigo_metrics import once
from pytest_amigo_metrics.amigo.rate_limits import RateLimiter
from pytest_amigo_metrics.errors import AmigoRunError
from pytest_amigo_metrics.runs.shared_limits import KIND, forget_limits, limit_file
from pytest_amigo_metrics.temp_state import (
    PRUNE_EVERY,
    PRUNED_MARK,
    STALE,
    prune,
    run_directory,
    shared_directory,
)

DAY = 24 * 3600.0


@pytest.fixture(autouse=True)
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def age(path: Path, seconds: float) -> None:
    then = path.stat().st_mtime - seconds
    os.utime(path, (then, then))


def test_a_session_end_removes_its_own_files_and_no_other_sessions() -> None:
    assert once.once_per_run("run-a", "sync", lambda: {"ids": [1]}) == {"ids": [1]}
    assert once.once_per_run("run-b", "sync", lambda: {"ids": [2]}) == {"ids": [2]}
    mine, theirs = limit_file("run-a", "model x slots"), limit_file("run-b", "model x slots")
    mine.write_text("")
    theirs.write_text("")

    once.forget("run-a")
    forget_limits("run-a")

    assert not (shared_directory(once.KIND) / "run-a").exists()
    assert not mine.exists()
    assert theirs.exists()
    assert once.once_per_run("run-b", "sync", lambda: {"ids": [3]}) == {"ids": [2]}


def test_left_overs_unchanged_for_a_day_are_removed_and_the_rest_kept(temp_dir: Path) -> None:
    folder = temp_dir / "state"
    folder.mkdir()
    killed = folder / "killed-run"  # a session that never reached its end
    killed.mkdir()
    (killed / "slots").write_text("")
    old_window = folder / "old-window.json"
    old_window.write_text("[]")
    fresh = folder / "window.json"
    fresh.write_text("[]")
    running = folder / "running-run"  # an old folder whose files still change
    running.mkdir()
    (running / "window").write_text("[]")
    for path in (killed / "slots", killed, old_window, running):
        age(path, STALE + 60)

    prune(folder)

    assert not killed.exists()
    assert not old_window.exists()
    assert fresh.exists()
    assert (running / "window").exists()


def test_a_folder_is_pruned_at_most_once_an_hour(temp_dir: Path) -> None:
    folder = temp_dir / "state"
    folder.mkdir()
    prune(folder)
    left = folder / "left-over.json"
    left.write_text("[]")
    age(left, STALE + 60)

    prune(folder)
    assert left.exists(), "pruned a moment ago: not again"

    age(folder / PRUNED_MARK, PRUNE_EVERY + 1)
    prune(folder)
    assert not left.exists()


def test_the_amigo_windows_prune_left_overs_and_mark_a_held_conversation_in_use(
    temp_dir: Path,
) -> None:
    folder = temp_dir / "amigo"
    folder.mkdir()
    left = folder / "0123456789abcdef-create-conversation.json"
    left.write_text("[]")
    age(left, STALE + 60)

    limiter = RateLimiter("https://api.example|org|user", directory=folder)
    assert not left.exists()

    lock = folder / f"{limiter.prefix}-conversation.lock"
    lock.write_text("")
    age(lock, 2 * DAY)
    handle = limiter._open_slot()
    try:
        assert time.time() - lock.stat().st_mtime < STALE / 2, "held now: not a left-over"
    finally:
        handle.close()


def test_a_temp_dir_the_session_cannot_write_to_is_no_internal_error(
    suite: Suite, temp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file (or another user's folder) where the plugin's folder goes: one process needs
    none; xdist workers would share it, so that is a usage error before they start."""
    shared_directory(once.KIND).parent.write_text("not a folder")
    suite.standard()
    suite.unit_test()
    suite.pytester.runpytest().assert_outcomes(passed=1)

    monkeypatch.setenv("TMPDIR", str(temp_dir))
    result = suite.pytester.runpytest_subprocess("-p", "xdist", "-n", "2")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: the session's xdist workers share files in *, which cannot be used: *",
            "    fix: make it a folder of yours you can write to, or point TMPDIR at one",
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_the_plugins_folder_is_private_and_one_made_by_someone_else_is_refused(
    temp_dir: Path,
) -> None:
    """Its files decide what this user's sessions share: the folder is made for this user
    only, and a symlink in its place (or another user's folder) is not used."""
    folder = run_directory(once.KIND, "run-a")
    root = shared_directory(once.KIND).parent
    assert folder.is_dir()
    if hasattr(os, "getuid"):
        assert stat.S_IMODE(root.stat().st_mode) == 0o700

    shutil.rmtree(root)
    elsewhere = temp_dir / "elsewhere"
    elsewhere.mkdir()
    root.symlink_to(elsewhere)
    with pytest.raises(PermissionError, match="symlink or another user's folder"):
        run_directory(once.KIND, "run-b")
    assert once.once_per_run("run-b", "sync", lambda: {"ids": [1]}) == {"ids": [1]}
    with pytest.raises(AmigoRunError, match=r"rate-limit windows are kept in .*TMPDIR"):
        RateLimiter("https://api.example|org|user")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root")
def test_a_folder_another_user_owns_is_refused(temp_dir: Path) -> None:
    root = shared_directory(once.KIND).parent
    root.mkdir(mode=0o777)
    os.chown(root, 4242, -1)
    with pytest.raises(PermissionError):
        run_directory(once.KIND, "run-a")


def test_a_session_end_deletes_nothing_through_a_symlink_or_in_a_locked_file(
    temp_dir: Path,
) -> None:
    """A left-over is removed only inside the plugin's own folders, and only when no process
    holds a lock on it (a conversation slot, a shared limit of a session still running)."""
    fcntl = pytest.importorskip("fcntl")
    precious = temp_dir / "home"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    age(precious / "thesis.tex", 3 * DAY)
    run_directory(once.KIND, "run-a")
    limits = shared_directory(KIND)
    limits.parent.mkdir(exist_ok=True)
    limits.symlink_to(precious)  # planted where the limits go

    forget_limits("run-a")
    once.forget("run-a")
    assert (precious / "thesis.tex").read_text() == "years of work"

    folder = temp_dir / "windows"
    folder.mkdir()
    held = folder / "slot.lock"
    held.write_text("")
    age(held, 2 * DAY)
    with held.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        prune(folder)
        assert held.exists(), "held by a process: still in use"
    age(folder / PRUNED_MARK, PRUNE_EVERY + 1)
    prune(folder)
    assert not held.exists()


def test_the_plugins_folder_made_with_an_open_mode_is_made_private(temp_dir: Path) -> None:
    root = shared_directory(once.KIND).parent
    root.mkdir()
    root.chmod(0o777)
    run_directory(once.KIND, "run-a")
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_the_folder_check_runs_only_when_xdist_starts_workers(
    suite: Suite, temp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--dist` alone, or `--collect-only -n 2`, starts no worker: nothing to share."""
    shared_directory(once.KIND).parent.write_text("not a folder")
    suite.standard()
    suite.unit_test()
    monkeypatch.setenv("TMPDIR", str(temp_dir))
    for args in (["--dist", "loadfile"], ["--collect-only", "-n", "2"]):
        result = suite.pytester.runpytest_subprocess("-p", "xdist", *args)
        assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
