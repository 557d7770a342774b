"""Model per role: command line > environment > ini > YAML > offline; secrets stay out."""

from __future__ import annotations

import json

import pytest

from conftest import Suite
from pytest_amigo_metrics.redact import redact

VERDICT = json.dumps({"value": 9, "justification": "ok", "references": []})


def judge_models(suite: Suite) -> list[str]:
    return sorted({c["model"] for c in suite.calls()})


@pytest.fixture
def scripted_suite(suite: Suite) -> Suite:
    suite.standard()
    answers = {name: [VERDICT] for name in ("cli", "env", "ini", "yaml", "file")}
    suite.scripted(answers)
    suite.unit_test(extra="models: {judge: scripted/yaml}\n")
    return suite


def test_yaml_model_is_used_when_nothing_else_is_set(scripted_suite: Suite) -> None:
    scripted_suite.pytester.runpytest().assert_outcomes(passed=1)
    assert judge_models(scripted_suite) == ["yaml"]


def test_ini_beats_yaml(scripted_suite: Suite) -> None:
    scripted_suite.write("pytest.ini", "[pytest]\namigo_judge_model = scripted/ini\n")
    scripted_suite.pytester.runpytest().assert_outcomes(passed=1)
    assert judge_models(scripted_suite) == ["ini"]


def test_env_beats_ini_and_cli_beats_env(
    scripted_suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted_suite.write("pytest.ini", "[pytest]\namigo_judge_model = scripted/ini\n")
    monkeypatch.setenv("AMIGO_METRICS_JUDGE_MODEL", "scripted/env")
    scripted_suite.pytester.runpytest().assert_outcomes(passed=1)
    assert judge_models(scripted_suite) == ["env"]
    (scripted_suite.path / "calls.json").unlink()
    scripted_suite.pytester.runpytest("--amigo-judge-model", "scripted/cli").assert_outcomes(
        passed=1
    )
    assert judge_models(scripted_suite) == ["cli"]


def test_offline_switch_overrides_everything(
    scripted_suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMIGO_METRICS_JUDGE_MODEL", "scripted/env")
    result = scripted_suite.pytester.runpytest("--amigo-offline", "-v")
    result.assert_outcomes(passed=1)
    assert judge_models(scripted_suite) == []
    result.stdout.fnmatch_lines(["*judge offline/judge*"])


def test_bad_option_value_is_a_usage_error_naming_option_and_source(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = suite.pytester.runpytest("--amigo-concurrency", "lots")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --amigo-concurrency: 'lots' is not a whole number (*"])
    monkeypatch.setenv("AMIGO_METRICS_RETRY_BASE_DELAY", "soon")
    result = suite.pytester.runpytest()
    result.stderr.fnmatch_lines(
        [
            "ERROR: --amigo-retry-base-delay: 'soon' (from environment variable "
            "AMIGO_METRICS_RETRY_BASE_DELAY) is not a number (*"
        ]
    )


def test_secrets_never_reach_the_report(suite: Suite, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-1234567890abcdefXYZ")
    suite.standard()
    message = "invalid key sk-test-1234567890abcdefXYZ for Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlMTIz"
    suite.scripted({"judge": [{"raise": "AuthenticationError", "message": message}]})
    suite.unit_test()
    result = suite.pytester.runpytest("--amigo-judge-model", "scripted/judge", "--junitxml=out.xml")
    result.assert_outcomes(errors=1)
    out = result.stdout.str() + (suite.path / "out.xml").read_text()
    assert "invalid key ***" in out
    assert "sk-test-1234567890abcdefXYZ" not in out and "eyJhbGciOiJIUzI1NiJ9" not in out


def test_redact_masks_keys_jwts_and_secret_env_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", "plain-secret-value")
    text = redact(
        "token plain-secret-value, key sk-abcdefghijklmnop1234, jwt eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl"
    )
    assert "plain-secret-value" not in text and "sk-abcdefghijklmnop1234" not in text
    assert "eyJhbGciOi.eyJzdWIiOiIx" not in text


def test_simulated_runs_vary_by_seed_while_the_judge_stays_deterministic(suite: Suite) -> None:
    suite.standard()
    turn = json.dumps({"action": "send", "message": "Hi"})
    done = json.dumps({"action": "objective_reached", "message": ""})
    suite.scripted({"sim": [turn, done, turn, done], "judge": [VERDICT], "agent": ["Hello."]})
    suite.write(
        "t.amigo.yaml",
        """
        simulation_unit_tests:
          - name: sampling
            persona: {name: S, background: b}
            scenario: {name: s, objective: o, instructions: i}
            target: {model: scripted/agent}
            runs: 2
            metrics: [{metric: Empathy Score, expect: ">= 1"}]
        """,
    )
    args = ["--amigo-simulator-model", "scripted/sim", "--amigo-judge-model", "scripted/judge"]
    suite.pytester.runpytest(*args, "--amigo-concurrency", "1").assert_outcomes(passed=1)
    calls = suite.calls()
    sim = [(c["temperature"], c["seed"]) for c in calls if c["model"] == "sim"]
    assert sim == [(0.8, 0), (0.8, 0), (0.8, 1), (0.8, 1)]
    assert {(c["temperature"], c["seed"]) for c in calls if c["model"] == "judge"} == {(0, None)}
    assert {c["temperature"] for c in calls if c["model"] == "agent"} == {None}, "provider default"
