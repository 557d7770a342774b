"""Metric definitions: the session registry, value validation and versioning identity."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SpecProblem, bounded_repr, shown_path
from ..ids import stable_id
from .loader import LocatedMetric
from .spec import (
    BooleanMetricValue,
    CategoricalMetricValue,
    MetricSpec,
    MetricValue,
    NumericalMetricValue,
)

JudgeValue = bool | int | float | str | None


def metric_id_for(name: str) -> str:
    """Metric ids are derived from the name, so they are stable across sessions and stores."""
    return stable_id("metric", name)


def version_fingerprint(spec: MetricSpec) -> str:
    """What makes a new version: the description and the value specifiers."""
    return json.dumps(
        {"description": spec.description, "metric_value": spec.metric_value.model_dump()},
        sort_keys=True,
    )


def value_problem(metric_value: MetricValue, value: object) -> str | None:
    """Why `value` is not a valid result of the metric, or None if it is. None = not applicable."""
    if value is None:
        return None
    if isinstance(metric_value, BooleanMetricValue):
        return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
    if isinstance(metric_value, NumericalMetricValue):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number, got {value!r}"
        low, high = metric_value.lower_bound, metric_value.upper_bound
        if not low <= value <= high:
            return f"{_number(value)} is outside the bounds [{low:g}, {high:g}]"
        return None
    if not isinstance(value, str) or value not in metric_value.categories:
        return f"expected one of {metric_value.categories}, got {value!r}"
    return None


def _number(value: int | float) -> str:
    """A number for a message; an integer too large for a float (a judge may answer one with
    hundreds of digits) is not shown."""
    try:
        return f"{value:g}"
    except OverflowError:
        return "an integer too large for a float"


def value_range(metric_value: MetricValue) -> tuple[float, float] | None:
    """A numerical metric's [lower_bound, upper_bound]; None for the other types."""
    if isinstance(metric_value, NumericalMetricValue):
        return metric_value.lower_bound, metric_value.upper_bound
    return None


def describe_value_space(metric_value: MetricValue) -> str:
    if isinstance(metric_value, NumericalMetricValue):
        return f"a number from {metric_value.lower_bound:g} to {metric_value.upper_bound:g}"
    if isinstance(metric_value, CategoricalMetricValue):
        return "one of: " + ", ".join(metric_value.categories)
    return "true or false"


def format_value(value: JudgeValue) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@dataclass
class MetricRegistry:
    """Metrics declared by every suite file of the session, by name."""

    root: Path
    metrics: dict[str, LocatedMetric] = field(default_factory=dict)
    rejected: set[str] = field(default_factory=set)

    def add(self, located: LocatedMetric) -> SpecProblem | None:
        name = located.spec.name
        earlier = self.metrics.get(name)
        if earlier is not None and earlier.path == located.path and earlier.line == located.line:
            return None
        if earlier is not None:
            return SpecProblem(
                located.path,
                located.line,
                located.field("name"),
                f"metric {bounded_repr(name)} is already declared at {self._where(earlier)}",
                "declare each metric once per project and reference it by name from any file; "
                "if one of the files belongs to another project, keep it out of the search with "
                "`testpaths` or `norecursedirs`",
            )
        self.metrics[name] = located
        return None

    def _where(self, located: LocatedMetric) -> str:
        return f"{shown_path(located.path, self.root)}:{located.line}"

    def reject(self, located: LocatedMetric) -> None:
        """A declaration with errors: tests that use it get a pointer to those errors."""
        if self.metrics.get(located.spec.name) is not located:
            self.rejected.add(located.spec.name)

    def get(self, name: str) -> LocatedMetric | None:
        return self.metrics.get(name)

    def names(self) -> list[str]:
        return sorted(self.metrics)
