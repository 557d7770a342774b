"""Bad input ends in the plugin's own located error, never anything else: a generated battery
over every field of a real suite, and arbitrary documents (hypothesis)."""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_amigo_metrics.errors import SpecError
from pytest_amigo_metrics.suite.catalog import Blocked, Catalog
from pytest_amigo_metrics.suite.loader import LoadedSuite

SUITE: dict[str, Any] = {
    "defaults": {"target": {"python": "agent:respond"}, "max_turns": 4, "runs": 2},
    "metrics": [
        {
            "name": "Empathy",
            "description": "Was the agent warm?",
            "metric_value": {"type": "numerical", "lower_bound": 1, "upper_bound": 10},
            "tags": {"team": "support"},
        },
        {
            "name": "Outcome",
            "description": "How did it end?",
            "metric_value": {"type": "categorical", "categories": ["resolved", "escalated"]},
        },
    ],
    "simulation_unit_tests": [
        {
            "name": "reset",
            "persona": {"name": "Sam", "background": "Busy."},
            "scenario": {"name": "Reset", "objective": "Reset.", "instructions": "Be brief."},
            "script": ["hi", "thanks"],
            "min_pass_rate": 0.5,
            "models": {"judge": {"model": "openai/gpt-4o-mini", "api_base": "http://x/v1"}},
            "metrics": [
                {"metric": "Empathy", "expect": ">= 7", "up_to_turn": 1},
                {"metric": "Outcome", "expect": ["resolved"], "allow_not_applicable": True},
            ],
        }
    ],
}
BAD_VALUES: list[Any] = [
    None,
    "",
    "   ",
    True,
    -1,
    0,
    10**12,
    1.5,
    float("nan"),
    float("inf"),
    [],
    {},
    [None],
    {"unexpected": 1},
    "x" * 5000,
    "\u202e reversed",
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _replaced(path: tuple[Any, ...], bad: Any) -> dict[str, Any]:
    document = copy.deepcopy(SUITE)
    node: Any = document
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = bad
    return document


CASES = [(path, bad) for path in _paths(SUITE) for bad in BAD_VALUES]


def check(tmp_path: Path, text: str) -> None:
    """Load as collection does (file, metrics, bindings): a suite or SpecError, nothing else;
    every problem has a line and says what is wrong."""
    suite_file = tmp_path / "t.amigo.yaml"
    suite_file.write_text(text, encoding="utf-8")
    catalog = Catalog(tmp_path)
    try:
        loaded = catalog.collect(suite_file)
    except SpecError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.line >= 1 and problem.message
            assert len(problem.format()) < 2000, "messages stay short whatever the value"
        return
    assert isinstance(loaded, LoadedSuite)
    for test in loaded.tests:
        with contextlib.suppress(Blocked):  # a broken declaration: reported with its file
            catalog.bind(test, suite_file)


def test_the_battery_has_enough_cases() -> None:
    assert len(CASES) >= 100


@pytest.mark.parametrize(("path", "bad"), CASES, ids=lambda v: repr(v)[:40])
def test_every_field_with_every_bad_value(tmp_path: Path, path: tuple[Any, ...], bad: Any) -> None:
    check(tmp_path, yaml.safe_dump(_replaced(path, bad), allow_unicode=True))


KEYS = st.sampled_from(
    [
        "metrics",
        "simulation_unit_tests",
        "defaults",
        "name",
        "description",
        "metric_value",
        "type",
        "numerical",
        "expect",
        "metric",
        "target",
        "python",
        "runs",
        "<<",
        "persona",
    ]
) | st.text(max_size=8)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=30,
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=DOCUMENTS)
def test_arbitrary_documents_end_only_in_the_plugins_own_error(
    tmp_path: Path, document: Any
) -> None:
    check(tmp_path, yaml.safe_dump(document, allow_unicode=True))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=200))
def test_arbitrary_text_ends_only_in_the_plugins_own_error(tmp_path: Path, text: str) -> None:
    check(tmp_path, text)
