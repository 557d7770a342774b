"""judge_samples: the judge is asked k times per metric and run; the answers are combined
(majority, median) and their agreement is stored and shown."""

from __future__ import annotations

import json

import pytest
from junit_props import junit_properties

from conftest import Suite
from pytest_amigo_metrics.suite.metrics import JudgeValue
from pytest_amigo_metrics.suite.spec import (
    BooleanMetricValue,
    CategoricalMetricValue,
    MetricValue,
    NumericalMetricValue,
)
from pytest_amigo_metrics.verdicts.judge_samples import combine

BOOLEAN = BooleanMetricValue(type="boolean")
OUTCOME = CategoricalMetricValue(type="categorical", categories=["resolved", "escalated"])
SCORE = NumericalMetricValue(type="numerical", lower_bound=1, upper_bound=10)


@pytest.mark.parametrize(
    ("metric_value", "samples", "value", "agreement"),
    [
        (BOOLEAN, [True, True, False], True, 2 / 3),
        (BOOLEAN, [True, False], False, 0.5),  # a tie goes to false
        (BOOLEAN, [None, True, None], None, 2 / 3),
        (BOOLEAN, [None, True], True, 0.5),  # n/a loses a tie
        (OUTCOME, ["escalated", "resolved"], "resolved", 0.5),  # the declared order
        (OUTCOME, ["escalated", "escalated", "resolved"], "escalated", 2 / 3),
        (SCORE, [9, 2, 9], 9, 2 / 3),
        (SCORE, [7, 8], 7.5, 1.0),  # within a tenth of the range (0.9) of the median
        (SCORE, [7, 9, 8, 8, 1], 8, 0.4),  # 7 and 9 are 1 away: not within 0.9
        (SCORE, [4.5, 5.0, 5.5], 5.0, 1.0),
        (SCORE, [None, None, 3], None, 2 / 3),
        (SCORE, [None, 3, 4], 3.5, 2 / 3),
    ],
)
def test_answers_combine_by_majority_or_median(
    metric_value: MetricValue, samples: list[JudgeValue], value: JudgeValue, agreement: float
) -> None:
    combined = combine(metric_value, samples)
    assert combined.value == value and type(combined.value) is type(value)
    assert combined.agreement == pytest.approx(agreement)
    assert samples[combined.chosen] == value or metric_value is SCORE


def verdict(value: object, why: str = "j") -> str:
    return json.dumps({"value": value, "justification": why, "references": []})


def test_samples_are_combined_stored_and_low_agreement_is_flagged(suite: Suite) -> None:
    suite.standard()
    suite.scripted({"judge": [verdict(9, "warm"), verdict(2, "cold"), verdict(9, "warm")]})
    suite.unit_test(extra="judge_samples: 3\n")
    result = suite.pytester.runpytest("--amigo-judge-model", "scripted/judge", "--junitxml=o.xml")
    result.assert_outcomes(passed=1)
    judge = [c for c in suite.calls() if c["model"] == "judge"]
    assert len(judge) == 3
    assert sorted(c["seed"] for c in judge) == [0, 1, 2], "distinct seeds, so samples can differ"
    assert {c["temperature"] for c in judge} == {0.7}
    result.stdout.fnmatch_lines(
        [
            "PASSED  tests.amigo.yaml::password reset  1/1 runs passed*",
            "        low judge agreement (below 80 %): Empathy Score run 0: 2/3 samples agree (67 %)",
        ]
    )
    props = junit_properties(suite.path / "o.xml")["password reset"]
    assert props["amigo.run.0.Empathy Score"] == "9; met; expected >= 7"
    assert props["amigo.run.0.Empathy Score.agreement"].startswith("0.67 (")
    assert props["amigo.run.0.Empathy Score.agreement"].endswith("); low")
    assert props["amigo.low_judge_agreement"] == "Empathy Score run 0: 2/3 samples agree (67 %)"
    rows = suite.rows("SELECT result, justification FROM evaluation_results")
    assert [(json.loads(r["result"]), r["justification"]) for r in rows] == [(9, "warm")]


def test_file_defaults_set_it_the_option_overrides_it_and_one_sample_stays_at_temperature_0(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.standard()
    suite.scripted({"judge": [verdict(9)]})
    suite.write(
        "tests.amigo.yaml",
        """
        defaults:
          target: {python: "agent:respond"}
          judge_samples: 5
        simulation_unit_tests:
          - name: sampled
            persona: {name: Sam, background: b}
            scenario: {name: s, objective: o, instructions: i}
            script: ["hello"]
            metrics:
              - {metric: Empathy Score, expect: ">= 7"}
        """,
    )
    result = suite.pytester.runpytest("--amigo-judge-model", "scripted/judge", "-v")
    result.assert_outcomes(passed=1)
    assert len(suite.calls()) == 5
    result.stdout.fnmatch_lines(
        ["*Empathy Score v1 = 9; expected >= 7; 1/1 met; judge agreement 100 %"]
    )
    assert "low judge agreement" not in result.stdout.str()

    (suite.path / "calls.json").unlink()
    monkeypatch.setenv("AMIGO_METRICS_JUDGE_SAMPLES", "2")
    suite.pytester.runpytest("--amigo-judge-model", "scripted/judge").assert_outcomes(passed=1)
    assert len(suite.calls()) == 2

    (suite.path / "calls.json").unlink()
    result = suite.pytester.runpytest(
        "--amigo-judge-model", "scripted/judge", "--amigo-judge-samples", "1", "-v"
    )
    result.assert_outcomes(passed=1)
    assert [(c["temperature"], c["seed"]) for c in suite.calls()] == [(0.0, None)]
    assert "judge agreement" not in result.stdout.str()


def test_a_sample_without_a_valid_answer_is_an_error_naming_the_sample(suite: Suite) -> None:
    suite.standard()
    suite.scripted({"judge": [verdict(9), "not json"]})
    suite.unit_test(extra="judge_samples: 2\n")
    result = suite.pytester.runpytest(
        "--amigo-judge-model", "scripted/judge", "--amigo-judge-retries", "0"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*sample 2 of 2: judge 'scripted/judge' gave no valid evaluation of metric*"]
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("0", "Input should be greater than or equal to 1 (got 0)"),
        ("26", "Input should be less than or equal to 25 (got 26)"),
        ("true", "Input should be a valid integer (got True)"),
        ('"3"', "Input should be a valid integer (got '3')"),
    ],
)
def test_a_bad_judge_samples_is_a_located_collection_error(
    suite: Suite, value: str, problem: str
) -> None:
    suite.standard()
    suite.unit_test(extra=f"judge_samples: {value}\n")
    result = suite.pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [f"tests.amigo.yaml:10: simulation_unit_tests[0].judge_samples: {problem}", "    fix: *"]
    )


def test_a_bad_option_value_is_a_usage_error(suite: Suite) -> None:
    suite.standard()
    suite.unit_test()
    result = suite.pytester.runpytest("--amigo-judge-samples", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--amigo-judge-samples*0 is not allowed: give a whole number*"])


def test_samples_under_xdist(suite: Suite) -> None:
    suite.standard()
    for index in range(2):
        suite.unit_test(file=f"t{index}.amigo.yaml", name=f"case {index}", runs=2)
    result = suite.pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "--amigo-judge-samples", "3", "--junitxml=o.xml"
    )
    result.assert_outcomes(passed=2)
    props = junit_properties(suite.path / "o.xml")
    for case in props.values():
        assert case["amigo.usage.calls"] == "6", "2 runs x 3 samples"
        assert case["amigo.run.1.Empathy Score.agreement"] == "1.00 (10, 10, 10)"
