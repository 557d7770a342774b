"""Bad input is a collection error naming file, line and field, with the fix; no traceback."""

from __future__ import annotations

import pytest

from conftest import Suite


def collection_error(suite: Suite, *args: str) -> str:
    result = suite.pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    out = result.stdout.str()
    assert "Traceback" not in out and "pydantic" not in out
    return out


def test_unknown_key_suggests_the_close_one(suite: Suite) -> None:
    suite.write(
        "m.amigo.yaml",
        """
        metrics:
          - name: Outcome
            descripton: Classify how it ended.
            metric_value: {type: categorical, categories: [resolved]}
        """,
    )
    out = collection_error(suite)
    assert "m.amigo.yaml:3: metrics[0].descripton: unknown key 'descripton'" in out
    assert "did you mean `description`?" in out
    assert "required field is missing" not in out, "the misspelt key is the one problem"


def test_top_level_typo_is_named_with_the_allowed_keys(suite: Suite) -> None:
    suite.write("t.amigo.yaml", "simulation_unit_test: []\n")
    out = collection_error(suite)
    assert "t.amigo.yaml:1: simulation_unit_test: unknown key 'simulation_unit_test'" in out
    assert "did you mean `simulation_unit_tests`? allowed keys: defaults, metrics" in out


@pytest.mark.parametrize(
    ("metric_value", "line_text"),
    [
        (
            "{type: numerical, lower_bound: 10, upper_bound: 1}",
            "lower_bound (10) must be below upper_bound (1)",
        ),
        ("{type: categorical, categories: []}", "categories: List should have at least 1 item"),
        ("{type: categorical, categories: [a, a]}", "category 'a' is listed twice"),
        ("{type: categorial, categories: [a]}", "did you mean `categorical`?"),
        (
            "{type: numerical, lower_bound: 1}",
            "metric_value.upper_bound: required field is missing",
        ),
    ],
)
def test_metric_value_rules_of_the_api(suite: Suite, metric_value: str, line_text: str) -> None:
    suite.write(
        "m.amigo.yaml",
        f"""
        metrics:
          - name: M
            description: d
            metric_value: {metric_value}
        """,
    )
    out = collection_error(suite)
    assert "m.amigo.yaml:4: metrics[0].metric_value" in out
    assert line_text in out


def test_tags_and_blank_strings_follow_the_api(suite: Suite) -> None:
    suite.write(
        "m.amigo.yaml",
        """
        metrics:
          - name: "   "
            description: d
            metric_value: {type: boolean}
            tags: {"team-a": x}
        """,
    )
    out = collection_error(suite)
    assert "m.amigo.yaml:2: metrics[0].name: String should have at least 1 character" in out
    assert "m.amigo.yaml:5: metrics[0].tags.team-a" in out
    assert "keys and values hold letters, digits" in out


@pytest.mark.parametrize(
    ("expectation", "message"),
    [
        (
            '{metric: Empathy Score, expect: ">= 11"}',
            "threshold 11 is outside the metric's bounds [1, 10]",
        ),
        ('{metric: Empathy Score, expect: "> 10"}', "'> 10' can never be met"),
        ("{metric: Empathy Score, expect: true}", "not a numerical expectation: True"),
        ('{metric: Empathy Score, expect: "between 6 and 4"}', "bounds reversed"),
        ("{metric: Outcome, expect: [resolved, maybe]}", "unknown category 'maybe'"),
        ("{metric: Outcome, expect: resolvd}", "did you mean 'resolved'? use one category"),
        ('{metric: Identity Verified, expect: "yes"}', "a boolean metric expects true or false"),
        ("{metric: Nope, expect: true}", "unknown metric 'Nope'"),
    ],
)
def test_expectations_are_checked_against_the_metric(
    suite: Suite, expectation: str, message: str
) -> None:
    suite.standard()
    suite.unit_test(expectations=["{metric: Outcome, expect: resolved}", expectation])
    out = collection_error(suite)
    assert "tests.amigo.yaml:10: simulation_unit_tests['password reset'].metrics[1]" in out
    assert message in out
    assert "fix:" in out


def test_the_fix_for_a_threshold_names_thresholds_within_the_metric_s_bounds(
    suite: Suite,
) -> None:
    suite.standard()
    suite.write(
        "five.amigo.yaml",
        """
        metrics:
          - name: Helpfulness
            description: How helpful, 0 to 5.
            metric_value: {type: numerical, lower_bound: 0, upper_bound: 5}
        """,
    )
    suite.unit_test(expectations=['{metric: Helpfulness, expect: ">= 9"}'])
    out = collection_error(suite)
    assert "threshold 9 is outside the metric's bounds [0, 5]" in out
    assert (
        "fix: write it as one of '>= 4', '< 1', '== 2', 'between 2 and 3', "
        "{verb: '>=', threshold: 4}, with thresholds within [0, 5]"
    ) in out


def test_a_bad_test_does_not_hide_the_good_ones_with_continue_on_collection_errors(
    suite: Suite,
) -> None:
    suite.standard()
    suite.unit_test(name="good", expectations=["{metric: Outcome, expect: resolved}"])
    suite.unit_test(file="bad.amigo.yaml", expectations=["{metric: Outcome, expect: nope}"])
    result = suite.pytester.runpytest("--continue-on-collection-errors")
    result.assert_outcomes(passed=1, errors=1)


def test_duplicate_metric_names_both_places(suite: Suite) -> None:
    suite.standard()
    suite.write(
        "z_again.amigo.yaml",
        """
        metrics:
          - name: Outcome
            description: again
            metric_value: {type: boolean}
        """,
    )
    out = collection_error(suite)
    assert (
        "z_again.amigo.yaml:2: metrics[0].name: metric 'Outcome' is already declared at metrics.amigo.yaml:5"
        in out
    )


def test_duplicate_test_names_and_missing_target(suite: Suite) -> None:
    suite.standard()
    suite.write(
        "t.amigo.yaml",
        """
        simulation_unit_tests:
          - name: same
            persona: {name: S, background: b}
            scenario: {name: s, objective: o, instructions: i}
            target: {python: "agent:respond"}
            metrics: [{metric: Outcome, expect: resolved}]
          - name: same
            persona: {name: S, background: b}
            scenario: {name: s, objective: o, instructions: i}
            metrics: [{metric: Outcome, expect: resolved}]
        """,
    )
    out = collection_error(suite)
    assert (
        "t.amigo.yaml:7: simulation_unit_tests[1].name: test name 'same' is already used at line 2"
        in out
    )


def test_a_field_error_does_not_hide_a_test_name_used_twice(suite: Suite) -> None:
    """Both problems in one round: fixing the first does not reveal the second only then."""
    suite.standard()
    suite.write(
        "t.amigo.yaml",
        """
        simulation_unit_tests:
          - name: same
            persona: {name: S, background: b}
            scenario: {name: s, objective: o, instructions: i}
            target: {python: "agent:respond"}
            metrics: [{metric: Outcome, expect: resolved}]
          - name: " same"
            persona: {name: S, background: b}
            scenario: {name: s, objective: o, instrutcions: i}
            target: {python: "agent:respond"}
            metrics: [{metric: Outcome, expect: resolved}]
        """,
    )
    out = collection_error(suite)
    assert "t.amigo.yaml:9: simulation_unit_tests[1].scenario.instrutcions: " in out
    assert (
        "t.amigo.yaml:7: simulation_unit_tests[1].name: test name 'same' is already used at line 2"
        in out
    )


def test_target_needs_exactly_one_agent(suite: Suite) -> None:
    suite.standard()
    suite.write(
        "t.amigo.yaml",
        """
        simulation_unit_tests:
          - name: none
            persona: {name: S, background: b}
            scenario: {name: s, objective: o, instructions: i}
            metrics: [{metric: Outcome, expect: resolved}]
          - name: two
            persona: {name: S, background: b}
            scenario: {name: s, objective: o, instructions: i}
            target: {python: "agent:respond", model: offline/agent}
            metrics: [{metric: Outcome, expect: resolved}]
        """,
    )
    out = collection_error(suite)
    assert (
        "t.amigo.yaml:9: simulation_unit_tests[1].target: a target names exactly one agent" in out
    )


def test_yaml_syntax_and_duplicate_keys_are_located(suite: Suite) -> None:
    suite.write("a.amigo.yaml", "metrics:\n  - name: x\n    name: y\n")
    suite.write("b.amigo.yaml", "metrics:\n  - name: [unclosed\n")
    out = collection_error(suite)
    assert "a.amigo.yaml:3: invalid YAML: duplicate key 'name' (first at line 2)" in out
    assert "b.amigo.yaml:3: invalid YAML" in out


def test_every_problem_says_how_to_fix_it(suite: Suite) -> None:
    suite.standard()
    suite.write(
        "t.amigo.yaml",
        """
        simulation_unit_tests:
          - name: t
            persona: {name: S, background: b}
            scenario: just a string
            target: {python: "agent:respond"}
            runs: many
            max_turns: 500
            metrics: [{metric: Outcome, expect: resolved, allow_not_applicable: maybe}]
        """,
    )
    out = collection_error(suite)
    problems = [line for line in out.splitlines() if line.startswith("t.amigo.yaml:")]
    fixes = [line for line in out.splitlines() if line.startswith("    fix: ")]
    assert len(problems) == len(fixes) == 4
    assert "    fix: write a whole number" in fixes
    assert "    fix: use a value at most 100" in fixes
    assert "    fix: write true or false" in fixes


def test_the_format_s_own_rules_say_how_to_fix_them_too(suite: Suite) -> None:
    suite.write(
        "t.amigo.yaml",
        """
        metrics:
          - name: Score
            description: d
            metric_value: {type: numerical, lower_bound: 10, upper_bound: 1}
          - name: Outcome
            description: d
            metric_value: {type: categorical, categories: [a, a]}
        simulation_unit_tests:
          - name: t
            persona: {name: S, background: b}
            scenario: {name: s, objective: o, instructions: i}
            target: {python: "agent:respond"}
            metrics: [{metric: Outcome}]
        """,
    )
    out = collection_error(suite)
    problems = [line for line in out.splitlines() if line.startswith("t.amigo.yaml:")]
    fixes = [line for line in out.splitlines() if line.startswith("    fix: ")]
    assert len(problems) == len(fixes) == 3, out
    assert "    fix: list each category once" in fixes
    assert any("expect: [resolved, escalated]" in fix for fix in fixes)


def test_a_misspelt_expect_is_an_unknown_key_with_the_close_one(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(expectations=["{metric: Outcome, expected: resolved}"])
    out = collection_error(suite)
    assert "metrics[0].expected: unknown key 'expected'" in out
    assert "did you mean `expect`?" in out
    assert "`expect` is required" not in out and "required field is missing" not in out


def test_amigo_target_needs_a_service_id_of_24_hex(suite: Suite) -> None:
    suite.standard()
    suite.write(
        "t.amigo.yaml",
        """
        simulation_unit_tests:
          - name: on amigo
            persona: {name: S, background: b}
            scenario: {name: s, objective: o, instructions: i}
            target:
              amigo: {service_id: "SERVICE-1", version_st: release}
            metrics: [{metric: Outcome, expect: resolved}]
        """,
    )
    out = collection_error(suite)
    assert "t.amigo.yaml:6: simulation_unit_tests[0].target.amigo.service_id:" in out
    assert "service ids are 24 lowercase hex characters" in out
    assert "did you mean `version_set`?" in out
