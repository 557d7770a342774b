"""Under pytest-xdist the session's limits hold across its workers (shared_limits.py)."""

from __future__ import annotations

import concurrent.futures
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_concurrency import SLOW_GOOD, judge_calls, overlapping

from conftest import Suite
from pytest_amigo_metrics.file_lock import take_from_window
from pytest_amigo_metrics.runs.shared_limits import (
    KIND,
    NOT_SHARED,
    SharedSlots,
    shared_limits_available,
)
from pytest_amigo_metrics.temp_state import shared_directory

pytestmark = pytest.mark.skipif(
    not shared_limits_available(), reason="POSIX record locks only (not on Windows)"
)

HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
for slot in range(int(sys.argv[2])):
    fcntl.lockf(fd, fcntl.LOCK_EX, 1, slot, os.SEEK_SET)
print("holding", flush=True)
sys.stdin.readline()
"""


def test_slots_held_by_another_process_are_taken_when_it_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "slots"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLDER), str(path), "2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        slots = SharedSlots(path, 3)
        assert slots.try_take() == 2, "the one slot the other process does not hold"
        assert slots.try_take() is None
        slots.give_back(2)
        assert slots.try_take() == 2
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
    # the other process ended: its locks went with it
    assert sorted(s for s in (slots.try_take(), slots.try_take()) if s is not None) == [0, 1]
    slots.close()


def test_a_process_never_takes_the_same_slot_twice(tmp_path: Path) -> None:
    """POSIX record locks do not exclude their own process: the slots it holds are kept."""
    slots = SharedSlots(tmp_path / "slots", 2)
    assert {slots.try_take(), slots.try_take()} == {0, 1}
    assert slots.try_take() is None
    slots.close()


def test_the_per_minute_window_counts_every_start_and_says_how_long_to_wait(
    tmp_path: Path,
) -> None:
    path = tmp_path / "window"
    assert take_from_window(path, 2, window=60.0, now=1000.0) == 0.0
    assert take_from_window(path, 2, window=60.0, now=1010.0) == 0.0
    assert take_from_window(path, 2, window=60.0, now=1020.0) == pytest.approx(40.01)
    assert take_from_window(path, 2, window=60.0, now=1060.5) == 0.0, "the first start left"


def test_the_window_counts_starts_taken_at_once_by_many_threads(tmp_path: Path) -> None:
    """Each start is written before the lock is let go: the next holder sees it (the writes
    were flushed after the unlock, and 40 concurrent takes of a 10-start window all passed)."""
    path = tmp_path / "window"
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        delays = list(pool.map(lambda _: take_from_window(path, 10, 60.0, 1000.0), range(40)))
    assert delays.count(0.0) == 10


@pytest.mark.parametrize("limit", ["--amigo-concurrency", "--amigo-model-concurrency"])
def test_a_limit_of_one_holds_across_xdist_workers(suite: Suite, limit: str) -> None:
    """One conversation, or one call to a model, at a time for the whole session: two
    workers do not make it two."""
    suite.standard()
    for index in range(4):
        suite.unit_test(file=f"t{index}.amigo.yaml", name=f"case {index}")
    suite.scripted({"judge": [{**SLOW_GOOD, "sleep": 0.4}]})
    result = suite.pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "--amigo-judge-model", "scripted/judge", limit, "1"
    )
    result.assert_outcomes(passed=4)
    calls = judge_calls(suite)
    assert len(calls) == 4
    assert overlapping(calls) == 0
    run_id = re.search(r"simulation unit test set run (\w+)", result.stdout.str())
    assert run_id is not None
    assert not (shared_directory(KIND) / run_id.group(1)).exists(), (
        "the session's files are removed"
    )


def test_without_a_limit_the_workers_call_at_once(suite: Suite) -> None:
    """The contrast: the same suite on two workers overlaps when the limits allow it."""
    suite.standard()
    for index in range(4):
        suite.unit_test(file=f"t{index}.amigo.yaml", name=f"case {index}")
    suite.scripted({"judge": [{**SLOW_GOOD, "sleep": 0.4}]})
    result = suite.pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "--amigo-judge-model", "scripted/judge"
    )
    result.assert_outcomes(passed=4)
    assert overlapping(judge_calls(suite)) > 0


def test_a_file_system_without_record_locks_leaves_each_worker_its_own_limits(
    tmp_path: Path,
) -> None:
    """Any refusal but "another process holds it" (ENOLCK on some network file systems, here a
    closed descriptor) must not look like every slot taken forever."""
    slots = SharedSlots(tmp_path / "slots", 2)
    slots.close()
    assert slots.try_take() == NOT_SHARED
    assert slots.broken
    slots.give_back(NOT_SHARED)  # nothing to let go of
