"""Metrics and results in the Amigo organization (--amigo-backend amigo) and the Amigo judge
(--amigo-judge amigo), against the fake Amigo API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import METRICS, Suite

pytest.importorskip("amigo_sdk")

from test_amigo_suite import AMIGO_TEST, FAST, caring

from pytest_amigo_metrics import once
from pytest_amigo_metrics.temp_state import shared_directory
from pytest_amigo_metrics.testing import FakeAmigoAPI, FakeMessage

AMIGO = ("--amigo-backend", "amigo")


@pytest.fixture
def fake() -> FakeAmigoAPI:
    return FakeAmigoAPI(rate_window=1.0)


def write_suite(suite: Suite, fake: FakeAmigoAPI, metrics: str = METRICS) -> None:
    suite.write("metrics.amigo.yaml", metrics)
    service = fake.add_service(reply=caring)
    suite.write("amigo.amigo.yaml", AMIGO_TEST.format(name="reset", service_id=service.id, runs=1))


def run(suite: Suite, fake: FakeAmigoAPI, *args: str) -> pytest.RunResult:
    return suite.pytester.runpytest("-v", *FAST, *args, plugins=[fake.plugin()])


def org_metrics(fake: FakeAmigoAPI) -> dict[str, Any]:
    return {m.name: m for m in fake.org.metrics.values()}


def test_declared_metrics_are_created_in_the_organization(suite: Suite, fake: FakeAmigoAPI) -> None:
    write_suite(suite, fake)
    run(suite, fake, *AMIGO).assert_outcomes(passed=1)
    metrics = org_metrics(fake)
    assert set(metrics) == {"Empathy Score", "Outcome", "Identity Verified"}
    empathy = metrics["Empathy Score"]
    assert empathy.metric_value_type == "numerical"
    assert empathy.latest.metric_value == {
        "type": "numerical",
        "lower_bound": 1.0,
        "upper_bound": 10.0,
    }
    # Results are stored locally under the organization's metric ids.
    stored = {r["metric_id"] for r in suite.rows("SELECT metric_id FROM evaluation_results")}
    assert stored == {empathy.id, metrics["Outcome"].id}


def test_a_second_session_versions_updates_or_leaves_metrics(
    suite: Suite, fake: FakeAmigoAPI
) -> None:
    write_suite(suite, fake)
    run(suite, fake, *AMIGO).assert_outcomes(passed=1)
    fake.requests.clear()
    changed = METRICS.replace(
        "Did the agent apologise, acknowledge the frustration and reassure?",
        "Did the agent apologise, acknowledge the frustration, reassure and resolve?",
    ).replace(
        "description: Classify how the conversation ended.",
        "description: Classify how the conversation ended.\n    additional_notes: Be strict.",
    )
    suite.write("metrics.amigo.yaml", changed)
    result = run(suite, fake, *AMIGO)
    result.assert_outcomes(passed=1)
    metrics = org_metrics(fake)
    assert [v.version for v in metrics["Empathy Score"].versions] == [1, 2]
    assert [v.version for v in metrics["Outcome"].versions] == [1]  # notes: an update only
    assert metrics["Outcome"].additional_notes == "Be strict."
    (new_version,) = fake.calls("create-metric-version")
    assert new_version.query == {"version": ["2"]}  # the expected next version is sent
    assert len(fake.calls("update-metric")) == 1
    assert fake.calls("create-metric") == []
    result.stdout.fnmatch_lines(["*Empathy Score v2 = 10; expected >= 7; 1/1 met"])
    fake.requests.clear()
    run(suite, fake, *AMIGO).assert_outcomes(passed=1)
    assert [r.endpoint for r in fake.requests if r.method != "GET"].count("update-metric") == 0
    assert fake.calls("create-metric-version") == []


def test_a_changed_value_type_is_a_collection_error(suite: Suite, fake: FakeAmigoAPI) -> None:
    write_suite(suite, fake)
    run(suite, fake, *AMIGO).assert_outcomes(passed=1)
    suite.write(
        "metrics.amigo.yaml",
        METRICS.replace(
            "metric_value: {type: boolean}",
            "metric_value: {type: categorical, categories: [confirmed, skipped]}",
        ),
    )
    result = run(suite, fake, *AMIGO)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*metrics.amigo.yaml:8: metrics[[]2].metric_value.type: metric 'Identity Verified' is "
            "boolean in the Amigo organization*",
            "*fix: declare a new metric with a new name*",
        ]
    )
    assert len(org_metrics(fake)["Identity Verified"].versions) == 1


def test_the_local_stores_types_do_not_bind_an_organization(
    suite: Suite, fake: FakeAmigoAPI
) -> None:
    """Prototyped locally, then moved to an organization that never had the metric: the
    organization's metrics are the ones whose type never changes."""
    write_suite(suite, fake)
    run(suite, fake).assert_outcomes(passed=1)
    categorical = METRICS.replace(
        "metric_value: {type: boolean}",
        "metric_value: {type: categorical, categories: [confirmed, skipped]}",
    )
    suite.write("metrics.amigo.yaml", categorical)
    run(suite, fake, *AMIGO).assert_outcomes(passed=1)
    assert org_metrics(fake)["Identity Verified"].metric_value_type == "categorical"
    run(suite, fake).assert_outcomes(errors=1)  # the local store still holds it as boolean


def test_a_deleted_metric_name_is_a_collection_error(suite: Suite, fake: FakeAmigoAPI) -> None:
    write_suite(suite, fake)
    run(suite, fake, *AMIGO).assert_outcomes(passed=1)
    org_metrics(fake)["Outcome"].is_deleted = True
    result = run(suite, fake, *AMIGO)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*metrics.amigo.yaml:*: metrics[[]*].name: metric 'Outcome' was deleted in the Amigo org*"]
    )


def test_sync_failure_stops_the_session_with_the_reason(suite: Suite, fake: FakeAmigoAPI) -> None:
    write_suite(suite, fake)
    fake.fail("get-metrics", 403)
    result = run(suite, fake, *AMIGO)
    assert result.ret != 0
    result.stderr.fnmatch_lines(
        ["*syncing metrics*GET /v1/*/metric/: HTTP 403: missing required permissions*"]
    )


def low(name: str, value: dict[str, Any], messages: list[FakeMessage]) -> Any:
    agent = [m for m in messages if m.message_type == "agent-message"]
    verdict = {"boolean": False, "numerical": value.get("lower_bound"), "categorical": "abandoned"}
    return verdict[value["type"]], f"The agent was curt ({name}).", [agent[-1].id]


def test_the_amigo_judge_evaluates_through_the_api(suite: Suite, fake: FakeAmigoAPI) -> None:
    write_suite(suite, fake)
    result = run(suite, fake, *AMIGO, "--amigo-judge", "amigo")
    result.assert_outcomes(passed=1)
    (evaluate,) = fake.calls("evaluate-metrics")
    (conversation,) = fake.org.conversations.values()
    metrics = org_metrics(fake)
    assert evaluate.body["conversation_id"] == conversation.id
    assert evaluate.body["metric_ids"] == [metrics["Empathy Score"].id, metrics["Outcome"].id]
    assert len(fake.calls("get-metric-evaluation-results")) == 1  # read back with versions
    result.stdout.fnmatch_lines(["*judge amigo-api*"])
    rows = suite.rows("SELECT judge_model, source FROM evaluation_results")
    assert {r["judge_model"] for r in rows} == {"amigo-api"}
    assert {json.loads(r["source"])["references"][0] for r in rows} <= {
        m.id for m in conversation.messages
    }


def test_a_metric_expected_twice_is_evaluated_once(suite: Suite, fake: FakeAmigoAPI) -> None:
    """The evaluate endpoint takes each metric id once: a range written as two expectations
    on one metric is one evaluation, checked against both."""
    write_suite(suite, fake)
    suite.write(
        "amigo.amigo.yaml",
        AMIGO_TEST.format(name="reset", service_id=next(iter(fake.org.services)), runs=1).replace(
            "- {metric: Outcome, expect: [resolved, escalated]}",
            '- {metric: Empathy Score, expect: "<= 10"}',
        ),
    )
    run(suite, fake, *AMIGO, "--amigo-judge", "amigo").assert_outcomes(passed=1)
    (evaluate,) = fake.calls("evaluate-metrics")
    assert evaluate.body["metric_ids"] == [org_metrics(fake)["Empathy Score"].id]
    assert len(suite.rows("SELECT result FROM evaluation_results")) == 1  # one verdict


def test_the_amigo_judges_low_values_fail_the_test(suite: Suite, fake: FakeAmigoAPI) -> None:
    fake.evaluator = low
    write_suite(suite, fake)
    result = run(suite, fake, *AMIGO, "--amigo-judge", "amigo")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*FAIL Empathy Score v1 = 1; expected >= 7  ?judge amigo-api?",
            "*justification: The agent was curt (Empathy Score).",
        ]
    )


def test_the_amigo_judge_needs_an_amigo_target(suite: Suite, fake: FakeAmigoAPI) -> None:
    suite.standard()
    suite.unit_test()
    result = run(suite, fake, *AMIGO, "--amigo-judge", "amigo")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*target: the Amigo judge evaluates conversations held by Amigo*", "*fix: give the test*"]
    )


def test_the_amigo_judge_needs_the_amigo_backend(suite: Suite, fake: FakeAmigoAPI) -> None:
    write_suite(suite, fake)
    result = run(suite, fake, "--amigo-judge", "amigo")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*--amigo-judge amigo * add --amigo-backend amigo*"])


XDIST_CONFTEST = """
import json, os, pathlib
from pytest_amigo_metrics.testing import FakeAmigoAPI

HERE = pathlib.Path(__file__).parent
REPLY = "I apologise and acknowledge the frustration; let me reassure you. This is resolved."
# One fake per process (controller and each worker), the same organization in all of them.
fake = FakeAmigoAPI(organization_id="{org}", user_id="{user}", api_key_id="{key_id}",
                    api_key="{key}", rate_window=1.0)
fake.add_service("{service}", reply=lambda history: REPLY)

def pytest_configure(config):
    config.pluginmanager.register(fake.plugin())

def pytest_sessionfinish(session):  # a worker's, before it reports back: never cut short
    log = [r.endpoint for r in fake.requests]
    (HERE / f"requests-{{os.getpid()}}.json").write_text(json.dumps(log))
"""


def test_metrics_sync_once_per_session_under_xdist(suite: Suite, fake: FakeAmigoAPI) -> None:
    suite.write("metrics.amigo.yaml", METRICS)
    service = "c" * 24
    for index in range(4):
        suite.write(
            f"t{index}.amigo.yaml", AMIGO_TEST.format(name=f"t{index}", service_id=service, runs=1)
        )
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
    result = suite.pytester.runpytest_subprocess("-p", "xdist", "-n", "2", *FAST, *AMIGO)
    result.assert_outcomes(passed=4)
    logs = [json.loads(p.read_text()) for p in suite.path.glob("requests-*.json")]
    assert len(logs) == 3  # the controller and two workers
    everything = [endpoint for log in logs for endpoint in log]
    assert everything.count("get-metrics") == 1  # one sync for the whole session
    assert everything.count("create-metric") == 3
    assert everything.count("create-conversation") == 4
    ids = {r["metric_id"] for r in suite.rows("SELECT metric_id FROM evaluation_results")}
    assert len(ids) == 2  # every worker stored under the ids the one sync created
    (run_id,) = {
        r["id"]
        for r in suite.rows("SELECT simulation_unit_test_set_run_id AS id FROM conversations")
    }
    assert not (shared_directory(once.KIND) / run_id).exists()  # the controller cleaned up


def test_the_amigo_judge_evaluates_up_to_the_turn_asked(suite: Suite, fake: FakeAmigoAPI) -> None:
    write_suite(suite, fake)
    text = (suite.path / "amigo.amigo.yaml").read_text()
    suite.write(
        "amigo.amigo.yaml",
        text.replace(
            "{metric: Outcome, expect: [resolved, escalated]}",
            "{metric: Outcome, expect: [resolved, escalated], up_to_turn: 1}",
        ),
    )
    result = run(suite, fake, *AMIGO, "--amigo-judge", "amigo")
    result.assert_outcomes(passed=1)
    (conversation,) = fake.org.conversations.values()
    first_user = next(m for m in conversation.messages if m.message_type == "user-message")
    whole, partial = fake.calls("evaluate-metrics")  # one call per part of the conversation
    assert whole.body["metric_ids"] == [org_metrics(fake)["Empathy Score"].id]
    assert "evaluate_to_interaction_id" not in whole.body
    assert partial.body["evaluate_to_interaction_id"] == first_user.interaction_id
    result.stdout.fnmatch_lines(
        ["*Outcome v1 = resolved; expected in ?resolved, escalated? by user turn 1*"]
    )
