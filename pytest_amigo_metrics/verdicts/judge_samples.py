"""Several answers of the judge to one metric, combined into one value.

boolean and categorical: the majority; a tie goes to the value listed first in the metric's
value space (false before true, categories in their declared order), `null` (not applicable)
last. numerical: the median of the numbers, or `null` when more samples said null than gave
a number. Agreement is the share of samples equal to the combined value (numerical: within a
tenth of the metric's range of the median).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ..suite.metrics import JudgeValue
from ..suite.spec import (
    BooleanMetricValue,
    CategoricalMetricValue,
    MetricValue,
    NumericalMetricValue,
)

# Below this share of agreeing samples, reports flag the verdict as uncertain.
LOW_AGREEMENT = 0.8
# Share of a numerical metric's range within which a sample agrees with the median.
NUMERICAL_TOLERANCE = 0.1
# Sampled answers must be able to differ: the judge samples at this temperature, with the
# sample's index as seed (a single evaluation stays at temperature 0).
SAMPLE_TEMPERATURE = 0.7


@dataclass(frozen=True)
class Combined:
    value: JudgeValue
    agreement: float
    chosen: int  # the sample whose justification and references the verdict keeps


def combine(metric_value: MetricValue, values: Sequence[JudgeValue]) -> Combined:
    if not values:
        raise ValueError("no samples to combine")
    if isinstance(metric_value, NumericalMetricValue):
        tolerance = NUMERICAL_TOLERANCE * (metric_value.upper_bound - metric_value.lower_bound)
        return _median(values, tolerance)
    return _majority(values, _value_order(metric_value))


def is_low(agreement: float | None) -> bool:
    return agreement is not None and agreement < LOW_AGREEMENT


def _value_order(metric_value: MetricValue) -> list[JudgeValue]:
    if isinstance(metric_value, BooleanMetricValue):
        return [False, True]
    if isinstance(metric_value, CategoricalMetricValue):
        return list(metric_value.categories)
    return []


def _majority(values: Sequence[JudgeValue], order: list[JudgeValue]) -> Combined:
    counts = Counter(values)
    most = max(counts.values())
    tied = [v for v, n in counts.items() if n == most]
    value = min(tied, key=lambda v: order.index(v) if v in order else len(order))
    return Combined(value, most / len(values), _first(values, value))


def _median(values: Sequence[JudgeValue], tolerance: float) -> Combined:
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    nulls = len(values) - len(numbers)
    if nulls > len(numbers):
        return Combined(None, nulls / len(values), _first(values, None))
    median = statistics.median(numbers)
    whole = all(isinstance(v, int) for v in values if v is not None) and median.is_integer()
    value: JudgeValue = int(median) if whole else median
    near = [v is not None and abs(float(v) - median) <= tolerance + 1e-9 for v in values]
    distances = [abs(float(v) - median) if v is not None else float("inf") for v in values]
    return Combined(value, sum(near) / len(values), distances.index(min(distances)))


def _first(values: Sequence[JudgeValue], value: JudgeValue) -> int:
    """The index of the first sample equal to `value` (True is not 1 here)."""
    return next(
        i
        for i, v in enumerate(values)
        if v == value and isinstance(v, bool) is isinstance(value, bool)
    )
