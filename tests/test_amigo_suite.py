"""Suites against the fake Amigo API, run as users run them: the Amigo service as the agent
under test, metrics synced to the organization, the Amigo judge, and API failures reported as
errors, never as quality failures."""

from __future__ import annotations

import pytest

from conftest import METRICS, Suite

pytest.importorskip("amigo_sdk")

from pytest_amigo_metrics.testing import FakeAmigoAPI

AMIGO_TEST = """
simulation_unit_tests:
  - name: {name}
    persona: {{name: Sam, background: A busy customer.}}
    scenario: {{name: Reset, objective: Reset my password., instructions: Be brief.}}
    script: ["I forgot my password.", "Thanks."]
    target: {{amigo: {{service_id: "{service_id}", version_set: release}}}}
    runs: {runs}
    metrics:
      - {{metric: Empathy Score, expect: ">= 7"}}
      - {{metric: Outcome, expect: [resolved, escalated]}}
"""
CARING = "I apologise and acknowledge the frustration; let me reassure you. This is resolved."
FAST = ("--amigo-rate-window", "1", "--amigo-retry-base-delay", "0.01")


def caring(history: list[dict[str, str]]) -> str:
    return CARING


@pytest.fixture
def fake() -> FakeAmigoAPI:
    return FakeAmigoAPI(rate_window=1.0)


def amigo_suite(suite: Suite, fake: FakeAmigoAPI, runs: int = 1, name: str = "reset") -> str:
    suite.write("metrics.amigo.yaml", METRICS)
    service = fake.add_service(reply=caring)
    suite.write("amigo.amigo.yaml", AMIGO_TEST.format(name=name, service_id=service.id, runs=runs))
    return service.id


def run(suite: Suite, fake: FakeAmigoAPI, *args: str) -> pytest.RunResult:
    return suite.pytester.runpytest("-v", *FAST, *args, plugins=[fake.plugin()])


def test_amigo_service_converses_through_create_interact_finish(
    suite: Suite, fake: FakeAmigoAPI
) -> None:
    amigo_suite(suite, fake, runs=2)
    run(suite, fake).assert_outcomes(passed=1)
    endpoints = [r.endpoint for r in fake.requests]
    assert endpoints.count("create-conversation") == 2
    assert endpoints.count("interact-with-conversation") == 4  # one per scripted user turn
    assert endpoints.count("finish-conversation") == 2
    created = fake.calls("create-conversation")[0]
    assert created.body["is_test"] is True  # simulated traffic gets no post-session analysis
    assert all(c.finished for c in fake.org.conversations.values())


def test_transcript_and_stored_results_keep_amigo_ids(suite: Suite, fake: FakeAmigoAPI) -> None:
    amigo_suite(suite, fake)
    run(suite, fake).assert_outcomes(passed=1)
    (conversation,) = fake.org.conversations.values()
    (stored,) = suite.rows("SELECT id, messages FROM conversations")
    assert stored["id"] == conversation.id
    import json

    messages = json.loads(stored["messages"])
    assert [(m["id"], m["interaction_id"]) for m in messages] == [
        (m.id, m.interaction_id) for m in conversation.messages
    ]
    assert messages[0]["role"] == "agent"  # the service greets first
    amigo_ids = {m.id for m in conversation.messages}
    for row in suite.rows("SELECT source FROM evaluation_results"):
        assert set(json.loads(row["source"])["references"]) <= amigo_ids


def test_a_quality_failure_on_amigo_is_failed_not_error(suite: Suite, fake: FakeAmigoAPI) -> None:
    suite.write("metrics.amigo.yaml", METRICS)
    service = fake.add_service(reply=lambda history: "Fine. Done.")
    suite.write("a.amigo.yaml", AMIGO_TEST.format(name="cold", service_id=service.id, runs=1))
    result = run(suite, fake)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*FAIL Empathy Score v1 = 1; expected >= 7*"])


def test_missing_credentials_name_the_variables(
    suite: Suite, fake: FakeAmigoAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    amigo_suite(suite, fake)
    for name in fake.environ():
        monkeypatch.delenv(name, raising=False)
    result = suite.pytester.runpytest("-v")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "simulation unit test 'reset' could not start: the Amigo API needs credentials; "
            "set AMIGO_ORGANIZATION_ID*AMIGO_API_KEY_ID*AMIGO_API_KEY*"
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_wrong_api_key_is_a_401_error_that_never_shows_the_key(
    suite: Suite, fake: FakeAmigoAPI
) -> None:
    amigo_suite(suite, fake)
    plugin = fake.plugin()
    plugin.environ["AMIGO_API_KEY"] = "amigo-fake-rotated-0123456789abcdef"
    result = suite.pytester.runpytest("-v", *FAST, plugins=[plugin])
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*Amigo API POST /v1/*/user/signin_with_api_key: HTTP 401: invalid authorization*"]
    )
    assert "amigo-fake-rotated" not in result.stdout.str()


@pytest.mark.parametrize(
    ("endpoint", "status", "shown"),
    [
        ("create-conversation", 404, "the organization, service or version set is not found"),
        ("create-conversation", 400, "another unfinished conversation exists"),
        ("interact-with-conversation", 409, "the conversation is already finished"),
        ("finish-conversation", 404, "the organization or conversation is not found"),
        ("create-conversation", 403, "missing required permissions"),
    ],
)
def test_documented_statuses_become_clear_errors(
    suite: Suite, fake: FakeAmigoAPI, endpoint: str, status: int, shown: str
) -> None:
    amigo_suite(suite, fake)
    fake.fail(endpoint, status)
    result = run(suite, fake)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*Amigo API POST /v1/*: HTTP {status}: {shown}*"])


def test_503_is_retried_then_an_error_naming_endpoint_and_attempts(
    suite: Suite, fake: FakeAmigoAPI
) -> None:
    amigo_suite(suite, fake)
    fake.fail("create-conversation", 503, 503, 503)
    result = run(suite, fake, "--amigo-retry-attempts", "3")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*POST /v1/*/conversation/: HTTP 503: *maintenance; gave up after 3 attempts*"]
    )
    assert len(fake.calls("create-conversation")) == 3


def test_transient_statuses_recover_within_the_attempts(suite: Suite, fake: FakeAmigoAPI) -> None:
    amigo_suite(suite, fake)
    fake.fail("interact-with-conversation", 503)
    fake.fail("get-conversation-messages", 429, retry_after=0)
    run(suite, fake).assert_outcomes(passed=1)


def test_conversations_queue_for_the_rate_limit_and_the_report_says_so(
    suite: Suite, fake: FakeAmigoAPI
) -> None:
    amigo_suite(suite, fake, runs=6)  # 6 creations and 6 finishes: 5 per window allowed
    result = run(suite, fake, "--amigo-concurrency", "6", "--junitxml=out.xml")
    result.assert_outcomes(passed=1)
    assert all(r.status != 429 for r in fake.requests)  # queued client-side, never refused
    assert 'name="amigo.rate_limit_wait_seconds"' in (suite.path / "out.xml").read_text()
    result.stdout.fnmatch_lines(["*waited *s for the Amigo API's limits (*): queued, not failed"])


def test_error_event_in_the_stream_is_an_error(suite: Suite, fake: FakeAmigoAPI) -> None:
    def broken(history: list[dict[str, str]]) -> str:
        if len(history) > 1:
            raise RuntimeError("the service's tool crashed")
        return CARING

    suite.write("metrics.amigo.yaml", METRICS)
    service = fake.add_service(reply=broken)
    suite.write("a.amigo.yaml", AMIGO_TEST.format(name="broken", service_id=service.id, runs=1))
    result = run(suite, fake)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*interact: HTTP 500: *the service's tool crashed*"])
    assert all(c.finished for c in fake.org.conversations.values())  # the slot is freed


def test_a_service_that_ends_the_conversation_is_not_finished_again(
    suite: Suite, fake: FakeAmigoAPI
) -> None:
    suite.write("metrics.amigo.yaml", METRICS)
    service = fake.add_service(reply=caring, complete_after=1)
    suite.write("a.amigo.yaml", AMIGO_TEST.format(name="ends", service_id=service.id, runs=1))
    result = run(suite, fake)
    # The service ends the conversation after its greeting: no user turn is sent.
    result.assert_outcomes(passed=1)
    assert fake.calls("interact-with-conversation") == []
    assert fake.calls("finish-conversation") == []


def test_secrets_stay_out_of_reports_and_the_store(suite: Suite, fake: FakeAmigoAPI) -> None:
    amigo_suite(suite, fake)
    fake.fail("finish-conversation", 403)  # an error report, with the request's context
    result = run(suite, fake, "--junitxml=out.xml")
    result.assert_outcomes(errors=1)
    tokens = list(fake._tokens)
    assert tokens, "the SDK signed in"
    stored = b"".join(p.read_bytes() for p in suite.store.parent.iterdir())  # WAL included
    reports = result.stdout.str() + (suite.path / "out.xml").read_text() + stored.decode("latin-1")
    for secret in [fake.api_key, *tokens]:
        assert secret not in reports


def test_the_simulated_user_plays_its_persona_against_the_service(
    suite: Suite, fake: FakeAmigoAPI
) -> None:
    amigo_suite(suite, fake)
    text = (suite.path / "amigo.amigo.yaml").read_text()
    suite.write(
        "amigo.amigo.yaml",
        text.replace('    script: ["I forgot my password.", "Thanks."]\n', "    max_turns: 3\n"),
    )
    run(suite, fake).assert_outcomes(passed=1)
    (conversation,) = fake.org.conversations.values()
    users = [m.message for m in conversation.messages if m.message_type == "user-message"]
    assert 1 <= len(users) <= 3
    assert conversation.messages[0].message_type == "agent-message"  # the greeting came first


def test_a_failed_greeting_still_frees_the_conversation_for_the_next_run(
    suite: Suite, fake: FakeAmigoAPI
) -> None:
    def broken(history: list[dict[str, str]]) -> str:
        raise RuntimeError("the greeting failed")

    suite.write("metrics.amigo.yaml", METRICS)
    service = fake.add_service(reply=broken)
    suite.write("a.amigo.yaml", AMIGO_TEST.format(name="greeting", service_id=service.id, runs=2))
    result = run(suite, fake, "--amigo-concurrency", "1")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "run 0: *conversation/: HTTP 500: *the greeting failed*",
            "run 1: *HTTP 500: *the greeting failed*",
        ]
    )
    assert len(fake.org.conversations) == 2
    assert all(c.finished for c in fake.org.conversations.values())
