"""Tokens and cost: per call from litellm, summed per run, per test and for the session."""

from __future__ import annotations

import json
from typing import Any

import pytest
from junit_props import junit_properties
from openai_server import openai_server

from conftest import EMPATHY_AND_OUTCOME, Suite
from pytest_amigo_metrics.models.llm import Completion, load_litellm
from pytest_amigo_metrics.models.usage import UsageMeter
from pytest_amigo_metrics.verdicts.outcomes import Usage

GOOD = json.dumps({"value": 9, "justification": "Warm.", "references": []})
# A simulated user (5 calls: 4 turns, then it ends) and a `model:` agent (4 calls).
MODEL_AGENT_TEST = """
simulation_unit_tests:
  - name: model agent
    persona: {{name: Ana, background: New user.}}
    scenario: {{name: Start, objective: Create a project., instructions: Ask simply.}}
    target: {{model: offline/agent}}
    runs: {runs}
    metrics:
      - {{metric: Identity Verified, expect: false}}
"""


def test_offline_calls_count_tokens_and_cost_nothing(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(
        runs=2,
        expectations=EMPATHY_AND_OUTCOME,
    )
    result = suite.pytester.runpytest("--junitxml=out.xml")
    result.assert_outcomes(passed=1)
    props = junit_properties(suite.path / "out.xml")["password reset"]
    # A scripted user and a python agent call no model: 2 runs x 2 metrics, judge calls only.
    assert props["amigo.usage.calls"] == "4"
    prompt, completion = (
        int(props["amigo.usage.prompt_tokens"]),
        int(props["amigo.usage.completion_tokens"]),
    )
    assert prompt > 100 and completion > 10, "the offline provider reports word counts"
    assert props["amigo.usage.cost_usd"] == "0"
    result.stdout.fnmatch_lines(
        [f"total: 4 model calls, {prompt + completion:,} tokens ({prompt:,} prompt + *), $0"]
    )


def test_every_role_counts_with_judge_retries_and_an_unpriced_model(suite: Suite) -> None:
    suite.standard()
    suite.write("m.amigo.yaml", MODEL_AGENT_TEST.format(runs=1))
    suite.scripted(
        {
            "judge": [
                "not json",
                json.dumps({"value": False, "justification": "no", "references": []}),
            ]
        }
    )
    result = suite.pytester.runpytest("--amigo-judge-model", "scripted/judge", "--junitxml=o.xml")
    result.assert_outcomes(passed=1)
    props = junit_properties(suite.path / "o.xml")["model agent"]
    # The offline user sends 4 turns and then ends (5 calls), the agent answers 4, and the
    # judge is asked twice (its first answer is invalid).
    assert props["amigo.usage.calls"] == "11"
    assert props["amigo.usage.cost_usd"] == "unknown"
    assert props["amigo.usage.unpriced_models"] == "scripted/judge"
    result.stdout.fnmatch_lines(
        ["total: 11 model calls, * tokens (*), cost unknown (no price known for scripted/judge)"]
    )


def _verdict(body: dict[str, Any]) -> str:
    return json.dumps({"value": 9, "justification": "Warm.", "references": []})


def test_litellm_prices_a_known_model_and_leaves_an_unknown_one_unknown(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "local-server-needs-no-key")
    suite.standard()
    with openai_server(_verdict) as server:
        for name, model in (("known", "openai/gpt-4o-mini"), ("private", "openai/our-judge")):
            suite.unit_test(
                file=f"{name}.amigo.yaml",
                name=name,
                extra=f'models: {{judge: {{model: {model}, api_base: "{server.url}"}}}}\n',
            )
        result = suite.pytester.runpytest("--junitxml=o.xml", "-v")
    result.assert_outcomes(passed=2)
    # The local server reports 10 prompt and 5 completion tokens per call.
    prompt_cost, completion_cost = load_litellm().cost_per_token(
        model="gpt-4o-mini", prompt_tokens=10, completion_tokens=5
    )
    props = junit_properties(suite.path / "o.xml")
    known, private = props["known"], props["private"]
    assert (known["amigo.usage.prompt_tokens"], known["amigo.usage.completion_tokens"]) == (
        "10",
        "5",
    )
    assert float(known["amigo.usage.cost_usd"]) == pytest.approx(prompt_cost + completion_cost)
    assert private["amigo.usage.cost_usd"] == "unknown"
    assert private["amigo.usage.prompt_tokens"] == "10", "tokens are known without a price"
    out = result.stdout.str()
    assert "cost unknown (no price known for openai/our-judge)" in out
    assert "total: 2 model calls, 30 tokens (20 prompt + 10 completion), cost unknown" in out
    assert "Traceback" not in out and "ModelNotMapped" not in out and "WARNING" not in out


def test_session_total_sums_every_worker_under_xdist(suite: Suite) -> None:
    suite.standard()
    for index in range(3):
        suite.unit_test(file=f"t{index}.amigo.yaml", name=f"case {index}", runs=2)
    result = suite.pytester.runpytest_subprocess("-p", "xdist", "-n", "2", "--junitxml=o.xml")
    result.assert_outcomes(passed=3)
    props = junit_properties(suite.path / "o.xml")
    assert [p["amigo.usage.calls"] for p in props.values()] == ["2", "2", "2"]
    tokens = sum(
        int(p["amigo.usage.prompt_tokens"]) + int(p["amigo.usage.completion_tokens"])
        for p in props.values()
    )
    result.stdout.fnmatch_lines([f"total: 6 model calls, {tokens:,} tokens (*), $0"])


def test_a_replayed_call_counts_as_a_call_with_no_tokens_and_no_cost() -> None:
    meter = UsageMeter()
    meter.add(Completion("a", "openai/gpt-4o-mini", 10, 5, 0.25))
    replayed = Completion("b", "openai/gpt-4o-mini", 10, 5, 0.25)
    object.__setattr__(replayed, "replayed", True)  # the record/replay field, when present
    meter.add(replayed)
    meter.add(Completion("c", "openai/ours", 3, 2, None))
    usage = meter.usage()
    assert usage.model_dump() == {
        "calls": 3,
        "replayed_calls": 1,
        "prompt_tokens": 13,
        "completion_tokens": 7,
        "cost_usd": None,
        "unpriced_models": ["openai/ours"],
    }
    priced = Usage(calls=1, cost_usd=0.5)
    assert (priced + priced).cost_usd == 1.0
    assert (priced + usage).cost_usd is None
    assert (priced + usage).unpriced_models == ["openai/ours"]


CALLBACK_CONFTEST = """
import json, pathlib

import litellm
from litellm.integrations.custom_logger import CustomLogger

SEEN = []


class Recorder(CustomLogger):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        SEEN.append(kwargs["model"])


RECORDER = Recorder()


def pytest_configure(config):
    litellm.callbacks.append(RECORDER)


def pytest_unconfigure(config):
    litellm.callbacks.remove(RECORDER)
    pathlib.Path(__file__).with_name("seen.json").write_text(json.dumps(SEEN))
"""


def test_a_litellm_callback_sees_every_model_call(suite: Suite) -> None:
    """Without a callback the plugin spares litellm its logging; with one, the user's
    observability (Langfuse, a CustomLogger) sees every simulator, agent and judge call."""
    suite.standard()
    suite.write("m.amigo.yaml", MODEL_AGENT_TEST.format(runs=2))
    suite.write("conftest.py", CALLBACK_CONFTEST)
    # A process of its own, as users run it: litellm's logging worker serves one event loop.
    result = suite.pytester.runpytest_subprocess("--junitxml=o.xml")
    result.assert_outcomes(passed=1)
    calls = int(junit_properties(suite.path / "o.xml")["model agent"]["amigo.usage.calls"])
    seen = json.loads((suite.path / "seen.json").read_text())
    assert sorted(set(seen)) == ["agent", "judge", "simulator"]  # litellm's names, sans provider
    assert len(seen) == calls == 2 * (5 + 4 + 1)
