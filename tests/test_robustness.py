"""Robustness: what agents and judges do wrong ends one run in error, never the session, and
loses no valid verdict."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from conftest import Suite


@pytest.mark.parametrize(
    ("agent", "message"),
    [
        (
            "import sys\ndef respond(messages):\n    sys.exit(3)\n",
            "run 0: user turn 1: SystemExit raised by the agent 'agent:respond': it called sys.exit(3)*",
        ),
        (
            "def respond(messages):\n    raise KeyboardInterrupt('agent gave up')\n",
            "run 0: user turn 1: KeyboardInterrupt raised by the agent 'agent:respond': agent gave up",
        ),
        (
            "import sys\nasync def respond(messages):\n    sys.exit('bye')\n",
            "run 0: user turn 1: SystemExit raised by the agent 'agent:respond': it called sys.exit('bye')*",
        ),
        (
            "async def respond(messages):\n    raise KeyboardInterrupt\n",
            "run 0: user turn 1: KeyboardInterrupt raised by the agent 'agent:respond'",
        ),
        (
            "def respond(messages):\n    raise GeneratorExit\n",
            "run 0: user turn 1: GeneratorExit raised by the agent 'agent:respond'",
        ),
        (
            "class Quit(BaseException):\n    pass\n"
            "async def respond(messages):\n    raise Quit('done here')\n",
            "run 0: user turn 1: Quit raised by the agent 'agent:respond': done here",
        ),
        pytest.param(
            "import asyncio\nasync def respond(messages):\n    raise asyncio.CancelledError\n",
            "run 0: user turn 1: CancelledError raised by the agent 'agent:respond'",
            marks=pytest.mark.skipif(
                sys.version_info < (3, 11),
                reason="before Python 3.11 a task cannot tell its own cancellation from one "
                "the agent raises",
            ),
        ),
        (
            "import asyncio\nasync def helper():\n    raise KeyboardInterrupt('from a task')\n"
            "async def respond(messages):\n    await asyncio.gather(helper())\n",
            "run 0: user turn 1: KeyboardInterrupt raised by the agent 'agent:respond': from a task",
        ),
        (
            "import asyncio, sys\nasync def helper():\n    sys.exit(5)\n"
            "async def respond(messages):\n    await asyncio.create_task(helper())\n",
            "run 0: user turn 1: SystemExit raised by the agent 'agent:respond': it called sys.exit(5)*",
        ),
    ],
)
def test_an_agent_that_exits_ends_its_run_in_error_and_the_session_goes_on(
    suite: Suite, agent: str, message: str
) -> None:
    suite.standard()
    suite.write("agent.py", agent)
    suite.unit_test(file="bad.amigo.yaml", name="exits")
    suite.write("good_agent.py", "def respond(messages):\n    return 'I apologise, resolved.'\n")
    suite.unit_test(
        file="good.amigo.yaml",
        name="still runs",
        expectations=["{metric: Outcome, expect: resolved}"],
        agent="good_agent:respond",
    )
    # In a process of its own: whether a KeyboardInterrupt is Ctrl-C is known from the
    # process's SIGINT handler, which sessions run in-process before this one may hold.
    result = suite.pytester.runpytest_subprocess("--junitxml=out.xml")
    result.assert_outcomes(errors=1, passed=1)
    result.stdout.fnmatch_lines([message])
    # Started with Ctrl-C ignored (a background job, some CI runners), the same.
    ignoring = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
        cwd=suite.path,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert ignoring.returncode == 1, ignoring.stdout
    summary = ignoring.stdout.splitlines()[-1]  # "1 passed, 1 error", or with "1 warning"
    assert "1 passed" in summary and "1 error" in summary, ignoring.stdout
    result.stdout.fnmatch_lines(["ERROR   bad.amigo.yaml::exits  0/1 runs passed*"])
    assert 'name="exits"' in (suite.path / "out.xml").read_text()


def test_a_judge_failing_on_one_metric_keeps_the_other_verdicts(suite: Suite) -> None:
    suite.standard()
    good = json.dumps({"value": "resolved", "justification": "Solved.", "references": []})
    suite.scripted({"judge": [good, "not json", "still not json", "never json"]})
    suite.unit_test(
        expectations=[
            "{metric: Outcome, expect: resolved}",
            '{metric: Empathy Score, expect: ">= 7"}',
        ]
    )
    result = suite.pytester.runpytest(
        "--amigo-judge-model",
        "scripted/judge",
        "--amigo-concurrency",
        "1",
        "--amigo-model-concurrency",
        "1",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*gave no valid evaluation of metric 'Empathy Score'*"])
    stored = suite.rows("SELECT result, justification FROM evaluation_results")
    assert [(json.loads(r["result"]), r["justification"]) for r in stored] == [
        ("resolved", "Solved.")
    ]


HANGS_ON_SECOND_TURN = """
import time

def respond(messages):
    if sum(1 for m in messages if m["role"] == "user") == 2:
        time.sleep(60)
    return "I apologise; resolved."
"""


def test_an_agent_turn_that_never_ends_is_an_error_naming_run_turn_and_limit(suite: Suite) -> None:
    suite.standard()
    suite.write("agent.py", HANGS_ON_SECOND_TURN)
    suite.unit_test(file="hangs.amigo.yaml", name="hangs", runs=2)
    suite.unit_test(
        file="fine.amigo.yaml",
        name="fine",
        script='["only one turn"]',
        expectations=["{metric: Outcome, expect: resolved}"],
    )
    result = suite.pytester.runpytest("--amigo-turn-timeout", "0.5")
    result.assert_outcomes(errors=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "simulation unit test 'hangs' could not be evaluated: 2 of 2 runs ended in error*",
            "run 0: user turn 2: the agent gave no reply within 0.5 s (--amigo-turn-timeout)*",
            "run 1: user turn 2: the agent gave no reply within 0.5 s (--amigo-turn-timeout)*",
        ]
    )


BLOCKING_ASYNC = """
import asyncio
import time

async def forever(messages):
    time.sleep(3600)  # a sync client called from async code
    return "never"

async def late(messages):
    time.sleep(1.5)
    return "I apologise; resolved, but late."

async def fine(messages):
    return "I apologise; resolved."

async def _blocking():
    time.sleep(3600)
    return "never"

async def in_a_task(messages):
    # asyncio.wait_for runs its work as a task of its own (Python 3.11)
    return await asyncio.wait_for(_blocking(), 100)
"""


@pytest.mark.parametrize("xdist", [(), ("-p", "xdist", "-n", "2")])
def test_an_async_agent_blocking_the_event_loop_is_an_error_and_the_session_goes_on(
    suite: Suite, xdist: tuple[str, ...]
) -> None:
    """No asyncio time limit fires while the loop is blocked: the step is interrupted, and one
    that overran yet returned is an error too, never a pass."""
    suite.standard()
    suite.write("agent.py", BLOCKING_ASYNC)
    outcome = ["{metric: Outcome, expect: resolved}"]
    for name in ("forever", "late", "in_a_task", "fine"):
        suite.unit_test(
            file=f"{name}.amigo.yaml", name=name, expectations=outcome, agent=f"agent:{name}"
        )
    result = suite.pytester.runpytest_subprocess("--amigo-turn-timeout", "0.5", *xdist, timeout=60)
    result.assert_outcomes(errors=3, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*run 0: user turn 1: the async agent 'agent:forever' held the session's event loop: "
            "one step took * s, over the limit of 0.5 s (--amigo-turn-timeout); an async agent "
            "must not call blocking code*",
        ]
    )
    result.stdout.fnmatch_lines(["*the async agent 'agent:late' held the session's event loop*"])
    result.stdout.fnmatch_lines(
        ["*the async agent 'agent:in_a_task' held the session's event loop*"]
    )


HUNG_AND_FINE = """
import time

def hung(messages):
    time.sleep(30)
    return "never"

def fine(messages):
    return "I apologise; resolved."
"""


def test_a_hung_sync_agent_does_not_take_the_thread_the_next_tests_need(suite: Suite) -> None:
    """With one agent thread (--amigo-concurrency 1), an agent that hangs past its turn's
    limit is left to itself: the next test's agent gets a thread and answers."""
    suite.standard()
    suite.write("agent.py", HUNG_AND_FINE)
    outcome = ["{metric: Outcome, expect: resolved}"]
    for name in ("a hung", "b fine", "c fine"):
        agent = name.split()[1]
        suite.unit_test(
            file=f"{name[0]}.amigo.yaml", name=name, expectations=outcome, agent=f"agent:{agent}"
        )
    result = suite.pytester.runpytest_subprocess(
        "--amigo-concurrency", "1", "--amigo-turn-timeout", "0.5"
    )
    result.assert_outcomes(errors=1, passed=2)
    result.stdout.fnmatch_lines(["*run 0: user turn 1: the agent gave no reply within 0.5 s*"])


def test_a_model_call_that_never_answers_times_out_and_is_retried(suite: Suite) -> None:
    suite.standard()
    suite.scripted({"judge": [{"sleep": 30, "text": "{}"}]})
    suite.unit_test()
    result = suite.pytester.runpytest(
        "--amigo-judge-model",
        "scripted/judge",
        "--amigo-call-timeout",
        "0.3",
        "--amigo-retry-attempts",
        "2",
        "--amigo-retry-base-delay",
        "0",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["run 0: judge model 'scripted/judge' timed out after 2 attempts*no answer within 0.3 s*"]
    )
    assert len([c for c in suite.calls() if c["model"] == "judge"]) == 0  # none ever finished


def test_a_conversation_that_runs_too_long_is_an_error(suite: Suite) -> None:
    suite.standard()
    suite.write(
        "agent.py",
        "import time\ndef respond(messages):\n"
        "    if len(messages) > 1:\n        time.sleep(5)  # stalls at the second turn\n"
        "    return 'ok'\n",
    )
    suite.unit_test(script='["one", "two", "three", "four", "five"]')
    result = suite.pytester.runpytest("--amigo-conversation-timeout", "1")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "run 0: the conversation did not end within 1 s (--amigo-conversation-timeout): "
            "user turn 2 was waiting for the agent's reply"
        ]
    )
    (stored,) = suite.rows("SELECT messages FROM conversations")
    said = [m["content"] for m in json.loads(stored["messages"])]
    assert said == ["one", "ok", "two"]  # what was said until it stalled, kept to look at


@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_negative_or_nan_option_values_are_usage_errors(suite: Suite, value: str) -> None:
    result = suite.pytester.runpytest("--amigo-turn-timeout", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--amigo-turn-timeout*is not allowed*"])


def test_an_item_whose_xdist_worker_crashed_is_an_error_in_the_summary_and_the_store(
    suite: Suite,
) -> None:
    suite.standard()
    suite.write("crash.py", "import os\ndef respond(messages):\n    os._exit(1)\n")
    suite.unit_test(file="crash.amigo.yaml", name="crashes", agent="crash:respond")
    suite.unit_test(
        file="fine.amigo.yaml", name="fine", expectations=["{metric: Outcome, expect: resolved}"]
    )
    result = suite.pytester.runpytest_subprocess("-p", "xdist", "-n", "2")
    result.assert_outcomes(failed=1, passed=1)
    summary = result.stdout.str().split("amigo metrics")[1]
    assert "ERROR   crash.amigo.yaml::crashes  0/1 runs passed" in summary
    assert "run 0: error: no outcome: its xdist worker ended while running it (" in summary
    assert "crashed while running 'crash.amigo.yaml::crashes'" in summary
    assert "models:" not in summary.split("PASSED")[0]  # none are known: no empty line for them
    assert "PASSED  fine.amigo.yaml::fine" in summary
    stored = suite.rows("SELECT name, outcome FROM test_outcomes ORDER BY name")
    assert [tuple(row) for row in stored] == [("crashes", "error"), ("fine", "passed")]


def test_the_items_a_crashed_worker_held_run_on_its_replacement(suite: Suite) -> None:
    suite.standard()
    suite.write("crash.py", "import os\ndef respond(messages):\n    os._exit(3)\n")
    suite.unit_test(file="a.amigo.yaml", name="crash", agent="crash:respond")
    fine = ["{metric: Outcome, expect: resolved}"]
    for name in ("fine 1", "fine 2", "fine 3"):
        suite.unit_test(file=f"b {name}.amigo.yaml".replace(" ", "_"), name=name, expectations=fine)
    result = suite.pytester.runpytest_subprocess("-p", "xdist", "-n", "2")
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.assert_outcomes(failed=1, passed=3)
    names = {row["name"] for row in suite.rows("SELECT name FROM test_outcomes")}
    assert names == {"crash", "fine 1", "fine 2", "fine 3"}


LEAKY_AGENT = """
import logging, os

def respond(messages):
    token = os.environ["SUPPORT_DB_TOKEN"]
    logging.getLogger("agent").warning("calling the CRM with Bearer abcdefghijklmnop123456")
    print("connecting to postgres://app:hunter2-secret@db.internal/crm")
    return f"Your case is resolved. (debug: token {token})"
"""


def test_secrets_an_agent_or_judge_let_slip_are_in_no_report_nor_the_store(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "tok-0123456789abcdef"
    monkeypatch.setenv("SUPPORT_DB_TOKEN", secret)
    suite.standard()
    suite.write("agent.py", LEAKY_AGENT)
    verdict = {"value": 2, "justification": f"It printed {secret}.", "references": []}
    suite.scripted({"judge": [json.dumps(verdict)]})
    suite.unit_test()
    result = suite.pytester.runpytest(
        "--amigo-judge-model", "scripted/judge", "--junitxml=out.xml", "-rA"
    )
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "It printed ***." in out, "the justification is shown, scrubbed"
    artifacts = [out, (suite.path / "out.xml").read_text()]
    store = suite.path / ".amigo-metrics"
    artifacts += [p.read_bytes().decode("latin-1") for p in store.iterdir()]
    for text in artifacts:
        for leaked in (secret, "hunter2-secret", "abcdefghijklmnop123456"):
            assert leaked not in text


# An agent that streams a secret token by token (as an agent printing a model's streamed
# reply does), and ends on a line it never finishes.
STREAMING_AGENT = """
import os
import sys
import time


def respond(messages):
    time.sleep(0.2)  # its item waits for it: it writes during its own phase
    secret = os.environ["SUPPORT_DB_TOKEN"]
    for piece in ("token: ", secret[:6], secret[6:12], secret[12:], "\\n"):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("unfinished " + secret[:10])
    sys.stdout.write(secret[10:])
    return "I apologise and acknowledge the frustration; let me reassure you."
"""


@pytest.mark.parametrize("capture", ["-s", "--capture=fd", "--capture=sys"])
def test_a_secret_an_agent_writes_in_pieces_is_masked(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, capture: str
) -> None:
    secret = "tok-0123456789abcdef"
    monkeypatch.setenv("SUPPORT_DB_TOKEN", secret)
    suite.standard()
    suite.write("agent.py", STREAMING_AGENT)
    suite.unit_test(script='["I forgot my password."]')
    suite.unit_test(file="second.amigo.yaml", name="second", script='["Hello."]')
    result = suite.pytester.runpytest_subprocess(capture, "-rA")
    result.assert_outcomes(passed=2)
    out = result.stdout.str() + result.stderr.str()
    assert secret not in out and secret[6:12] not in out
    assert out.count("token: ***") == 2 and out.count("unfinished ***") == 2


ALIAS_BOMB = """
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
simulation_unit_tests:
  - name: bomb
    persona: {name: Sam, background: A busy customer.}
    scenario: {name: Reset, objective: Reset my password., instructions: Be brief.}
    script: ["hi"]
    target: {python: "agent:respond"}
    metrics: [{metric: Outcome, expect: *g}]
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (ALIAS_BOMB, "bad.amigo.yaml:1: the document holds more than 200,000 values*"),
        ("? [a, b]\n: 1\n", "bad.amigo.yaml:1: invalid YAML: a key must be a plain value*"),
        ("metrics: " + "[" * 5000 + "]" * 5000 + "\n", "bad.amigo.yaml:1: *"),
        (
            "simulation_unit_tests:\n  - name: t\n    runs: true\n",
            "bad.amigo.yaml:3: simulation_unit_tests[[]0].runs: Input should be a valid integer*",
        ),
        (
            "metrics:\n  - name: M\n    description: d\n"
            "    metric_value: {type: numerical, lower_bound: .nan, upper_bound: 10}\n",
            "bad.amigo.yaml:4: *lower_bound: Input should be a finite number*",
        ),
    ],
)
def test_hostile_yaml_is_a_located_error_in_bounded_time(
    suite: Suite, text: str, message: str
) -> None:
    suite.standard()
    suite.write("bad.amigo.yaml", text)
    result = suite.pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([message])
    out = result.stdout.str()
    assert "Traceback" not in out and "INTERNALERROR" not in out and len(out) < 20_000
    assert not suite.store.exists()


def test_merge_keys_let_a_test_override_a_shared_block(suite: Suite) -> None:
    suite.standard()
    suite.write(
        "t.amigo.yaml",
        """
        simulation_unit_tests:
          - &first
            name: first
            persona: {name: Sam, background: A busy customer.}
            scenario: {name: Reset, objective: Reset my password., instructions: Be brief.}
            target: {python: "agent:respond"}
            script: ["the first script"]
            metrics: [{metric: Outcome, expect: resolved}]
          - <<: *first
            name: second
            script: ["the second script"]
        """,
    )
    result = suite.pytester.runpytest()
    result.assert_outcomes(passed=2)
    rows = suite.rows("SELECT nodeid, messages FROM conversations ORDER BY nodeid")
    firsts = {r["nodeid"]: json.loads(r["messages"])[0]["content"] for r in rows}
    assert firsts == {
        "t.amigo.yaml::first": "the first script",
        "t.amigo.yaml::second": "the second script",
    }


def test_x_keys_hold_anchors_that_are_no_test(suite: Suite) -> None:
    suite.standard()
    suite.write(
        "t.amigo.yaml",
        """
        x-shared:
          persona: &sam {name: Sam, background: A busy customer.}
          test: &base
            persona: *sam
            scenario: {name: Reset, objective: Reset my password., instructions: Be brief.}
            target: {python: "agent:respond"}
            metrics: [{metric: Outcome, expect: resolved}]
        simulation_unit_tests:
          - <<: *base
            name: first
            script: ["the first script"]
          - <<: *base
            name: second
            script: ["the second script"]
        """,
    )
    result = suite.pytester.runpytest()
    result.assert_outcomes(passed=2)
    suite.write("u.amigo.yaml", "xshared: {}\n")  # not an x- key: still a mistake
    result = suite.pytester.runpytest("u.amigo.yaml")
    result.stdout.fnmatch_lines(["u.amigo.yaml:1: xshared: unknown key 'xshared'"])


@pytest.mark.parametrize("layout", ["store is a folder", "parent is a file"])
def test_an_unusable_store_path_is_a_usage_error_before_any_conversation(
    suite: Suite, layout: str
) -> None:
    suite.standard()
    suite.scripted({"judge": ["{}"]})
    suite.unit_test()
    if layout == "store is a folder":
        (suite.path / "results").mkdir()
        store = "results"
    else:
        (suite.path / "afile").write_text("x")
        store = "afile/results.sqlite3"
    result = suite.pytester.runpytest(
        "--amigo-store", store, "--amigo-judge-model", "scripted/judge"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*the results store *{store.split('/')[0]}* *"])
    assert suite.calls() == []
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


DISK_FULL = """
import sqlite3
from pytest_amigo_metrics.store import Store

def pytest_configure(config):
    def save_outcome(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")
    Store.save_outcome = save_outcome
"""


def test_a_store_failing_during_the_run_is_one_error_per_test_and_counted(suite: Suite) -> None:
    suite.standard()
    suite.write("conftest.py", DISK_FULL)
    suite.unit_test(file="a.amigo.yaml", name="a", runs=2)
    suite.unit_test(file="b.amigo.yaml", name="b")
    result = suite.pytester.runpytest_subprocess()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "simulation unit test 'a' ran, but its 2 results were not stored: results not stored "
            "in *results.sqlite3 (OperationalError: database or disk is full)*",
            "ERROR *a.amigo.yaml::a*",
            "        error: results not stored in *results.sqlite3 (OperationalError: database or "
            "disk is full)",
            "warning: 3 results could not be stored in *results.sqlite3",
        ]
    )
    suite.assert_store_intact()


def test_an_error_nothing_foresaw_ends_the_run_in_error_and_is_stored(suite: Suite) -> None:
    suite.standard()
    suite.write(
        "conftest.py",
        "from pytest_amigo_metrics.verdicts.judge import LocalJudge\n\n"
        "async def broken(self, metrics, transcript, up_to_turn=None):\n"
        "    raise RuntimeError('a case nobody handled')\n\n"
        "LocalJudge.evaluate_all = broken\n",
    )
    suite.unit_test()
    result = suite.pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*run 0: error: unexpected RuntimeError: a case nobody handled (not a quality failure*"]
    )
    assert "INTERNALERROR" not in result.stdout.str()
    assert [row["outcome"] for row in suite.rows("SELECT outcome FROM test_outcomes")] == ["error"]


SURROGATES = """
def respond(messages):
    # Half an emoji: what a reply cut inside a character looks like once decoded.
    return "I apologise and acknowledge the frustration \\ud83d; let me reassure you. Resolved."
"""


@pytest.mark.parametrize("xdist", [(), ("-p", "xdist", "-n", "2")])
def test_half_a_character_in_a_reply_is_replaced_and_every_report_is_written(
    suite: Suite, xdist: tuple[str, ...]
) -> None:
    suite.standard()
    suite.write("agent.py", SURROGATES)
    suite.unit_test()
    result = suite.pytester.runpytest_subprocess(
        "--amigo-json=out.json", "--amigo-html=out.html", "--junitxml=out.xml", *xdist
    )
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    report = json.loads((suite.path / "out.json").read_text(encoding="utf-8"))
    (run,) = report["tests"][0]["runs"]
    assert "frustration \ufffd; let me" in run["messages"][1]["content"]
    assert "\ufffd" in (suite.path / "out.html").read_text(encoding="utf-8")
    stored = suite.rows("SELECT messages FROM conversations")[0]["messages"]
    assert "\\ufffd" in stored or "\ufffd" in stored


def test_an_agent_logging_with_arguments_that_do_not_fit_keeps_its_run(suite: Suite) -> None:
    suite.standard()
    suite.write(
        "agent.py",
        "import logging\ndef respond(messages):\n"
        "    logging.getLogger('agent').warning('%s and %s', 'one')\n"
        "    return 'I apologise and acknowledge the frustration; let me reassure you.'\n",
    )
    suite.unit_test()
    result = suite.pytester.runpytest("-rA")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*%s and %s (arguments that do not fit: ('one',))*"])
