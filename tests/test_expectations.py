"""Expectation semantics, as plain functions."""

from __future__ import annotations

import re

import pytest

from pytest_amigo_metrics.suite.expectations import ExpectationError, parse_expectation
from pytest_amigo_metrics.suite.spec import (
    BooleanMetricValue,
    CategoricalMetricValue,
    NumericalMetricValue,
)

SCORE = NumericalMetricValue(type="numerical", lower_bound=1, upper_bound=10)
OUTCOME = CategoricalMetricValue(type="categorical", categories=["resolved", "escalated"])
FLAG = BooleanMetricValue(type="boolean")


@pytest.mark.parametrize(
    ("raw", "meets", "misses"),
    [
        (">= 7", [7, 7.5, 10], [6.99, 1]),
        ("> 7", [7.01, 10], [7]),
        ("<= 3", [1, 3], [3.01]),
        ("< 3", [2.9], [3]),
        ("== 5", [5, 5.0], [5.1]),
        ("!= 5", [4, 6], [5]),
        ("between 4 and 6", [4, 5, 6], [3.99, 6.01]),
        ("  >=7 ", [7], [6]),
        ({"verb": ">=", "threshold": 7}, [7], [6]),
        ({"between": [4, 6]}, [4, 6], [7]),
    ],
)
def test_numerical_forms(raw: object, meets: list[float], misses: list[float]) -> None:
    expectation = parse_expectation(raw, SCORE)
    assert all(expectation.met_by(v) for v in meets)
    assert not any(expectation.met_by(v) for v in misses)
    assert not expectation.met_by(None)


def test_not_applicable_passes_only_when_allowed() -> None:
    assert parse_expectation("resolved", OUTCOME, allow_na=True).met_by(None)
    assert not parse_expectation("resolved", OUTCOME).met_by(None)


def test_categorical_one_or_many() -> None:
    one = parse_expectation("resolved", OUTCOME)
    assert one.met_by("resolved") and not one.met_by("escalated") and one.describe() == "resolved"
    many = parse_expectation(["resolved", "escalated"], OUTCOME)
    assert many.met_by("escalated") and many.describe() == "in [resolved, escalated]"


def test_boolean_is_exact() -> None:
    expectation = parse_expectation(True, FLAG)
    assert expectation.met_by(True) and not expectation.met_by(False)
    assert not expectation.met_by(1), "1 is not true: judge values are never coerced"


@pytest.mark.parametrize(
    ("raw", "metric_value"),
    [
        (7, SCORE),
        (">= 0", SCORE),
        ("< 1", SCORE),
        ("~ 5", SCORE),
        ({"verb": ">=", "threshold": True}, SCORE),
        ({"between": [1]}, SCORE),
        ([], OUTCOME),
        (["resolved", 3], OUTCOME),
        ("true", FLAG),
        (None, FLAG),
    ],
)
def test_rejected_forms_say_how_to_write_them(raw: object, metric_value: object) -> None:
    with pytest.raises(ExpectationError) as caught:
        parse_expectation(raw, metric_value)  # type: ignore[arg-type]
    assert caught.value.hint


@pytest.mark.parametrize(
    ("low", "high"),
    [(1, 10), (0, 5), (0, 1), (1, 3), (-1, 1), (0, 1000), (0, 0.001), (2.5, 7.5), (1e-9, 2e-9)],
)
def test_the_fix_for_a_numerical_expectation_shows_forms_within_the_bounds(
    low: float, high: float
) -> None:
    """The fix's examples are valid expectations for that metric: on 0 to 5, no '>= 7'."""
    metric_value = NumericalMetricValue(type="numerical", lower_bound=low, upper_bound=high)
    with pytest.raises(ExpectationError) as caught:
        parse_expectation("~ 1", metric_value)
    hint = caught.value.hint
    forms = re.findall(r"'([^']*\d[^']*)'", hint)
    assert len(forms) == 4, hint
    threshold = re.search(r"threshold: (-?[\d.]+)\}", hint)
    assert threshold, hint
    for form in [*forms, {"verb": ">=", "threshold": float(threshold[1])}]:
        parse_expectation(form, metric_value)  # raises if the example is not valid here


@pytest.mark.parametrize(("low", "high"), [(-1e308, 1e308), (0, 1e300)])
def test_the_fix_for_bounds_too_wide_for_examples_names_the_forms(low: float, high: float) -> None:
    metric_value = NumericalMetricValue(type="numerical", lower_bound=low, upper_bound=high)
    with pytest.raises(ExpectationError) as caught:  # not an OverflowError, no 300 digits
        parse_expectation("~ 1", metric_value)
    assert "'>= N', '< N', '== N', 'between N and M'" in caught.value.hint
