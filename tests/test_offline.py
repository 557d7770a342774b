"""The built-in offline provider: deterministic, in the metric's value space, clearly labelled."""

from __future__ import annotations

import asyncio
import json

import pytest

from conftest import Suite
from pytest_amigo_metrics.models.llm import ModelEndpoint, RetryPolicy, complete
from pytest_amigo_metrics.models.offline_logic import judge, simulate_user
from pytest_amigo_metrics.runs.transcript import Transcript
from pytest_amigo_metrics.suite.spec import MetricSpec
from pytest_amigo_metrics.verdicts.judge import ActiveMetric, evaluate

NO_WAIT = RetryPolicy(attempts=1, base_delay=0)


def transcript(*agent_replies: str) -> Transcript:
    t = Transcript()
    for reply in agent_replies:
        t.add_user_turn("Hello")
        t.add_agent_turn(reply)
    return t


def metric(description: str, metric_value: dict[str, object]) -> ActiveMetric:
    spec = MetricSpec(name="M", description=description, metric_value=metric_value)  # type: ignore[arg-type]
    return ActiveMetric(id="a" * 24, name="M", version=1, spec=spec)


def judged(m: ActiveMetric, t: Transcript) -> tuple[object, list[str], str]:
    verdict = asyncio.run(
        evaluate(m, t, model=ModelEndpoint("offline/judge"), retries=0, retry=NO_WAIT)
    )
    return verdict.value, verdict.references, verdict.justification


def test_numerical_scales_with_the_share_of_description_terms_used() -> None:
    m = metric(
        "Did the agent apologise, acknowledge the frustration and reassure?",
        {"type": "numerical", "lower_bound": 1, "upper_bound": 10},
    )
    assert judged(m, transcript("Whatever."))[0] == 1
    half = transcript("I apologise.", "I acknowledge that.")
    value, refs, why = judged(m, half)
    assert value == 6 and "2 of 4 terms" in why and why.startswith("Offline judgement")
    assert refs == [msg.id for msg in half.messages if msg.role == "agent"]
    assert (
        judged(m, transcript("I apologise, I acknowledge the frustration, let me reassure you."))[0]
        == 10
    )


def test_numerical_keeps_fractions_when_bounds_are_not_whole() -> None:
    m = metric("Politeness shown", {"type": "numerical", "lower_bound": 0, "upper_bound": 0.5})
    assert judged(m, transcript("How polite of you."))[0] == 0.25


def test_boolean_needs_half_of_the_terms() -> None:
    m = metric("Did the agent verify identity before account changes?", {"type": "boolean"})
    assert judged(m, transcript("I will verify your identity."))[0] is True
    assert judged(m, transcript("I verified it."))[0] is False


def test_categorical_takes_the_category_named_last_or_not_applicable() -> None:
    m = metric("Outcome", {"type": "categorical", "categories": ["resolved", "escalated"]})
    t = transcript(
        "This is resolved.", "Sorry, I have escalated it; not resolved yet... escalated."
    )
    value, refs, _ = judged(m, t)
    assert value == "escalated" and refs == [t.messages[3].id]
    value, refs, why = judged(m, transcript("Hmm."))
    assert value is None and "not applicable" in why and len(refs) == 1


def test_same_input_same_output() -> None:
    t = transcript("I apologise.")
    m = metric("apologise reassure", {"type": "numerical", "lower_bound": 1, "upper_bound": 5})
    payload = [
        {
            "role": "user",
            "content": json.dumps(
                {"metric": m.spec.model_dump(), "conversation": t.as_judge_input()}
            ),
        }
    ]
    assert len({judge(payload) for _ in range(5)}) == 1


def test_simulated_user_greets_follows_up_and_ends() -> None:
    system = {"role": "system", "content": "Persona name: Ana\nObjective: Open an account."}
    first = json.loads(simulate_user([system]))
    assert first == {"action": "send", "message": "Hi, I'm Ana. Open an account."}
    second = json.loads(simulate_user([system, {"role": "assistant", "content": "x"}]))
    assert second["action"] == "send"
    fourth = json.loads(simulate_user([system, *[{"role": "assistant", "content": "x"}] * 3]))
    assert fourth == {"action": "send", "message": "Is there anything I need to do on my side?"}
    fifth = json.loads(simulate_user([system, *[{"role": "assistant", "content": "x"}] * 4]))
    assert fifth["action"] == "objective_reached"


def test_offline_models_go_through_litellm() -> None:
    reply = asyncio.run(
        complete(
            ModelEndpoint("offline/agent"),
            [{"role": "user", "content": "hi"}],
            role="agent",
            retry=NO_WAIT,
        )
    )
    assert reply.model == "offline/agent" and "hi" in reply.text


def test_litellm_model_target_with_simulated_user(suite: Suite) -> None:
    suite.standard()
    suite.write(
        "m.amigo.yaml",
        """
        simulation_unit_tests:
          - name: model target
            persona: {name: Ana, background: New user.}
            scenario: {name: Start, objective: Create a project., instructions: Ask simply.}
            target: {model: offline/agent, system_prompt: You are helpful.}
            metrics:
              - {metric: Identity Verified, expect: false}
        """,
    )
    result = suite.pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*models: simulator offline/simulator, judge offline/judge, agent model:offline/agent",
            "note: roles marked offline/... used the built-in offline provider*",
        ]
    )
    rows = suite.rows("SELECT end_reason, messages, models FROM conversations")
    messages = json.loads(rows[0]["messages"])
    assert json.loads(rows[0]["models"]) == {
        "simulator": "offline/simulator",
        "judge": "offline/judge",
        "agent": "model:offline/agent",
    }
    assert rows[0]["end_reason"] == "objective_reached"
    assert [m["role"] for m in messages] == ["user", "agent"] * 4
    assert messages[0]["content"] == "Hi, I'm Ana. Create a project."
    assert len({m["interaction_id"] for m in messages}) == 4


def _verdicts(suite: Suite) -> list[tuple[str, str, str]]:
    rows = suite.rows(
        "SELECT unit_test_id, result, justification FROM evaluation_results ORDER BY unit_test_id, metric_id"
    )
    return [(r["unit_test_id"], r["result"], r["justification"]) for r in rows]


@pytest.mark.parametrize("runner", ["subprocess"])
def test_deterministic_across_processes(suite: Suite, runner: str) -> None:
    suite.standard()
    suite.unit_test(
        expectations=[
            '{metric: Empathy Score, expect: ">= 1"}',
            "{metric: Outcome, expect: [resolved, escalated], allow_not_applicable: true}",
        ]
    )
    suite.pytester.runpytest_subprocess().assert_outcomes(passed=1)
    first = _verdicts(suite)
    suite.store.unlink()
    suite.pytester.runpytest_subprocess("-p", "xdist", "-n", "2").assert_outcomes(passed=1)
    assert _verdicts(suite) == first and len(first) == 2
