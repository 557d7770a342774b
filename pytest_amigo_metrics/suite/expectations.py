"""What a metric must show: parsed from a test's `expect`, checked against a metric's type."""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import bounded_repr
from .metrics import JudgeValue, format_value
from .spec import (
    BooleanMetricValue,
    CategoricalMetricValue,
    MetricSpec,
    MetricValue,
    NumericalMetricValue,
)

VERBS: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}
_COMPARE = re.compile(r"^\s*(==|!=|<=|>=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$")
_BETWEEN = re.compile(
    r"^\s*between\s+(-?\d+(?:\.\d+)?)\s+and\s+(-?\d+(?:\.\d+)?)\s*$", re.IGNORECASE
)


def numerical_forms(low: float, high: float) -> str:
    """The forms of a numerical expectation, with thresholds inside [low, high] (on 1 to 10:
    '>= 7', '< 3', '== 5', 'between 4 and 6'), so that the example in a fix is valid."""
    span = high - low
    if not (math.isfinite(span) and span > 0 and max(abs(low), abs(high)) < 1e15):
        # Examples in plain decimals would be absurd (or overflow): the forms alone.
        return (
            "'>= N', '< N', '== N', 'between N and M', {verb: '>=', threshold: N} "
            "(N and M plain decimal numbers)"
        )
    whole = low == int(low) and high == int(high) and span >= 4
    digits = 0 if whole else -math.floor(math.log10(span / 10))  # decimals of a step
    step = 10.0**-digits

    def at(share: float) -> str:  # plain decimals: the forms take no exponent
        value = math.floor((low + share * span) / step + 0.5) * step
        return f"{value + 0.0:.{max(digits, 0)}f}"

    above, below, equal, start, end = at(0.7), at(0.25), at(0.45), at(0.35), at(0.55)
    return (
        f"'>= {above}', '< {below}', '== {equal}', 'between {start} and {end}', "
        f"{{verb: '>=', threshold: {above}}}"
    )


class ExpectationError(ValueError):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Expectation:
    """A predicate over a judge value; `None` (not applicable) passes only when allowed."""

    text: str
    test: Callable[[Any], bool]
    allow_not_applicable: bool = False

    def met_by(self, value: JudgeValue) -> bool:
        return self.allow_not_applicable if value is None else self.test(value)

    def describe(self) -> str:
        return self.text + (" (or n/a)" if self.allow_not_applicable else "")


@dataclass(frozen=True)
class BoundExpectation:
    """An expectation tied to the metric definition it names (not yet to a stored version)."""

    metric: MetricSpec
    expectation: Expectation
    up_to_turn: int | None = None


def parse_expectation(raw: Any, metric_value: MetricValue, allow_na: bool = False) -> Expectation:
    if isinstance(metric_value, BooleanMetricValue):
        return _boolean(raw, allow_na)
    if isinstance(metric_value, CategoricalMetricValue):
        return _categorical(raw, metric_value, allow_na)
    return _numerical(raw, metric_value, allow_na)


def _boolean(raw: Any, allow_na: bool) -> Expectation:
    if not isinstance(raw, bool):
        raise ExpectationError(
            f"a boolean metric expects true or false, got {bounded_repr(raw)}",
            "write `expect: true` or `false`",
        )
    return Expectation(format_value(raw), lambda v: v is raw, allow_na)


def _categorical(raw: Any, metric_value: CategoricalMetricValue, allow_na: bool) -> Expectation:
    allowed = [raw] if isinstance(raw, str) else raw
    hint = f"use one category or a list of them from: {', '.join(metric_value.categories)}"
    if not isinstance(allowed, list) or not allowed or not all(isinstance(c, str) for c in allowed):
        raise ExpectationError(
            f"a categorical metric expects categories, got {bounded_repr(raw)}", hint
        )
    unknown = [c for c in allowed if c not in metric_value.categories]
    if unknown:
        named = ", ".join(bounded_repr(c) for c in unknown)
        close = [difflib.get_close_matches(c, metric_value.categories, n=1) for c in unknown]
        if all(close):
            hint = f"did you mean {', '.join(repr(c[0]) for c in close)}? {hint}"
        raise ExpectationError(f"unknown categor{'ies' if len(unknown) > 1 else 'y'} {named}", hint)
    accepted = frozenset(allowed)
    text = allowed[0] if len(allowed) == 1 else "in [" + ", ".join(allowed) + "]"
    return Expectation(text, lambda v: v in accepted, allow_na)


def _numerical(raw: Any, metric_value: NumericalMetricValue, allow_na: bool) -> Expectation:
    low, high = metric_value.lower_bound, metric_value.upper_bound
    forms = numerical_forms(low, high)
    hint = f"write it as one of {forms}, with thresholds within [{low:g}, {high:g}]"
    verb, threshold, between = _numerical_parts(raw, hint)
    if between is not None:
        lo, hi = between
        if lo > hi:
            raise ExpectationError(f"'between {lo:g} and {hi:g}' has its bounds reversed", hint)
        _within(lo, metric_value, hint)
        _within(hi, metric_value, hint)
        return Expectation(f"between {lo:g} and {hi:g}", lambda v: lo <= v <= hi, allow_na)
    assert verb is not None and threshold is not None
    _within(threshold, metric_value, hint)
    if (verb == ">" and threshold >= high) or (verb == "<" and threshold <= low):
        raise ExpectationError(
            f"'{verb} {threshold:g}' can never be met within [{low:g}, {high:g}]", hint
        )
    compare = VERBS[verb]
    return Expectation(f"{verb} {threshold:g}", lambda v: compare(v, threshold), allow_na)


def _numerical_parts(
    raw: Any, hint: str
) -> tuple[str | None, float | None, tuple[float, float] | None]:
    if isinstance(raw, str):
        if match := _COMPARE.match(raw):
            return match[1], float(match[2]), None
        if match := _BETWEEN.match(raw):
            return None, None, (float(match[1]), float(match[2]))
    if isinstance(raw, dict):
        keys = set(raw)
        if keys == {"verb", "threshold"} and raw["verb"] in VERBS and _is_number(raw["threshold"]):
            return str(raw["verb"]), float(raw["threshold"]), None
        if keys == {"between"} and isinstance(raw["between"], list) and len(raw["between"]) == 2:
            lo, hi = raw["between"]
            if _is_number(lo) and _is_number(hi):
                return None, None, (float(lo), float(hi))
    raise ExpectationError(f"not a numerical expectation: {bounded_repr(raw)}", hint)


def _is_number(value: Any) -> bool:
    """A finite number as YAML wrote it (true is not 1, and .nan or .inf is no threshold)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _within(threshold: float, metric_value: NumericalMetricValue, hint: str) -> None:
    if not metric_value.lower_bound <= threshold <= metric_value.upper_bound:
        raise ExpectationError(
            f"threshold {threshold:g} is outside the metric's bounds "
            f"[{metric_value.lower_bound:g}, {metric_value.upper_bound:g}]",
            hint,
        )
