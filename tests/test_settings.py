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
    result = scripted_suite.pytester.runpytest("--amigo-offline")
    result.assert_outcomes(passed=1)
    assert judge_models(scripted_suite) == []
    result.stdout.fnmatch_lines(["*judge offline/judge*"])


def test_bad_option_value_is_a_usage_error(suite: Suite) -> None:
    result = suite.pytester.runpytest("--amigo-concurrency", "lots")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--amigo-concurrency*'lots' is not a int*"])


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
