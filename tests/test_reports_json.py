"""`--amigo-json`: the whole session as JSON, valid against the shipped JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conftest import EMPATHY_AND_OUTCOME, Suite
from pytest_amigo_metrics.report.json_schema import (
    report_schema,
    report_schema_text,
    shipped_report_schema_path,
)
from pytest_amigo_metrics.report.model import wilson_interval

REGENERATE = (
    "python -m pytest_amigo_metrics schema --report > pytest_amigo_metrics/report.schema.json"
)
VALIDATOR = jsonschema.Draft202012Validator(report_schema())


def judge(value: object) -> str:
    return json.dumps({"value": value, "justification": f"judged {value}", "references": []})


def read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    VALIDATOR.validate(data)
    return data


def test_shipped_report_schema_is_the_generated_one() -> None:
    jsonschema.Draft202012Validator.check_schema(report_schema())
    assert shipped_report_schema_path().read_text(encoding="utf-8") == report_schema_text(), (
        f"pytest_amigo_metrics/report.schema.json is out of date: run `{REGENERATE}`"
    )


def test_wilson_interval_matches_known_values() -> None:
    low, high = wilson_interval(2, 3)
    assert (round(low, 4), round(high, 4)) == (0.2077, 0.9385)
    assert wilson_interval(10, 10)[1] == 1.0 and round(wilson_interval(10, 10)[0], 4) == 0.7225
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_the_json_report_holds_the_whole_session(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(
        runs=2,
        expectations=EMPATHY_AND_OUTCOME,
    )
    suite.unit_test(file="cold.amigo.yaml", name="cold", script='["you are cold"]')
    result = suite.pytester.runpytest("--amigo-json", "reports/session.json")
    result.assert_outcomes(passed=1, failed=1)
    path = suite.path / "reports" / "session.json"
    result.stdout.fnmatch_lines([f"amigo JSON report: {path}"])
    report = read(path)

    run_id = report["run"]["id"]
    assert run_id in result.stdout.str()
    assert report["run"]["counts"] == {"passed": 1, "failed": 1, "error": 0}
    assert report["run"]["models"]["judge"] == ["offline/judge"]
    assert report["offline_models"] is True and report["comparison"] is None
    good, cold = sorted(report["tests"], key=lambda t: t["name"] == "cold")
    assert (good["nodeid"], good["file"], good["outcome"]) == (
        "tests.amigo.yaml::password reset",
        "tests.amigo.yaml",
        "passed",
    )
    assert good["models"] == {
        "simulator": "offline/simulator",
        "judge": "offline/judge",
        "agent": "python:agent:respond",
    }
    low, high = wilson_interval(2, 2)
    assert good["pass_rate"] == {
        "passed": 2,
        "runs": 2,
        "required": 2,
        "min_pass_rate": 1.0,
        "rate": 1.0,
        "interval_95": [low, high],
    }
    assert [(e["metric_name"], e["expectation"], e["runs_met"]) for e in good["expectations"]] == [
        ("Empathy Score", ">= 7", 2),
        ("Outcome", "resolved", 2),
    ]
    bounds = [(e["lower_bound"], e["upper_bound"]) for e in good["expectations"]]
    assert bounds == [(1, 10), (None, None)]  # a numerical metric's scale; none for categories
    assert len(good["runs"]) == 2
    for run in good["runs"]:
        assert run["outcome"] == "passed" and run["end_reason"] == "script_completed"
        ids = {m["id"] for m in run["messages"]}
        assert [m["role"] for m in run["messages"]] == ["user", "agent", "user", "agent"]
        for result_ in run["results"]:
            source = result_["source"]
            assert source["type"] == "simulation"
            assert source["simulation_unit_test_set_run_id"] == run_id
            assert source["unit_test_id"] == good["unit_test_id"]
            assert source["run_index"] == run["run_index"]
            assert source["references"] and set(source["references"]) <= ids
            assert result_["met"] is True and result_["judge_model"] == "offline/judge"
            assert result_["id"], "the stored evaluation result's id"
        cited = {m["id"]: m["referenced_by"] for m in run["messages"] if m["referenced_by"]}
        assert set(cited) == {ref for r in run["results"] for ref in r["source"]["references"]}
    stored = {r["id"] for r in suite.rows("SELECT id FROM evaluation_results")}
    reported = {r["id"] for t in report["tests"] for run in t["runs"] for r in run["results"]}
    assert reported == stored
    (miss,) = cold["runs"][0]["results"]
    assert cold["outcome"] == "failed" and cold["runs"][0]["outcome"] == "failed"
    assert (miss["metric_name"], miss["result"], miss["met"]) == ("Empathy Score", 1, False)
    assert cold["pass_rate"]["passed"] == 0 and cold["pass_rate"]["interval_95"][0] == 0.0
    assert "usage" in report and "calls" in report["usage"]


def test_pass_rate_and_interval_with_some_runs_failing(suite: Suite) -> None:
    suite.standard()
    suite.scripted({"judge": [judge(9), judge(2), judge(9)]})
    suite.unit_test(runs=3, extra="min_pass_rate: 0.6\n")
    result = suite.pytester.runpytest(
        "--amigo-judge-model", "scripted/judge", "--amigo-json", "r.json"
    )
    result.assert_outcomes(passed=1)
    (test,) = read(suite.path / "r.json")["tests"]
    rate = test["pass_rate"]
    assert (rate["passed"], rate["runs"], rate["required"]) == (2, 3, 2)
    assert [round(x, 4) for x in rate["interval_95"]] == [0.2077, 0.9385]
    assert sorted(r["outcome"] for r in test["runs"]) == ["failed", "passed", "passed"]
    assert test["expectations"][0]["runs_met"] == 2
    assert test["expectations"][0]["runs_evaluated"] == 3


def test_under_xdist_the_controller_writes_one_report_of_every_test(suite: Suite) -> None:
    suite.standard()
    for index in range(4):
        suite.unit_test(file=f"t{index}.amigo.yaml", name=f"case {index}")
    result = suite.pytester.runpytest_subprocess("-p", "xdist", "-n", "2", "--amigo-json", "r.json")
    result.assert_outcomes(passed=4)
    assert result.stdout.str().count("amigo JSON report:") == 1
    report = read(suite.path / "r.json")
    assert sorted(t["name"] for t in report["tests"]) == [f"case {i}" for i in range(4)]
    run_ids = {
        r["source"]["simulation_unit_test_set_run_id"]
        for t in report["tests"]
        for run in t["runs"]
        for r in run["results"]
    }
    assert run_ids == {report["run"]["id"]}
    assert report["run"]["counts"]["passed"] == 4


def test_the_report_path_from_the_environment_and_an_error_when_it_cannot_be_written(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.standard()
    suite.unit_test()
    monkeypatch.setenv("AMIGO_METRICS_JSON", "env.json")
    suite.pytester.runpytest().assert_outcomes(passed=1)
    assert read(suite.path / "env.json")["tests"][0]["outcome"] == "passed"

    (suite.path / "taken").write_text("a file, where the report wants a folder")
    result = suite.pytester.runpytest("--amigo-json", "taken/report.json")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        ["error: the JSON report could not be written to *taken/report.json (*"]
    )


@pytest.mark.parametrize("option", ["--amigo-json", "--amigo-html"])
@pytest.mark.parametrize("value", ["reports", "reports/", "new-folder/"])
def test_a_report_path_naming_a_folder_is_a_usage_error_before_any_run(
    suite: Suite, option: str, value: str
) -> None:
    suite.standard()
    suite.unit_test()
    (suite.path / "reports").mkdir()
    result = suite.pytester.runpytest(option, value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{option} '{value}' is a folder: name the report's file, e.g.*"])
    assert "passed" not in result.stdout.str()
    assert not (suite.path / "new-folder").exists()
    assert list((suite.path / "reports").iterdir()) == []


LEAKY_AGENT = """
import os

def respond(messages):
    return f"Resolved. debug token {os.environ['SUPPORT_DB_TOKEN']}"
"""


def test_secrets_never_reach_the_json_report(suite: Suite, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "tok-0123456789abcdef"
    monkeypatch.setenv("SUPPORT_DB_TOKEN", secret)
    suite.standard()
    suite.write("agent.py", LEAKY_AGENT)
    suite.unit_test()
    url = "http://judge.local/v1?api-key=hunter2-pw&region=eu"
    suite.pytester.runpytest("--amigo-json", "r.json", "--amigo-judge-api-base", url)
    text = (suite.path / "r.json").read_text()
    assert secret not in text and "hunter2-pw" not in text
    report = json.loads(text)
    assert "***" in report["tests"][0]["runs"][0]["messages"][1]["content"]
    assert "judge.local/v1?api-key=***&region=eu" in report["run"]["options"]["api_bases"]


def test_the_html_report_is_written_from_the_same_model(suite: Suite) -> None:
    suite.standard()
    suite.unit_test()
    result = suite.pytester.runpytest("--amigo-html", "r.html")
    result.assert_outcomes(passed=1)
    html = (suite.path / "r.html").read_text()
    assert "password reset" in html
