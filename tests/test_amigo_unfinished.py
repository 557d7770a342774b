"""A conversation is never left unfinished: the Amigo API allows one unfinished conversation per
user, so one left open would refuse every later run. Faults injected in the fake Amigo API,
suites run as users run them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from conftest import METRICS, Suite

pytest.importorskip("amigo_sdk")

from amigo_sdk.generated.model import (
    ConversationCreateConversationRequest,
    CreateConversationParametersQuery,
)

from pytest_amigo_metrics.amigo.finishing import CLOSING_MESSAGE
from pytest_amigo_metrics.retry_after import retry_after_seconds
from pytest_amigo_metrics.testing import FakeAmigoAPI

TEST = """
  - name: {name}
    persona: {{name: Sam, background: A busy customer.}}
    scenario: {{name: Reset, objective: Reset my password., instructions: Be brief.}}
    script: ["I forgot my password.", "Thanks."]
    target: {{amigo: {{service_id: "{service_id}", version_set: release}}}}
    runs: {runs}
    metrics:
      - {{metric: Empathy Score, expect: ">= 7"}}
"""
CARING = "I apologise and acknowledge the frustration; let me reassure you. This is resolved."
FAST = ("--amigo-rate-window", "1", "--amigo-retry-base-delay", "0.01")


@pytest.fixture
def fake() -> FakeAmigoAPI:
    return FakeAmigoAPI(rate_window=1.0)


def write_suite(suite: Suite, fake: FakeAmigoAPI, tests: int = 3, runs: int = 1) -> str:
    suite.write("metrics.amigo.yaml", METRICS)
    service = fake.add_service(reply=lambda history: CARING)
    body = "".join(
        TEST.format(name=f"t{i}", service_id=service.id, runs=runs) for i in range(tests)
    )
    suite.write("amigo.amigo.yaml", "simulation_unit_tests:" + body)
    return service.id


def run(suite: Suite, fake: FakeAmigoAPI, *args: str) -> pytest.RunResult:
    return suite.pytester.runpytest("-v", *FAST, *args, plugins=[fake.plugin()])


def all_finished(fake: FakeAmigoAPI) -> bool:
    return all(c.finished for c in fake.org.conversations.values())


def test_a_finish_that_fails_once_is_retried(suite: Suite, fake: FakeAmigoAPI) -> None:
    write_suite(suite, fake, tests=1, runs=3)
    fake.fail("finish-conversation", 500)
    run(suite, fake).assert_outcomes(passed=1)
    assert len(fake.org.conversations) == 3 and all_finished(fake)
    assert [r.status for r in fake.calls("finish-conversation")] == [500, 204, 204, 204]


def test_a_finish_answered_429_waits_for_retry_after(suite: Suite, fake: FakeAmigoAPI) -> None:
    write_suite(suite, fake, tests=1)
    fake.fail("finish-conversation", 429, retry_after=0)
    run(suite, fake).assert_outcomes(passed=1)
    assert [r.status for r in fake.calls("finish-conversation")] == [429, 204]


@pytest.mark.parametrize("statuses", [(422,), (500, 500), (503, 503)], ids=["422", "500", "503"])
def test_a_finish_that_fails_for_good_errors_one_run_and_no_later_one(
    suite: Suite, fake: FakeAmigoAPI, statuses: tuple[int, ...]
) -> None:
    write_suite(suite, fake, tests=3, runs=3)  # 9 runs; the first finish fails past retries
    fake.fail("finish-conversation", *statuses)
    result = run(suite, fake, "--amigo-retry-attempts", "2", "--amigo-concurrency", "1")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        ["*could not be evaluated: 1 of 3 runs ended in error*", f"*finish/: HTTP {statuses[0]}: *"]
    )
    assert len(fake.org.conversations) == 9 and all_finished(fake)
    # The conversation left open was found and finished before the next one was created.
    endpoints = [r.endpoint for r in fake.requests]
    failed = max(i for i, r in enumerate(fake.requests) if r.status == statuses[0])
    following = endpoints[failed + 1 :]
    assert following[:2] == ["get-conversations", "finish-conversation"]
    assert following.index("finish-conversation") < following.index("create-conversation")


def test_a_conversation_left_open_by_an_earlier_session_is_finished_first(
    suite: Suite, fake: FakeAmigoAPI
) -> None:
    service_id = write_suite(suite, fake, tests=1)
    left_open = open_conversation(fake, service_id)
    run(suite, fake).assert_outcomes(passed=1)
    assert fake.org.conversations[left_open].finished
    assert len(fake.org.conversations) == 2 and all_finished(fake)


def open_conversation(fake: FakeAmigoAPI, service_id: str) -> str:
    """A conversation of the test user that an earlier, killed session left unfinished."""
    from amigo_sdk import AmigoClient

    with fake.serve_sdk(), AmigoClient(**fake.sdk_kwargs()) as client:
        events = list(
            client.conversations.create_conversation(
                ConversationCreateConversationRequest(service_id=service_id),
                CreateConversationParametersQuery(response_format="text"),  # type: ignore[arg-type]
            )
        )
    fake.requests.clear()
    return str(events[0].root.conversation_id)


def test_runs_go_on_when_the_key_may_not_list_conversations(
    suite: Suite, fake: FakeAmigoAPI
) -> None:
    write_suite(suite, fake, tests=1, runs=2)
    fake.fail("get-conversations", 403, 403)
    run(suite, fake).assert_outcomes(passed=1)
    assert len(fake.org.conversations) == 2 and all_finished(fake)


def test_a_finish_conflict_checks_whether_the_conversation_is_finished(
    suite: Suite, fake: FakeAmigoAPI
) -> None:
    write_suite(suite, fake, tests=1)
    fake.fail("finish-conversation", 409)  # a related operation in progress
    run(suite, fake).assert_outcomes(passed=1)
    assert [r.status for r in fake.calls("finish-conversation")] == [409, 204]
    assert all_finished(fake)


@pytest.mark.parametrize(
    ("endpoint", "after"),
    [("create-conversation", 1), ("create-conversation", 3), ("interact-with-conversation", 2)],
)
def test_a_stream_that_breaks_still_finishes_its_conversation(
    suite: Suite, fake: FakeAmigoAPI, endpoint: str, after: int
) -> None:
    write_suite(suite, fake, tests=2)
    fake.cut_stream(endpoint, after=after)
    result = run(suite, fake, "--amigo-concurrency", "1")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*the request did not complete (RemoteProtocolError: *"])
    assert len(fake.org.conversations) == 2 and all_finished(fake)
    # The broken stream was not sent again: that would have started a second conversation.
    assert len(fake.calls(endpoint)) == (2 if endpoint == "create-conversation" else 3)


def test_an_error_event_before_the_conversation_keeps_its_status_and_message(
    suite: Suite, fake: FakeAmigoAPI
) -> None:
    write_suite(suite, fake, tests=1)
    fake.stream_error("create-conversation", 403, "The service is disabled for this user.")
    result = run(suite, fake)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*POST /v1/*/conversation/: HTTP 403: missing required permissions*"
            "(The service is disabled for this user.)*"
        ]
    )
    assert "streamed no conversation id" not in result.stdout.str()
    assert fake.org.conversations == {}


def test_a_first_turn_that_fails_leaves_no_conversation_open(
    suite: Suite, fake: FakeAmigoAPI
) -> None:
    calls = []

    def greets_badly_once(history: list[dict[str, str]]) -> str:
        calls.append(history)
        if len(calls) == 1:
            raise RuntimeError("the greeting failed")
        return CARING

    suite.write("metrics.amigo.yaml", METRICS)
    service = fake.add_service(reply=greets_badly_once)
    body = "".join(TEST.format(name=f"t{i}", service_id=service.id, runs=1) for i in range(2))
    suite.write("amigo.amigo.yaml", "simulation_unit_tests:" + body)
    result = run(suite, fake, "--amigo-concurrency", "1")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*conversation/: HTTP 500: *the greeting failed*"])
    first = next(iter(fake.org.conversations.values()))
    # The API refuses to finish a conversation with no interactions: it was given one.
    assert [m.message for m in first.messages] == [CLOSING_MESSAGE, CARING]
    assert len(fake.org.conversations) == 2 and all_finished(fake)


@pytest.mark.parametrize("timeout", ["--amigo-turn-timeout", "--amigo-conversation-timeout"])
def test_a_run_that_times_out_finishes_its_conversation(
    suite: Suite, fake: FakeAmigoAPI, timeout: str
) -> None:
    suite.write("metrics.amigo.yaml", METRICS)
    service = fake.add_service(reply=lambda history: CARING, latency=0.4)
    body = "".join(TEST.format(name=f"t{i}", service_id=service.id, runs=1) for i in range(2))
    suite.write("amigo.amigo.yaml", "simulation_unit_tests:" + body)
    result = run(suite, fake, timeout, "1", "--amigo-concurrency", "1")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([f"run 0: *1 s ({timeout})*"])
    # Both runs created a conversation: the first one's was finished when it timed out.
    assert len(fake.org.conversations) == 2 and all_finished(fake)


def test_stream_retries_honour_retry_after(suite: Suite, fake: FakeAmigoAPI) -> None:
    write_suite(suite, fake, tests=1)
    fake.fail("create-conversation", 429, retry_after=1)
    fake.fail("interact-with-conversation", 503, retry_after=1)
    result = run(suite, fake, "--junitxml=out.xml")
    result.assert_outcomes(passed=1)
    waited = [
        float(p.get("value", "0"))
        for p in ET.parse(suite.path / "out.xml").iter("property")
        if p.get("name") == "amigo.rate_limit_wait_seconds"
    ]
    # Without Retry-After the backoff would have waited 0.01 s twice.
    assert waited and waited[0] >= 2.0


def test_retry_after_as_seconds_or_an_http_date() -> None:
    assert retry_after_seconds("20") == 20.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert retry_after_seconds("Fri, 01 Jan 2100 00:00:00 GMT") > 10**8
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


XDIST_CONFTEST = """
import json, os, pathlib
from pytest_amigo_metrics.testing import FakeAmigoAPI

HERE = pathlib.Path(__file__).parent
REPLY = "I apologise and acknowledge the frustration; let me reassure you. This is resolved."
fake = FakeAmigoAPI(organization_id="{org}", user_id="{user}", api_key_id="{key_id}",
                    api_key="{key}", rate_window=1.0)
fake.add_service("{service}", reply=lambda history: REPLY)
fake.fail("finish-conversation", 422)  # in every process: its first finish fails

def pytest_configure(config):
    config.pluginmanager.register(fake.plugin())

def pytest_sessionfinish(session):  # a worker's, before it reports back: never cut short
    states = [c.finished for c in fake.org.conversations.values()]
    (HERE / f"finished-{{os.getpid()}}.json").write_text(json.dumps(states))
"""


def test_under_xdist_a_failed_finish_does_not_cascade(suite: Suite, fake: FakeAmigoAPI) -> None:
    suite.write("metrics.amigo.yaml", METRICS)
    service = "c" * 24
    body = "".join(TEST.format(name=f"t{i}", service_id=service, runs=1) for i in range(6))
    suite.write("amigo.amigo.yaml", "simulation_unit_tests:" + body)
    suite.write(
        "conftest.py",
        XDIST_CONFTEST.format(
            org=fake.organization_id,
            user=fake.user_id,
            key_id=fake.api_key_id,
            key=fake.api_key,
            service=service,
        ),
    )
    result = suite.pytester.runpytest_subprocess("-p", "xdist", "-n", "2", *FAST)
    # At most one failed finish per worker, each one error; every later run passes.
    outcomes = result.parseoutcomes()
    assert 1 <= outcomes.get("errors", 0) <= 2
    assert outcomes.get("passed", 0) + outcomes["errors"] == 6
    states = [s for p in suite.path.glob("finished-*.json") for s in json.loads(p.read_text())]
    assert len(states) == 6 and all(states)
