"""Record and replay: model calls written beside the suite, replayed with no call at all."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from openai_server import openai_server

from conftest import Suite
from pytest_amigo_metrics.models import recording
from pytest_amigo_metrics.models.recording import recording_path
from pytest_amigo_metrics.redact import redact

API_KEY = "sk-test-" + "k3y" * 8  # the provider key the session runs with
SERVICE_TOKEN = "s3rvice-t0ken-value"  # a secret-looking environment value
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzYW0ifQ.c2lnbmF0dXJlLXZhbHVl"

SERVED_SUITE = """
simulation_unit_tests:
  - name: served by a local server
    persona: {{name: Sam, background: A busy customer.}}
    scenario: {{name: Reset, objective: Reset my password., instructions: Be brief.}}
    target: {{model: openai/my-agent, api_base: "{url}"}}
    models:
      simulator: {{model: openai/sim, api_base: "{url}"}}
      judge: {{model: openai/judge, api_base: "{url}"}}
    runs: 3
    min_pass_rate: 0.6
    metrics: [{{metric: Empathy Score, expect: ">= 6"}}]
"""

SCRIPTED_TEST = """
  - name: {name}
    persona: {{name: Sam, background: {background}}}
    scenario: {{name: Reset, objective: Reset my password., instructions: Be brief.}}
    target: {{python: "agent:respond"}}
    models: {{simulator: scripted/sim, judge: scripted/judge}}
    max_turns: 2
    runs: {runs}
    metrics: [{{metric: Empathy Score, expect: ">= 5"}}]
"""

USER_TURN = json.dumps({"action": "send", "message": "I forgot my password."})
VERDICT = json.dumps({"value": 8, "justification": "Warm.", "references": []})

LEAKY_AGENT = f"""
import os

def respond(messages):
    return ("Your key is " + os.environ["OPENAI_API_KEY"] + ", the token "
            + os.environ["BILLING_SERVICE_TOKEN"] + " and the session {JWT}; Authorization: "
            "Bearer " + os.environ["BILLING_SERVICE_TOKEN"] + ". I apologise.")
"""


@pytest.fixture(autouse=True)
def secrets_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("BILLING_SERVICE_TOKEN", SERVICE_TOKEN)
    monkeypatch.delenv("AMIGO_METRICS_RECORD_MODE", raising=False)


def serve(body: dict[str, Any]) -> str:
    """Simulator, agent and judge on one server; the agent and the judge answer differently
    on every call, so only a replay gives the same answers again."""
    if body["model"] == "sim":
        if any(m["role"] == "assistant" for m in body["messages"]):
            return json.dumps({"action": "objective_reached", "message": ""})
        return json.dumps({"action": "send", "message": f"Hello, run {body['seed']} here."})
    if body["model"] == "my-agent":
        return f"I apologise; it is reset (ticket {uuid.uuid4()})."
    payload = json.loads(body["messages"][-1]["content"])
    first = payload["conversation"][0]
    run = int(re.findall(r"run (\d+)", first["content"])[0])
    return json.dumps(
        {
            "value": 4 + 2 * run,
            "justification": f"Apologised (review {uuid.uuid4()}).",
            "references": [first["id"]],
        }
    )


def results(suite: Suite, run_id: str) -> list[tuple[Any, ...]]:
    rows = suite.rows(
        "SELECT run_index, metric_id, result, justification FROM evaluation_results"
        " WHERE simulation_unit_test_set_run_id = ? ORDER BY run_index, metric_id",
        run_id,
    )
    return [tuple(r) for r in rows]


def stored(suite: Suite, run_id: str) -> list[tuple[Any, ...]]:
    """The results and the conversations' texts of a session."""
    conversations = suite.rows(
        "SELECT run_index, messages FROM conversations"
        " WHERE simulation_unit_test_set_run_id = ? ORDER BY run_index",
        run_id,
    )
    contents = [
        (c["run_index"], [m["content"] for m in json.loads(c["messages"])]) for c in conversations
    ]
    return results(suite, run_id) + contents


def session_run_id(output: str) -> str:
    return re.findall(r"simulation unit test set run ([0-9a-f]{24})", output)[-1]


def recordings(root: Path) -> list[Path]:
    return sorted(root.glob("**/__amigo_recordings__/**/*.json"))


def scripted_suite(suite: Suite, tests: dict[str, str], runs: int = 1) -> None:
    suite.standard()
    suite.scripted({"sim": [USER_TURN], "judge": [VERDICT]})
    body = "".join(
        SCRIPTED_TEST.format(name=name, background=background, runs=runs)
        for name, background in tests.items()
    )
    suite.write("tests.amigo.yaml", "simulation_unit_tests:" + body)


def test_a_replay_gives_the_recorded_verdicts_with_the_server_stopped(suite: Suite) -> None:
    suite.standard()
    with openai_server(serve) as server:
        suite.write("served.amigo.yaml", SERVED_SUITE.format(url=server.url))
        recorded = suite.pytester.runpytest("--amigo-record-mode", "record")
        live_calls = len(server.requests)
    recorded.assert_outcomes(passed=1)
    assert live_calls == 3 * 4  # per run: 2 simulator turns, 1 agent reply, 1 judge call
    [recording] = recordings(suite.path)
    assert recording.parent == suite.path / "__amigo_recordings__" / "served.amigo"
    runs = [c["run"] for c in json.loads(recording.read_text())["model_calls"]]
    assert sorted(set(runs)) == [0, 1, 2]

    replayed = suite.pytester.runpytest("--amigo-record-mode", "replay", "--junitxml=r.xml")

    replayed.assert_outcomes(passed=1)
    assert len(server.requests) == live_calls  # and the server is gone: a call would fail
    recorded.stdout.fnmatch_lines(["*calls: recorded (12 calls) (--amigo-record-mode)"])
    replayed.stdout.fnmatch_lines(["*calls: replayed (12 calls) (--amigo-record-mode)"])
    first, again = session_run_id(recorded.stdout.str()), session_run_id(replayed.stdout.str())
    assert first != again
    assert stored(suite, again) == stored(suite, first)
    assert [r[2] for r in results(suite, again)] == ["4", "6", "8"]  # three conversations
    assert (
        'name="amigo.recording" value="replayed (12 calls)"' in (suite.path / "r.xml").read_text()
    )


SECRET_ANSWERS_SUITE = """
simulation_unit_tests:
  - name: answers holding secrets
    persona: {{name: Sam, background: A developer whose API key fails.}}
    scenario: {{name: Key, objective: Get my key working., instructions: Be brief.}}
    target: {{model: openai/my-agent, api_base: "{url}"}}
    models:
      simulator: {{model: openai/sim, api_base: "{url}"}}
      judge: {{model: openai/judge, api_base: "{url}"}}
    max_turns: 3
    runs: 2
    min_pass_rate: 0.5
    metrics: [{{metric: Empathy Score, expect: ">= 6"}}]
"""
PROVIDER_KEY = "sk-proj-EXAMPLEKEY0000"  # a secret-looking string, in no environment variable


def serve_secrets(body: dict[str, Any]) -> str:
    """The simulator quotes a provider key, then the session's service token; the agent
    answers with a key of its own; both go back into the next requests. The agent and the
    judge answer differently on every call, so only a replay gives the same answers again."""
    if body["model"] == "sim":
        turns = sum(m["role"] == "assistant" for m in body["messages"])
        if turns == 0:
            return json.dumps({"action": "send", "message": f"my key {PROVIDER_KEY} fails"})
        if turns == 1:
            message = f"the token {SERVICE_TOKEN} fails too (run {body['seed']})"
            return json.dumps({"action": "send", "message": message})
        return json.dumps({"action": "objective_reached", "message": ""})
    if body["model"] == "my-agent":
        return f"Sorry! Run: export OPENAI_API_KEY=sk-your-key-here (ticket {uuid.uuid4()})"
    payload = json.loads(body["messages"][-1]["content"])
    second = payload["conversation"][2]
    run = int(re.findall(r"run (\d+)", second["content"])[0])
    return json.dumps(
        {
            "value": 5 + 2 * run,
            "justification": f"Apologised (review {uuid.uuid4()}).",
            "references": [second["id"]],
        }
    )


def test_answers_holding_secrets_replay_what_was_recorded(suite: Suite) -> None:
    """Answers are written with their secrets masked; a replayed conversation holds the
    masked text, and its later calls are still found."""
    suite.standard()
    with openai_server(serve_secrets) as server:
        suite.write("served.amigo.yaml", SECRET_ANSWERS_SUITE.format(url=server.url))
        recorded = suite.pytester.runpytest("--amigo-record-mode", "record")
        live_calls = len(server.requests)
    recorded.assert_outcomes(passed=1)
    assert live_calls == 2 * 6  # per run: 3 simulator turns, 2 agent replies, 1 judge call
    [recording] = recordings(suite.path)
    text = recording.read_text()
    for secret in (PROVIDER_KEY, SERVICE_TOKEN, "sk-your-key-here"):
        assert secret not in text
    masked = redact(f"my key {PROVIDER_KEY} fails")
    assert "***" in masked and masked in text

    replayed = suite.pytester.runpytest("--amigo-record-mode", "replay")

    replayed.assert_outcomes(passed=1)
    replayed.stdout.fnmatch_lines(["*calls: replayed (12 calls) (--amigo-record-mode)"])
    first, again = session_run_id(recorded.stdout.str()), session_run_id(replayed.stdout.str())
    assert stored(suite, again) == stored(suite, first)  # verdicts and conversations
    assert [r[2] for r in results(suite, again)] == ["5", "7"]
    [conversation, *_] = suite.rows(
        "SELECT messages FROM conversations WHERE simulation_unit_test_set_run_id = ?", again
    )
    contents = [m["content"] for m in json.loads(conversation["messages"])]
    assert contents[0] == masked  # what the recording holds
    assert contents[1].startswith(redact("Sorry! Run: export OPENAI_API_KEY=sk-your-key-here"))
    assert contents[2] == redact(f"the token {SERVICE_TOKEN} fails too (run 0)")


def test_a_replayed_judge_cites_the_messages_of_the_replayed_conversation(suite: Suite) -> None:
    suite.standard()
    with openai_server(serve) as server:
        suite.write("served.amigo.yaml", SERVED_SUITE.format(url=server.url))
        suite.pytester.runpytest("--amigo-record-mode", "record").assert_outcomes(passed=1)
    [recording] = recordings(suite.path)
    text = recording.read_text()
    assert '"references": ["<id-1>"]' in text.replace('\\"', '"')
    assert not re.search(r"\b[0-9a-f]{24}\b", text)  # random ids never churn the file

    result = suite.pytester.runpytest("--amigo-record-mode", "replay")

    result.assert_outcomes(passed=1)
    run_id = session_run_id(result.stdout.str())
    sources = suite.rows(
        "SELECT e.source, c.messages FROM evaluation_results e JOIN conversations c"
        " ON c.run_index = e.run_index AND c.simulation_unit_test_set_run_id ="
        " e.simulation_unit_test_set_run_id WHERE e.simulation_unit_test_set_run_id = ?",
        run_id,
    )
    assert len(sources) == 3
    for source, messages in sources:
        first_user_message = json.loads(messages)[0]["id"]
        assert first_user_message in source


def test_a_replay_miss_is_an_error_naming_test_run_and_request_never_a_live_call(
    suite: Suite,
) -> None:
    scripted_suite(suite, {"reset": "A busy customer."})
    suite.pytester.runpytest("--amigo-record-mode", "record").assert_outcomes(passed=1)
    calls = len(suite.calls())
    scripted_suite(suite, {"reset": "A patient customer."})

    result = suite.pytester.runpytest("--amigo-record-mode", "replay")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*run 0: user turn 1: no recording of this simulator call (--amigo-record-mode "
            "replay): test 'reset' in tests.amigo.yaml, run 0, model 'scripted/sim', "
            "2 messages, request *; recordings: *__amigo_recordings__*tests.amigo*reset.*.json",
            "*nearest recorded simulator call (run 0): messages[[]0[]] recorded *busy customer*"
            "now *patient customer*",
            "*fix: record the missing calls with --amigo-record-mode new*",
        ]
    )
    assert "not a quality failure" in result.stdout.str()
    assert len(suite.calls()) == calls


def test_replay_without_recordings_names_the_missing_file(suite: Suite) -> None:
    scripted_suite(suite, {"reset": "A busy customer."})

    result = suite.pytester.runpytest("--amigo-record-mode", "replay")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*no recording of this simulator call*there is no recording file *reset.*.json*"]
    )
    assert suite.calls() == []


def test_a_damaged_recording_file_is_named_in_the_error(suite: Suite) -> None:
    scripted_suite(suite, {"reset": "A busy customer."})
    suite.pytester.runpytest("--amigo-record-mode", "record").assert_outcomes(passed=1)
    [recording] = recordings(suite.path)
    recording.write_text(recording.read_text().replace('"run": 0', '"run": "first"', 1))

    result = suite.pytester.runpytest("--amigo-record-mode", "replay")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*no recording of this simulator call*reset.*.json is not a recording file: "
            "model_calls.0.run: Input should be a valid integer*",
            "    fix: repair the file*or record the test again with --amigo-record-mode record",
        ]
    )


def test_a_recording_that_is_not_text_or_not_a_file_is_named_in_the_error(suite: Suite) -> None:
    scripted_suite(suite, {"reset": "A busy customer."})
    suite.pytester.runpytest("--amigo-record-mode", "record").assert_outcomes(passed=1)
    [recording] = recordings(suite.path)
    recording.write_bytes(b"\xa5\x00\xff binary garbage")

    for mode in ("replay", "new"):
        result = suite.pytester.runpytest("--amigo-record-mode", mode)
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(["*reset.*.json is not a recording file: not UTF-8 text*"])
        assert "UnicodeDecodeError" not in result.stdout.str()
    assert recording.read_bytes() == b"\xa5\x00\xff binary garbage"

    suite.pytester.runpytest("--amigo-record-mode", "record").assert_outcomes(passed=1)
    assert json.loads(recording.read_text())["test"] == "reset"  # recorded over it

    recording.unlink()
    recording.mkdir()
    result = suite.pytester.runpytest("--amigo-record-mode", "replay")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the recording file *reset.*.json cannot be read (Is a dir*"])


def test_a_recording_that_cannot_be_written_is_an_error_and_the_results_are_stored(
    suite: Suite,
) -> None:
    scripted_suite(suite, {"reset": "A busy customer."})
    (suite.path / recording.DIRECTORY).write_text("a file where the recordings' folder goes")

    result = suite.pytester.runpytest("--amigo-record-mode", "record")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*simulation unit test 'reset' ran and its results are stored, but recording not "
            "written to *reset.*.json (*) (infrastructure, not a quality failure)*",
            "ERROR *reset*",
            "        error: recording not written to *reset.*.json*",
        ]
    )
    assert "results were not stored" not in result.stdout.str()
    assert "could not be stored" not in result.stdout.str()
    assert len(suite.rows("SELECT * FROM evaluation_results")) == 1


def test_a_recording_error_keeps_the_tests_quality_failure_in_its_report(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(name="cold", script='["you are cold"]')
    (suite.path / recording.DIRECTORY).write_text("a file where the recordings' folder goes")

    result = suite.pytester.runpytest("--amigo-record-mode", "record", "--amigo-json", "r.json")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*simulation unit test 'cold' ran and its results are stored, but recording not "
            "written to *",
            "simulation unit test 'cold' failed: 0 of 1 run met every expectation*",
        ]
    )
    report = json.loads((suite.path / "r.json").read_text())
    assert report["tests"][0]["error"].startswith("recording not written to ")


def test_new_mode_never_writes_over_a_damaged_recording(suite: Suite) -> None:
    scripted_suite(suite, {"reset": "A busy customer."})
    suite.pytester.runpytest("--amigo-record-mode", "record").assert_outcomes(passed=1)
    [recording] = recordings(suite.path)
    damaged = recording.read_text()[:-200]  # a hand edit, or a file cut short
    recording.write_text(damaged)
    calls = len(suite.calls())

    result = suite.pytester.runpytest("--amigo-record-mode", "new")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*reset.*.json is not a recording file: *Invalid JSON*--amigo-record-mode new "
            "replays what a recording holds and would write over this one with live calls",
            "    fix: repair the file*",
        ]
    )
    assert recording.read_text() == damaged
    assert len(suite.calls()) == calls  # no live call


def test_test_names_that_slug_alike_get_their_own_files() -> None:
    suite_file = Path("/project/suites/support.amigo.yaml")
    first = recording_path(suite_file, "refund: over $100")
    second = recording_path(suite_file, "refund over 100")
    assert first.parent == Path("/project/suites/__amigo_recordings__/support.amigo")
    assert first.name.startswith("refund-over-100.") and second.name.startswith("refund-over-100.")
    assert first != second


def test_the_nearest_call_hint_says_more_often_only_for_a_recorded_request() -> None:
    request = recording.RecordedRequest(
        role="agent", model="openai/a", messages=[{"role": "user", "content": "my key ***"}]
    )
    response = recording.RecordedResponse(text="Hello.", model="openai/a")
    recorded = [recording.ModelCall(run=0, key="k1", request=request, response=response)]

    again = recording._nearest(request, "k1", 0, recorded)
    unseen = recording._nearest(request, "k2", 0, recorded)

    assert (
        again
        == "this agent request is recorded once in run 0: the call came more often than recorded"
    )
    assert "more often" not in unseen
    assert unseen.endswith("no difference shows in the recording file (it masks secrets as ***)")


def test_more_runs_in_replay_miss_only_the_new_runs(suite: Suite) -> None:
    scripted_suite(suite, {"reset": "A busy customer."}, runs=2)
    suite.pytester.runpytest("--amigo-record-mode", "record").assert_outcomes(passed=1)
    scripted_suite(suite, {"reset": "A busy customer."}, runs=3)

    result = suite.pytester.runpytest("--amigo-record-mode", "replay")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*run 2: user turn 1: no recording*run 2*"])
    assert "run 0: " not in result.stdout.str() and "run 1: " not in result.stdout.str()


def test_new_mode_records_only_the_edited_test(suite: Suite) -> None:
    scripted_suite(suite, {"reset": "A busy customer.", "refund": "A customer owed money."})
    suite.pytester.runpytest("--amigo-record-mode", "record").assert_outcomes(passed=2)
    before = {p.name: (p.read_text(), p.stat().st_mtime_ns) for p in recordings(suite.path)}
    calls = len(suite.calls())
    scripted_suite(suite, {"reset": "A busy customer.", "refund": "A customer owed $120."})

    result = suite.pytester.runpytest("--amigo-record-mode", "new", "--junitxml=n.xml")

    result.assert_outcomes(passed=2)
    after = {p.name: (p.read_text(), p.stat().st_mtime_ns) for p in recordings(suite.path)}
    assert after.keys() == before.keys()
    [reset] = [n for n in after if n.startswith("reset.")]
    [refund] = [n for n in after if n.startswith("refund.")]
    assert after[reset] == before[reset]  # not even rewritten
    assert "$120" in after[refund][0] and "owed money" not in after[refund][0]
    new_calls = suite.calls()[calls:]
    assert [c["model"] for c in new_calls] == ["sim", "sim"]  # the edited persona's turns
    junit = (suite.path / "n.xml").read_text()
    assert 'value="replayed (3 calls)"' in junit
    assert 'value="partly replayed (1 replayed, 2 recorded)"' in junit
    suite.pytester.runpytest("--amigo-record-mode", "replay").assert_outcomes(passed=2)


def test_recording_twice_gives_the_same_file(suite: Suite) -> None:
    scripted_suite(suite, {"reset": "A busy customer."}, runs=2)
    suite.pytester.runpytest("--amigo-record-mode", "record").assert_outcomes(passed=1)
    [first] = recordings(suite.path)
    text = first.read_text()
    data = json.loads(text)
    assert data["test"] == "reset" and data["suite"] == "tests.amigo.yaml"
    assert [(c["run"], c["request"]["role"]) for c in data["model_calls"]] == [
        (0, "simulator"),
        (0, "simulator"),
        (0, "judge"),
        (1, "simulator"),
        (1, "simulator"),
        (1, "judge"),
    ]

    suite.pytester.runpytest("--amigo-record-mode", "record").assert_outcomes(passed=1)

    assert first.read_text() == text


def test_recordings_hold_no_secrets(suite: Suite) -> None:
    scripted_suite(suite, {"leaky": "A busy customer."})
    suite.write("agent.py", LEAKY_AGENT)

    suite.pytester.runpytest("--amigo-record-mode", "record").assert_outcomes(passed=1)

    [recording] = recordings(suite.path)
    text = recording.read_text()
    assert "Your key is ***" in text
    for secret in (API_KEY, SERVICE_TOKEN, JWT, "Bearer s3rvice"):
        assert secret not in text
    suite.pytester.runpytest("--amigo-record-mode", "replay").assert_outcomes(passed=1)


def test_recordings_of_earlier_versions_still_replay(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Earlier versions keyed a request with its secrets unmasked (here, said by a `python:`
    agent, so said again in a replay): such recordings still replay."""
    scripted_suite(suite, {"leaky": "A busy customer."})
    suite.write("agent.py", LEAKY_AGENT)
    with monkeypatch.context() as earlier:
        earlier.setattr(recording, "_redacted", lambda request: request)
        suite.pytester.runpytest("--amigo-record-mode", "record").assert_outcomes(passed=1)
    [recorded] = recordings(suite.path)
    text = recorded.read_text()
    assert API_KEY not in text and SERVICE_TOKEN not in text
    calls = len(suite.calls())

    replayed = suite.pytester.runpytest("--amigo-record-mode", "replay")

    replayed.assert_outcomes(passed=1)
    replayed.stdout.fnmatch_lines(["*calls: replayed (3 calls) (--amigo-record-mode)"])
    assert len(suite.calls()) == calls
    suite.pytester.runpytest("--amigo-record-mode", "new").assert_outcomes(passed=1)
    assert recorded.read_text() == text  # replayed as it is, not written again


def test_off_is_the_default_and_writes_nothing(suite: Suite) -> None:
    scripted_suite(suite, {"reset": "A busy customer."})

    suite.pytester.runpytest().assert_outcomes(passed=1)
    suite.pytester.runpytest("--amigo-record-mode", "off").assert_outcomes(passed=1)

    assert recordings(suite.path) == []
    assert len(suite.calls()) == 2 * 3


@pytest.mark.parametrize("where", ["environment", "ini"])
def test_the_mode_comes_from_environment_or_ini(
    suite: Suite, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted_suite(suite, {"reset": "A busy customer."})
    suite.pytester.runpytest("--amigo-record-mode", "record").assert_outcomes(passed=1)
    calls = len(suite.calls())
    if where == "environment":
        monkeypatch.setenv("AMIGO_METRICS_RECORD_MODE", "replay")
    else:
        suite.write("pytest.ini", "[pytest]\namigo_record_mode = replay\n")

    suite.pytester.runpytest().assert_outcomes(passed=1)

    assert len(suite.calls()) == calls


def test_the_command_line_wins_over_the_environment(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted_suite(suite, {"reset": "A busy customer."})
    monkeypatch.setenv("AMIGO_METRICS_RECORD_MODE", "replay")

    suite.pytester.runpytest("--amigo-record-mode", "record").assert_outcomes(passed=1)

    assert len(recordings(suite.path)) == 1


@pytest.mark.parametrize(
    ("args", "env"), [(["--amigo-record-mode", "replya"], None), ([], "recording")]
)
def test_a_bad_mode_is_a_usage_error(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, args: list[str], env: str | None
) -> None:
    scripted_suite(suite, {"reset": "A busy customer."})
    if env:
        monkeypatch.setenv("AMIGO_METRICS_RECORD_MODE", env)

    result = suite.pytester.runpytest(*args)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"*--amigo-record-mode / AMIGO_METRICS_RECORD_MODE / ini amigo_record_mode: "
            f"'{args[-1] if args else env}' is not one of off, record, replay, new*"
        ]
    )
    assert suite.calls() == []


def test_replay_and_new_under_xdist(suite: Suite) -> None:
    scripted_suite(suite, {f"test {n}": f"Customer number {n}." for n in range(4)}, runs=2)
    suite.pytester.runpytest("--amigo-record-mode", "record").assert_outcomes(passed=4)
    calls = len(suite.calls())
    xdist = ("-p", "xdist", "-n", "2")

    replayed = suite.pytester.runpytest_subprocess(
        *xdist, "--amigo-record-mode", "replay", "--junitxml=x.xml"
    )

    replayed.assert_outcomes(passed=4)
    assert len(suite.calls()) == calls
    assert (suite.path / "x.xml").read_text().count('value="replayed (6 calls)"') == 4
    scripted_suite(suite, {f"test {n}": f"Customer number {n}." for n in range(5)}, runs=2)
    missing = suite.pytester.runpytest_subprocess(
        *xdist, "--amigo-record-mode", "new", "--junitxml=n.xml"
    )
    missing.assert_outcomes(passed=5)
    assert len(suite.calls()) == calls + 6  # only the added test's calls
    assert (suite.path / "n.xml").read_text().count('value="recorded (6 calls)"') == 1
    assert len(recordings(suite.path)) == 5
    assert not list(suite.path.glob("**/__amigo_recordings__/**/*.tmp"))


AMIGO_BACKEND = ("--amigo-backend", "amigo", "--amigo-judge", "amigo")


def amigo_project(suite: Suite, runs: int = 2, reply: Any = None) -> Any:
    pytest.importorskip("amigo_sdk")
    from test_amigo_suite import AMIGO_TEST, FAST, caring

    from conftest import METRICS
    from pytest_amigo_metrics.testing import FakeAmigoAPI

    fake = FakeAmigoAPI(rate_window=1.0)
    service = fake.add_service(reply=reply or caring)
    suite.write("metrics.amigo.yaml", METRICS)
    suite.write(
        "amigo.amigo.yaml", AMIGO_TEST.format(name="reset", service_id=service.id, runs=runs)
    )
    suite.write("pytest.ini", "[pytest]\naddopts = " + " ".join(FAST) + "\n")
    return fake


@pytest.mark.parametrize("backend", [(), AMIGO_BACKEND], ids=["local judge", "amigo judge"])
def test_amigo_calls_replay_with_no_call_and_no_credentials(
    suite: Suite, backend: tuple[str, ...]
) -> None:
    fake = amigo_project(suite)
    recorded = suite.pytester.runpytest(
        *backend, "--amigo-record-mode", "record", plugins=[fake.plugin()]
    )
    recorded.assert_outcomes(passed=1)
    served = len(fake.requests)
    assert served > 0
    replayed = suite.pytester.runpytest(
        *backend, "--amigo-record-mode", "replay", plugins=[fake.plugin()]
    )
    replayed.assert_outcomes(passed=1)
    assert len(fake.requests) == served  # not one request reached the API

    alone = suite.pytester.runpytest(*backend, "--amigo-record-mode", "replay")  # no AMIGO_* set

    alone.assert_outcomes(passed=1)
    first, again = session_run_id(recorded.stdout.str()), session_run_id(alone.stdout.str())
    assert len(results(suite, again)) == 4
    assert results(suite, again) == results(suite, first)
    conversations = suite.rows(
        "SELECT id FROM conversations WHERE simulation_unit_test_set_run_id = ?", again
    )
    assert {c["id"] for c in conversations} == set(fake.org.conversations)  # Amigo's own ids
    [recording] = (suite.path / "__amigo_recordings__" / "amigo.amigo").glob("*.json")
    calls = json.loads(recording.read_text())["http_calls"]
    endpoints = [c["endpoint"] for c in calls if c["run"] == 0]
    # leftovers of the test user are looked for (and the user written as {user}) first
    assert endpoints[:3] == [
        "get-conversations",
        "create-conversation",
        "interact-with-conversation",
    ]
    assert calls[0]["request"]["query"]["user_id"] == ["{user}"]
    assert {c["run"] for c in calls} == {0, 1}
    assert calls[1]["request"]["path"] == "/v1/{organization}/conversation/"
    assert calls[1]["response"]["events"][0]["type"] == "conversation-created"
    session_file = suite.path / "__amigo_recordings__" / "amigo-session.json"
    assert session_file.exists() == bool(backend)  # the metric sync, made outside any test


def leaky_amigo_agent(history: list[dict[str, str]]) -> str:
    from test_amigo_suite import CARING

    return f"{CARING} Your key {PROVIDER_KEY} and token {SERVICE_TOKEN} ({uuid.uuid4()})."


@pytest.mark.parametrize("backend", [(), AMIGO_BACKEND], ids=["local judge", "amigo judge"])
def test_amigo_answers_holding_secrets_replay_what_was_recorded(
    suite: Suite, backend: tuple[str, ...]
) -> None:
    """The Amigo agent's answers are written masked; the judge's requests, which quote them,
    are found in a replay."""
    fake = amigo_project(suite, reply=leaky_amigo_agent)
    recorded = suite.pytester.runpytest(
        *backend, "--amigo-record-mode", "record", plugins=[fake.plugin()]
    )
    recorded.assert_outcomes(passed=1)
    text = "\n".join(p.read_text() for p in recordings(suite.path))
    assert PROVIDER_KEY not in text and SERVICE_TOKEN not in text

    replayed = suite.pytester.runpytest(*backend, "--amigo-record-mode", "replay")

    replayed.assert_outcomes(passed=1)
    first, again = session_run_id(recorded.stdout.str()), session_run_id(replayed.stdout.str())
    assert len(results(suite, again)) == 4
    assert results(suite, again) == results(suite, first)


def test_amigo_recordings_hold_no_credentials(suite: Suite) -> None:
    fake = amigo_project(suite, runs=1)

    suite.pytester.runpytest(
        *AMIGO_BACKEND, "--amigo-record-mode", "record", plugins=[fake.plugin()]
    ).assert_outcomes(passed=1)

    text = "\n".join(p.read_text() for p in recordings(suite.path))
    assert "http_calls" in text
    for secret in (fake.api_key, "eyJ", "Bearer", "uthorization", "x-api-key"):
        assert secret not in text


def test_an_amigo_replay_miss_names_the_test_run_and_call(suite: Suite) -> None:
    fake = amigo_project(suite, runs=1)
    suite.pytester.runpytest("--amigo-record-mode", "record", plugins=[fake.plugin()])
    text = (suite.path / "amigo.amigo.yaml").read_text()
    suite.write("amigo.amigo.yaml", text.replace('"Thanks."', '"Thanks a lot."'))
    served = len(fake.requests)

    result = suite.pytester.runpytest("--amigo-record-mode", "replay", plugins=[fake.plugin()])

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*run 0: user turn 2: no recording of this Amigo API call (--amigo-record-mode "
            "replay): test 'reset' in amigo.amigo.yaml, run 0, POST "
            "/v1/{organization}/conversation/*/interact*recordings: *reset.*.json*"
        ]
    )
    assert len(fake.requests) == served


def test_new_mode_never_continues_a_replayed_amigo_conversation_live(suite: Suite) -> None:
    fake = amigo_project(suite, runs=1)
    suite.pytester.runpytest("--amigo-record-mode", "record", plugins=[fake.plugin()])
    text = (suite.path / "amigo.amigo.yaml").read_text()
    suite.write("amigo.amigo.yaml", text.replace('"Thanks."', '"Thanks a lot."'))

    result = suite.pytester.runpytest("--amigo-record-mode", "new", plugins=[fake.plugin()])

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*POST /v1/{organization}/conversation/*/interact is not recorded, and run 0 of test "
            "'reset' replayed its Amigo conversation up to here*",
            "*fix: record this test again as a whole: pytest --amigo-record-mode record "
            "'amigo.amigo.yaml::reset'",
        ]
    )
    again = suite.pytester.runpytest("--amigo-record-mode", "record", plugins=[fake.plugin()])
    again.assert_outcomes(passed=1)
    suite.pytester.runpytest("--amigo-record-mode", "replay").assert_outcomes(passed=1)


@pytest.mark.parametrize("status", [401, 503])
def test_answers_that_were_retried_are_not_recorded(suite: Suite, status: int) -> None:
    fake = amigo_project(suite, runs=1)
    fake.fail("interact-with-conversation", status)  # then it serves normally
    recorded = suite.pytester.runpytest("--amigo-record-mode", "record", plugins=[fake.plugin()])
    recorded.assert_outcomes(passed=1)
    [recording] = recordings(suite.path)
    statuses = [c["response"]["status"] for c in json.loads(recording.read_text())["http_calls"]]
    assert status not in statuses and set(statuses) <= {200, 204}

    replayed = suite.pytester.runpytest("--amigo-record-mode", "replay")  # signs in nowhere

    replayed.assert_outcomes(passed=1)


def test_a_replayed_judge_answer_edited_to_be_invalid_is_shown_as_the_cause(suite: Suite) -> None:
    scripted_suite(suite, {"reset": "A busy customer."})
    suite.pytester.runpytest("--amigo-record-mode", "record").assert_outcomes(passed=1)
    [recording] = recordings(suite.path)
    text = recording.read_text()
    assert text.count('\\"value\\": 8') == 1, text
    recording.write_text(text.replace('\\"value\\": 8', '\\"value\\": 11'))

    result = suite.pytester.runpytest("--amigo-record-mode", "replay")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*scripted/judge gave an invalid answer, and asking again failed:",
            "*attempt 1: value: 11 is outside the bounds [[]1, 10[]]",
            '*raw: {"value": 11, *',
            "*asking again: no recording of this judge call*",
        ]
    )
