"""The terminal summary (short by default, details with -v) and the JUnit properties."""

from __future__ import annotations

import json

from junit_props import junit_properties

from conftest import Suite


def two_tests(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(name="good", runs=2)
    suite.unit_test(file="bad.amigo.yaml", name="cold", script='["you are cold"]')


def summary_of(out: str) -> list[str]:
    section = out[out.index("amigo metrics") : out.index("short test summary info")]
    header = "simulation unit test set run"
    return [line for line in section.splitlines()[1:] if line and not line.startswith(header)]


def test_default_summary_is_one_line_per_test_plus_what_did_not_pass(suite: Suite) -> None:
    two_tests(suite)
    result = suite.pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    lines = summary_of(result.stdout.str())
    assert lines[0] == (
        "FAILED  bad.amigo.yaml::cold  0/1 runs passed (0 %, 95 % CI 0\u201379 %), required 100 %"
    )
    assert lines[1].startswith("        models: simulator offline/simulator, judge offline/judge")
    assert lines[2] == "        Empathy Score v1 = 1; expected >= 7; 0/1 met"
    assert lines[3] == (
        "PASSED  tests.amigo.yaml::good  2/2 runs passed (100 %, 95 % CI 34\u2013100 %), "
        "required 100 %"
    )
    assert lines[4].startswith("total: 3 model calls, ")
    assert lines[4].endswith(" completion), $0")
    assert lines[5].startswith("note: roles marked offline/...")
    assert lines[6].startswith("=====")  # nothing more


def test_verbose_summary_details_every_test_with_its_usage(suite: Suite) -> None:
    two_tests(suite)
    result = suite.pytester.runpytest("-v")
    result.stdout.fnmatch_lines(
        [
            "PASSED  tests.amigo.yaml::good  2/2 runs passed*",
            "        models: simulator offline/simulator, judge offline/judge, agent python:*",
            "        Empathy Score v1 = 10, 10; expected >= 7; 2/2 met",
            "        usage: 2 model calls, * tokens (* prompt + * completion), $0",
            "total: 3 model calls, *",
        ]
    )


def test_quiet_summary_keeps_one_line_per_passed_test(suite: Suite) -> None:
    two_tests(suite)
    lines = summary_of(suite.pytester.runpytest("-q").stdout.str())
    assert [line.split("  ")[0] for line in lines if not line.startswith(" ")][:2] == [
        "FAILED",
        "PASSED",
    ]
    assert sum("Empathy Score" in line for line in lines) == 1


def test_very_quiet_summary_lists_only_what_did_not_pass(suite: Suite) -> None:
    two_tests(suite)
    lines = summary_of(suite.pytester.runpytest("-qq").stdout.str())
    assert lines[0].startswith("FAILED  bad.amigo.yaml::cold  0/1 runs passed")
    assert "PASSED  1 test, not listed one by one under -qq" in lines
    assert not any("tests.amigo.yaml::good" in line for line in lines)


def test_junit_has_each_runs_values_the_expectation_and_why_runs_failed(suite: Suite) -> None:
    suite.standard()
    suite.scripted(
        {
            "judge": [
                json.dumps({"value": 9, "justification": "Warm and kind.", "references": []}),
                json.dumps({"value": 2, "justification": "Curt, no apology.", "references": []}),
            ]
        }
    )
    suite.unit_test(runs=2, extra="min_pass_rate: 0.5\n")
    result = suite.pytester.runpytest(
        "--amigo-judge-model", "scripted/judge", "--amigo-concurrency", "1", "--junitxml=o.xml"
    )
    result.assert_outcomes(passed=1)
    props = junit_properties(suite.path / "o.xml")["password reset"]
    assert props["amigo.pass_rate"] == "1/2"
    assert props["amigo.metric.Empathy Score"] == "v1: 9, 2"
    assert props["amigo.pass_rate_interval_95"] == "0.095-0.905"
    assert props["amigo.run.0.Empathy Score"] == "9; met; expected >= 7"
    assert props["amigo.run.1.Empathy Score"] == "2; unmet; expected >= 7"
    assert props["amigo.run.1.Empathy Score.justification"] == "Curt, no apology."
    assert "amigo.run.0.Empathy Score.justification" not in props, "only what made runs fail"
    assert props["amigo.usage.calls"] == "2"


def test_junit_names_the_error_of_a_run(suite: Suite) -> None:
    suite.standard()
    suite.write("agent.py", "def respond(messages):\n    raise KeyError('boom')\n")
    suite.unit_test()
    suite.pytester.runpytest("--junitxml=o.xml").assert_outcomes(errors=1)
    props = junit_properties(suite.path / "o.xml")["password reset"]
    assert props["amigo.run.0.error"].startswith("user turn 1: KeyError raised by the agent")
