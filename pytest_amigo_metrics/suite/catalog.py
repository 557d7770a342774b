"""The project's suite files and the metrics they declare, each file loaded once per process.

A file's problems are kept with it: pytest reports them when it collects the file, and the
plugin reports them once for a file it found but pytest did not collect (a single-file run,
a node id, `--lf`). Tests that use a metric whose declaration is broken are not reported
again: the declaring file's own error says what to fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SpecError, SpecProblem, bounded_repr
from .expectations import BoundExpectation, ExpectationError, parse_expectation
from .loader import LoadedSuite, LocatedMetric, load_suite
from .metrics import MetricRegistry
from .spec import UnitTest

# Why a declaration cannot be used, found before the run (e.g. a value type the store holds
# differently); None when it can.
DeclarationCheck = Callable[[LocatedMetric], SpecProblem | None]


class Blocked(Exception):
    """A test uses a metric whose declaring file has errors: that file's error is the report."""


@dataclass
class Catalog:
    root: Path
    check: DeclarationCheck = lambda located: None
    registry: MetricRegistry = field(init=False)
    _loaded: dict[Path, LoadedSuite | SpecError] = field(default_factory=dict)
    _reported: set[Path] = field(default_factory=set)
    _unreadable: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.registry = MetricRegistry(root=self.root)

    def load(self, path: Path) -> LoadedSuite | SpecError:
        """The file's suite, or its problems; its metrics join the registry (once)."""
        path = path.resolve()
        if path not in self._loaded:
            self._loaded[path] = self._read(path)
        return self._loaded[path]

    def collect(self, path: Path) -> LoadedSuite:
        """For pytest's collection of the file: its suite, or SpecError (reported by pytest)."""
        loaded = self.load(path)
        self._reported.add(path.resolve())
        if isinstance(loaded, SpecError):
            raise loaded
        return loaded

    def unreported(self) -> list[SpecError]:
        """Problems of files that were loaded (found by the project-wide search) but that
        pytest did not collect, so nobody has reported them yet."""
        return [
            loaded
            for path, loaded in self._loaded.items()
            if isinstance(loaded, SpecError) and path not in self._reported
        ]

    def _read(self, path: Path) -> LoadedSuite | SpecError:
        try:
            suite = load_suite(path)
        except SpecError as exc:
            if exc.metric_names is None:
                self._unreadable.append(path)
            self.registry.rejected.update(exc.metric_names or ())
            return exc
        problems: list[SpecProblem] = []
        for metric in suite.metrics:
            problem = self.check(metric) or self.registry.add(metric)
            if problem is not None:
                self.registry.reject(metric)
                problems.append(problem)
        if problems:
            return SpecError(problems, tuple(m.spec.name for m in suite.metrics))
        return suite

    def bind(self, test: UnitTest, path: Path) -> tuple[list[BoundExpectation], list[SpecProblem]]:
        """Each expectation bound to its metric, and every problem found. Raises Blocked when
        a metric it uses is declared with errors elsewhere."""
        checks: list[BoundExpectation] = []
        problems: list[SpecProblem] = []
        for index in range(len(test.metrics)):
            check = self._bind(test, index, path)
            if isinstance(check, SpecProblem):
                problems.append(check)
            else:
                checks.append(check)
        return checks, problems

    def _bind(self, test: UnitTest, index: int, path: Path) -> BoundExpectation | SpecProblem:
        expected = test.metrics[index]
        line = test.expect_lines[index]
        field_name = f"simulation_unit_tests[{bounded_repr(test.name)}].metrics[{index}]"
        located = self.registry.get(expected.metric)
        if located is None:
            if expected.metric in self.registry.rejected or self._unreadable:
                raise Blocked(expected.metric)
            return SpecProblem(
                path,
                line,
                field_name + ".metric",
                f"unknown metric {bounded_repr(expected.metric)}",
                self._unknown_metric_hint(expected.metric),
            )
        try:
            expectation = parse_expectation(
                expected.expect, located.spec.metric_value, expected.allow_not_applicable
            )
        except ExpectationError as exc:
            return SpecProblem(
                path,
                line,
                field_name + ".expect",
                f"{exc} (metric {bounded_repr(expected.metric)} is "
                f"{located.spec.metric_value.type})",
                exc.hint,
            )
        turns = len(test.script) if test.script else test.max_turns
        if expected.up_to_turn is not None and expected.up_to_turn > turns:
            return SpecProblem(
                path,
                line,
                field_name + ".up_to_turn",
                f"turn {expected.up_to_turn} never comes: the test has at most {turns} user turns",
                f"use an up_to_turn from 1 to {turns}, or drop it to judge the whole conversation",
            )
        return BoundExpectation(located.spec, expectation, expected.up_to_turn)

    def _unknown_metric_hint(self, name: str) -> str:
        names = self.registry.names()
        if not names:
            return (
                "declare it under `metrics:` in a suite file of the project "
                "(no suite file of this project declares any metric)"
            )
        folded = {n.casefold(): n for n in names}
        close = [folded[name.casefold()]] if name.casefold() in folded else []
        near = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        close += [n for n in near if n not in close]
        suggestion = f"did you mean {' or '.join(repr(n) for n in close)}? " if close else ""
        listed = ", ".join(names) if len(names) <= 12 else f"{len(names)} metrics"
        return (
            f"{suggestion}metrics are declared under `metrics:` in any suite file of the "
            f"project; declared: {listed}"
        )
