"""The session-wide scheduler: every run of every selected test in flight, pytest's semantics kept."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from _pytest.pytester import LineMatcher

from conftest import HANGING_AGENT, Suite

SLOW_GOOD = {
    "sleep": 1.0,
    "text": json.dumps({"value": 9, "justification": "Warm.", "references": []}),
}
BAD = json.dumps({"value": 2, "justification": "Cold.", "references": []})

# Records when pytest reported each test (and whether it failed), to compare with model calls.
REPORT_TIMES = """
import json, pathlib, time

def pytest_runtest_logreport(report):
    if report.when == "call" or report.failed:
        path = pathlib.Path(__file__).with_name("reports.json")
        log = json.loads(path.read_text()) if path.exists() else []
        log.append({"nodeid": report.nodeid, "failed": report.failed, "at": time.time()})
        path.write_text(json.dumps(log))
"""


def judge_calls(suite: Suite) -> list[dict[str, Any]]:
    return [c for c in suite.calls() if c["model"] == "judge"]


def overlapping(calls: list[dict[str, Any]]) -> int:
    """How many pairs of calls were in flight at the same time."""
    return sum(
        1
        for i, a in enumerate(calls)
        for b in calls[i + 1 :]
        if a["started"] < b["ended"] and b["started"] < a["ended"]
    )


def three_tests(suite: Suite) -> None:
    suite.standard()
    for index in range(3):
        suite.unit_test(file=f"t{index}.amigo.yaml", name=f"case {index}")


def test_the_runs_of_different_tests_are_in_flight_together(suite: Suite) -> None:
    three_tests(suite)
    suite.scripted({"judge": [SLOW_GOOD]})
    result = suite.pytester.runpytest("--amigo-judge-model", "scripted/judge")
    result.assert_outcomes(passed=3)
    calls = judge_calls(suite)
    assert len(calls) == 3
    assert overlapping(calls) == 3, "all three judge calls overlap in time"
    # reported in pytest's order all the same
    result.stdout.fnmatch_lines(["t0.amigo.yaml .*", "t1.amigo.yaml .*", "t2.amigo.yaml .*"])


@pytest.mark.parametrize("limit", ["--amigo-concurrency", "--amigo-model-concurrency"])
def test_a_limit_of_one_runs_the_calls_one_after_another(suite: Suite, limit: str) -> None:
    """One conversation at a time is today's serial run; one call at a time to a model holds
    across every test that calls it."""
    three_tests(suite)
    suite.scripted({"judge": [SLOW_GOOD]})
    result = suite.pytester.runpytest("--amigo-judge-model", "scripted/judge", limit, "1")
    result.assert_outcomes(passed=3)
    assert overlapping(judge_calls(suite)) == 0


def test_exitfirst_stops_and_no_model_call_starts_after_the_stop(suite: Suite) -> None:
    suite.standard()
    # the first test's one-turn conversation reaches the judge first, and gets the bad answer
    suite.unit_test(file="a.amigo.yaml", name="fails first", script='["Hi."]')
    longer = '["I forgot my password.", "It is sam@example.com.", "Done?", "Thanks."]'
    for index in range(4):
        suite.unit_test(file=f"b{index}.amigo.yaml", name=f"later {index}", runs=2, script=longer)
    slow = {**SLOW_GOOD, "sleep": 1.0}
    suite.scripted({"judge": [BAD, slow]})
    suite.write("conftest.py", (suite.path / "conftest.py").read_text() + REPORT_TIMES)
    result = suite.pytester.runpytest("--amigo-judge-model", "scripted/judge", "-x")
    result.assert_outcomes(failed=1)
    reports = json.loads((suite.path / "reports.json").read_text())
    stop = next(r["at"] for r in reports if r["failed"])
    calls = judge_calls(suite)
    assert calls, "the judge was called"
    late = [c for c in calls if c["started"] > stop]
    assert not late, f"no call started after the stop at {stop}: {late}"
    stored = suite.rows("SELECT DISTINCT unit_test_id FROM evaluation_results")
    assert len(stored) == 1, "only the reported test's results are stored"
    assert "later" not in result.stdout.str().split("amigo metrics")[1]


def test_maxfail_counts_like_a_serial_run(suite: Suite) -> None:
    suite.standard()
    for index in range(4):
        suite.unit_test(file=f"t{index}.amigo.yaml", name=f"cold {index}", script='["cold"]')
    result = suite.pytester.runpytest("--maxfail", "2")
    result.assert_outcomes(failed=2)
    assert len(suite.rows("SELECT DISTINCT unit_test_id FROM evaluation_results")) == 2


def test_retry_after_pauses_every_call_to_that_model(suite: Suite) -> None:
    three_tests(suite)
    good = json.dumps({"value": 9, "justification": "Warm.", "references": []})
    suite.scripted({"judge": [{"raise": "RateLimitError", "retry_after": 1}, good]})
    result = suite.pytester.runpytest(
        "--amigo-judge-model",
        "scripted/judge",
        "--amigo-retry-base-delay",
        "0",
        "--amigo-model-concurrency",
        "1",
    )
    result.assert_outcomes(passed=3)
    calls = sorted(judge_calls(suite), key=lambda c: c["started"])
    limited, later = calls[0], calls[1:]
    assert len(later) == 3  # the retry, and the other tests' calls
    # No call to the model starts during the pause it asked for, not only the retry.
    assert all(c["started"] >= limited["ended"] + 0.95 for c in later)
    result.stdout.fnmatch_lines(["*waited 1.?s for model rate limits*slowed, not failed"])


def test_a_test_that_gave_up_after_waiting_is_not_called_only_slowed(suite: Suite) -> None:
    suite.standard()
    suite.unit_test()
    suite.scripted({"judge": [{"raise": "RateLimitError", "retry_after": 0.5}]})
    result = suite.pytester.runpytest(
        "--amigo-judge-model",
        "scripted/judge",
        "--amigo-retry-attempts",
        "2",
        "--amigo-retry-base-delay",
        "0",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*waited *s for model rate limits (*asked for)"])
    assert "not failed" not in result.stdout.str()


def test_outcomes_and_stored_results_are_those_of_a_serial_run(suite: Suite) -> None:
    suite.standard()
    for index in range(4):
        script = '["you are cold"]' if index % 2 else '["I forgot my password.", "Thanks."]'
        suite.unit_test(
            file=f"t{index}.amigo.yaml",
            name=f"case {index}",
            runs=3,
            script=script,
            expectations=[
                '{metric: Empathy Score, expect: ">= 7"}',
                "{metric: Outcome, expect: resolved}",
            ],
        )

    serial = suite.pytester.runpytest("--amigo-concurrency", "1", "--amigo-store", "serial.db")
    serial.assert_outcomes(passed=2, failed=2)
    suite_rows_serial = _rows(suite, "serial.db")
    concurrent = suite.pytester.runpytest("--amigo-store", "concurrent.db")
    concurrent.assert_outcomes(passed=2, failed=2)
    assert _rows(suite, "concurrent.db") == suite_rows_serial
    assert len(suite_rows_serial) == 4 * 3 * 2


def _rows(suite: Suite, store: str) -> list[tuple[Any, ...]]:
    import sqlite3

    db = sqlite3.connect(suite.path / store)
    try:
        return db.execute(
            "SELECT unit_test_id, run_index, metric_id, metric_version, result, justification"
            " FROM evaluation_results ORDER BY unit_test_id, run_index, metric_id"
        ).fetchall()
    finally:
        db.close()


def most_in_flight(calls: list[dict[str, Any]]) -> int:
    return max(sum(1 for c in calls if c["started"] <= a["started"] < c["ended"]) for a in calls)


def test_xdist_workers_hold_every_item_of_a_conversation_suite_at_once(suite: Suite) -> None:
    suite.standard()
    for index in range(8):
        suite.unit_test(file=f"t{index}.amigo.yaml", name=f"case {index}")
    suite.scripted({"judge": [{**SLOW_GOOD, "sleep": 3.0}]})
    result = suite.pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "--amigo-judge-model", "scripted/judge"
    )
    result.assert_outcomes(passed=8)
    calls = judge_calls(suite)
    assert len(calls) == 8
    # xdist's own `load` mode would hand each worker 2 items at a time: 4 in flight at most.
    assert most_in_flight(calls) > 4


PRINTING_AGENT = """
import asyncio, logging, time

log = logging.getLogger("support_agent")

def respond(messages):
    who = messages[0]["content"].split()[-1]
    time.sleep(0.3 if who == "A" else 0.05)
    print(f"sync agent says hello to {who}")
    log.warning("sync agent logged for %s", who)
    return "I apologise; resolved."

async def respond_async(messages):
    who = messages[0]["content"].split()[-1]
    await asyncio.sleep(0.05)
    print(f"async agent says hello to {who}")
    return "I apologise; resolved."
"""


def test_what_an_agent_prints_or_logs_shows_with_its_own_test(suite: Suite) -> None:
    suite.standard()
    suite.write("agent.py", PRINTING_AGENT)
    for who in "ABC":
        suite.unit_test(
            file=f"t{who}.amigo.yaml",
            name=f"case {who}",
            script=f'["hi from {who}"]',
            expectations=["{metric: Outcome, expect: resolved}"],
            agent="agent:respond_async" if who == "C" else "agent:respond",
        )
    result = suite.pytester.runpytest("-rA")
    result.assert_outcomes(passed=3)
    sections = re.split(r"\n_+ simulation unit test: ", result.stdout.str().split("= PASSES =")[1])
    by_test = {section.split(" ", 2)[1]: section for section in sections[1:]}
    assert sorted(by_test) == ["A", "B", "C"]
    for who, text in by_test.items():
        others = set("ABC") - {who}
        verb = "async agent says" if who == "C" else "sync agent says"
        assert f"{verb} hello to {who}" in text
        assert not any(f"hello to {other}" in text for other in others), text
        if who != "C":
            assert f"sync agent logged for {who}" in text
        assert not any(f"logged for {other}" in text for other in others), text


# Ctrl-C lands in the agent's own code: the KeyboardInterrupt is the user's, not the agent's.
BLOCKING_ASYNC_AGENT = HANGING_AGENT.replace("def respond", "async def respond")


@pytest.mark.parametrize("agent", [HANGING_AGENT, BLOCKING_ASYNC_AGENT], ids=["sync", "async"])
def test_ctrl_c_ends_the_session_at_once_even_with_a_hung_sync_agent(
    suite: Suite, agent: str
) -> None:
    import signal
    import subprocess
    import sys
    import time

    suite.standard()
    suite.write("agent.py", agent)
    for index in range(3):
        suite.unit_test(file=f"t{index}.amigo.yaml", name=f"case {index}")
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
        cwd=suite.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # A terminal's Ctrl-C: a CI shell may start us with SIGINT ignored, and children
        # inherit that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 60
    while not (suite.path / "started").exists() and time.time() < deadline:
        time.sleep(0.05)
    assert (suite.path / "started").exists(), "the agent was called"
    interrupted = time.time()
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=30)
    took = time.time() - interrupted
    assert took < 10, f"exited {took:.1f} s after Ctrl-C"
    assert process.returncode == 2, out
    assert "KeyboardInterrupt" in out
    summary = out.strip().splitlines()[-1]  # "no tests ran", or "1 warning" when one was shown
    assert " passed" not in summary and " failed" not in summary, summary


def test_a_long_wait_shows_progress(suite: Suite, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_amigo_metrics.runs import scheduler

    monkeypatch.setattr(scheduler, "TICK", 0.3)
    suite.standard()
    suite.unit_test(runs=2)
    suite.scripted({"judge": [{**SLOW_GOOD, "sleep": 1.0}]})
    result = suite.pytester.runpytest("--amigo-judge-model", "scripted/judge")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["amigo: 0/2 conversations finished, 2 in flight or queued (*s on this test)"]
    )
    quiet = suite.pytester.runpytest("--amigo-judge-model", "scripted/judge", "-q")
    assert "conversations finished" not in quiet.stdout.str()


def test_progress_shows_on_the_terminal_not_in_the_tests_captured_output(suite: Suite) -> None:
    """In a real run pytest captures file descriptors while the item waits: the progress line
    must reach the terminal as it happens, not the item's captured output."""
    suite.standard()
    suite.unit_test()
    suite.scripted({"judge": [{"sleep": 1.0, "text": BAD}]})
    conftest = (suite.path / "conftest.py").read_text()
    suite.write(
        "conftest.py",
        conftest + "\nfrom pytest_amigo_metrics.runs import scheduler\nscheduler.TICK = 0.3\n",
    )
    result = suite.pytester.runpytest_subprocess("--amigo-judge-model", "scripted/judge", "-rA")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    failures = out.index("= FAILURES =")
    assert "conversations finished" in out[:failures]
    assert "conversations finished" not in out[failures:].split("amigo metrics")[0]


CHATTY_AGENT = """
import logging, os, time

def quiet(messages):
    return "I apologise; resolved."

def chatty(messages):
    for index in range(150):
        print(f"chatty {index} {os.environ['SUPPORT_DB_TOKEN']}")
        logging.getLogger("agent").warning("chatty log %d %s", index, os.environ["SUPPORT_DB_TOKEN"])
        time.sleep(0.005)
    return "I apologise; resolved."
"""


@pytest.mark.parametrize("capture", ["fd", "sys", "no"])
def test_what_a_sync_agent_prints_between_items_stays_with_its_test_and_masked(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, capture: str
) -> None:
    """A sync agent goes on in its thread while pytest reports other items: what it prints or
    logs then is never unmasked, and (under pytest's default capture) never shown under
    another test."""
    secret = "db-token-4f9a8b7c6d5e"
    monkeypatch.setenv("SUPPORT_DB_TOKEN", secret)
    suite.standard()
    suite.write("agent.py", CHATTY_AGENT)
    outcome = ["{metric: Outcome, expect: resolved}"]
    for index, agent in enumerate(["quiet"] * 6 + ["chatty"]):
        suite.unit_test(
            file=f"t{index}.amigo.yaml",
            name=f"{agent} {index}",
            expectations=outcome,
            agent=f"agent:{agent}",
        )
    result = suite.pytester.runpytest_subprocess(
        f"--capture={capture}",
        "-rA",
        "-o",
        "junit_logging=all",
        "--junitxml=o.xml",
        "--log-file=run.log",
    )
    result.assert_outcomes(passed=7)
    output = result.stdout.str() + result.stderr.str()
    for text in (output, (suite.path / "o.xml").read_text(), (suite.path / "run.log").read_text()):
        assert secret not in text
    assert (
        "chatty 149 ***" in output and "chatty log 149 ***" in (suite.path / "run.log").read_text()
    )
    if capture != "fd":
        return
    sections = re.split(r"\n_+ simulation unit test: ", output.split("= PASSES =")[1])
    by_test = {section.split(" ", 1)[0]: section for section in sections[1:]}
    assert "chatty 149 ***" in by_test["chatty"] and "chatty log 149 ***" in by_test["chatty"]
    assert not [text for name, text in by_test.items() if name == "quiet" and "chatty" in text]


CAPSYS_TEST = """
def test_what_it_prints_is_its_own(capsys):
    for index in range(50):
        print(f"plain {index}")
    assert capsys.readouterr().out == "".join(f"plain {index}\\n" for index in range(50))
"""


@pytest.mark.parametrize("capture", ["fd", "sys"])
def test_a_plain_test_beside_a_chatty_agent_sees_only_its_own_output(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, capture: str
) -> None:
    monkeypatch.setenv("SUPPORT_DB_TOKEN", "db-token-4f9a8b7c6d5e")
    suite.standard()
    suite.write("agent.py", CHATTY_AGENT)
    suite.write("test_b_plain.py", CAPSYS_TEST)
    outcome = ["{metric: Outcome, expect: resolved}"]
    suite.unit_test(file="c.amigo.yaml", name="chatty", expectations=outcome, agent="agent:chatty")
    suite.unit_test(file="a.amigo.yaml", name="quiet", expectations=outcome, agent="agent:quiet")
    result = suite.pytester.runpytest_subprocess(f"--capture={capture}", "-rA")
    result.assert_outcomes(passed=3)
    output = result.stdout.str()
    assert "db-token-4f9a8b7c6d5e" not in output
    assert "chatty 149 ***" in output


def test_output_a_timed_out_agent_makes_later_is_shown_masked_and_not_kept(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORT_DB_TOKEN", "db-token-4f9a8b7c6d5e")
    suite.standard()
    suite.write(
        "agent.py",
        "import os, time\n"
        "def respond(messages):\n"
        "    time.sleep(0.6)\n"
        "    for index in range(20):\n"
        "        print(f'late {index} {os.environ[\"SUPPORT_DB_TOKEN\"]}')\n"
        "    return 'never read'\n"
        "def fine(messages):\n"
        "    time.sleep(0.2)\n"
        "    return 'I apologise; resolved.'\n",
    )
    suite.unit_test(file="a.amigo.yaml", name="hangs")
    suite.unit_test(
        file="b.amigo.yaml",
        name="slow",
        script='["a", "b", "c", "d", "e", "f"]',  # 1.2 s: the other's late output comes
        expectations=["{metric: Outcome, expect: resolved}"],
        agent="agent:fine",
    )
    result = suite.pytester.runpytest_subprocess("-s", "--amigo-turn-timeout", "0.3")
    result.assert_outcomes(errors=1, passed=1)
    assert "late 19 ***" in result.stdout.str()
    assert "db-token-4f9a8b7c6d5e" not in result.stdout.str()


def test_log_records_of_runs_are_masked_when_the_plugin_comes_from_a_conftest(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORT_DB_TOKEN", "db-token-4f9a8b7c6d5e")
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    suite.standard()
    suite.write("agent.py", CHATTY_AGENT)
    suite.write("conftest.py", 'pytest_plugins = ["pytest_amigo_metrics.plugin"]\n')
    suite.unit_test(
        file="c.amigo.yaml",
        name="chatty",
        expectations=["{metric: Outcome, expect: resolved}"],
        agent="agent:chatty",
    )
    result = suite.pytester.runpytest_subprocess("--log-file=run.log", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    log = (suite.path / "run.log").read_text()
    assert "chatty log 149 ***" in log and "db-token-4f9a8b7c6d5e" not in log


def test_jobs_submitted_back_to_back_each_get_a_thread() -> None:
    """One idle thread must not make four jobs submitted at once wait in line."""
    import threading

    from pytest_amigo_metrics.runs.agent_threads import DaemonThreadPool

    pool = DaemonThreadPool(4)
    pool.submit(lambda: None).result(timeout=5)  # one thread, now idle
    release, started = threading.Event(), threading.Semaphore(0)

    def job() -> None:
        started.release()
        release.wait(10)

    futures = [pool.submit(job) for _ in range(4)]
    try:
        assert all(started.acquire(timeout=5) for _ in range(4)), "a job waited for a thread"
    finally:
        release.set()
        for future in futures:
            future.result(timeout=10)
        pool.shutdown()


LATE_AGENT = """
import logging, time

def respond(messages):
    time.sleep(1.5)  # past its turn's limit: its thread goes on
    print("LATE-PRINT from the agent")
    logging.getLogger("agent").warning("LATE-LOG from the agent")
    return "too late"
"""

PLAIN_TEST = """
import time

def test_plain_waits():
    time.sleep(3)
    assert False, "a plain failure"
"""


@pytest.mark.parametrize("xdist", [(), ("-p", "xdist", "-n", "1")])
def test_what_an_agent_writes_after_its_test_ended_is_never_another_tests(
    suite: Suite, xdist: tuple[str, ...]
) -> None:
    suite.standard()
    suite.write("agent.py", LATE_AGENT)
    suite.unit_test(file="a_late.amigo.yaml", name="late")
    suite.write("test_b_plain.py", PLAIN_TEST)
    result = suite.pytester.runpytest_subprocess("--amigo-turn-timeout", "0.5", "-rA", *xdist)
    result.assert_outcomes(errors=1, failed=1)
    out = result.stdout.str()
    plain = out[out.index("_ test_plain_waits _") :]
    assert "LATE-" not in plain[: plain.index("amigo metrics")]
    shown = LineMatcher([*result.stdout.lines, *result.stderr.lines])
    shown.fnmatch_lines(
        [
            "amigo: a_late.amigo.yaml::late went on writing after its test ended:",
            "LATE-PRINT from the agent",
            "WARNING agent: LATE-LOG from the agent",
        ]
    )


SLOW_REPLY = """
import time

def respond(messages):
    time.sleep(1.0)
    return "I apologise and acknowledge the frustration; resolved."
"""


def test_a_tests_duration_is_its_own_not_the_wait_of_whichever_item_came_first(
    suite: Suite,
) -> None:
    """Both tests talk at once: the second item finds its runs done, yet took a second."""
    import xml.etree.ElementTree as ElementTree

    suite.standard()
    suite.write("agent.py", SLOW_REPLY)
    for name in ("first", "second"):
        suite.unit_test(file=f"{name}.amigo.yaml", name=name, script='["hi"]')
    result = suite.pytester.runpytest("--junitxml=out.xml", "--durations=0", "-vv")
    result.assert_outcomes(passed=2)
    cases = ElementTree.parse(suite.path / "out.xml").getroot().iter("testcase")
    times = {case.get("name"): float(case.get("time", 0)) for case in cases}
    assert times["first"] >= 1.0 and times["second"] >= 1.0, times
    result.stdout.fnmatch_lines(["*s setup    second.amigo.yaml::second"])


LATE_SECRET_AGENT = """
import logging, os, time

def respond(messages):
    time.sleep(1.0)  # past its turn's limit, and past the end of the session
    print("LATE-PRINT", os.environ["MY_API_KEY"])
    logging.getLogger("agent").error("LATE-LOG %s", os.environ["MY_API_KEY"])
    return "too late"
"""

SLOW_EXIT = """
import time
import pytest

@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    time.sleep(2)  # the agent's thread writes meanwhile, after the plugin's session closed
"""


def test_an_agent_writing_after_the_session_ended_is_still_masked(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_API_KEY", "supersecretvalue123")
    suite.standard()
    suite.write("agent.py", LATE_SECRET_AGENT)
    suite.write("conftest.py", SLOW_EXIT)
    suite.unit_test()
    result = suite.pytester.runpytest_subprocess("--amigo-turn-timeout", "0.3")
    result.assert_outcomes(errors=1)
    everything = result.stdout.str() + result.stderr.str()
    assert "LATE-PRINT ***" in everything
    assert "supersecretvalue123" not in everything


EXECUTOR_AGENT = """
import asyncio

def noisy(text):
    print("EXECUTOR says", text)
    return "Fine."

async def respond(messages):
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, noisy, messages[-1]["content"])
"""


def test_what_an_async_agents_executor_job_prints_shows_with_its_own_test(suite: Suite) -> None:
    suite.standard()
    suite.write("agent.py", EXECUTOR_AGENT)
    for name in ("alpha", "beta"):
        suite.unit_test(file=f"{name}.amigo.yaml", name=name, script=f'["{name} here"]')
    result = suite.pytester.runpytest_subprocess()
    result.assert_outcomes(failed=2)  # "Fine." is no empathy: both fail and show their output
    out = result.stdout.str()
    alpha = out[
        out.index("_ simulation unit test: alpha _") : out.index("_ simulation unit test: beta _")
    ]
    beta = out[out.index("_ simulation unit test: beta _") : out.index("amigo metrics")]
    assert "EXECUTOR says alpha here" in alpha and "beta here" not in alpha
    assert "EXECUTOR says beta here" in beta and "alpha here" not in beta
