"""pytest nodes: a YAML suite file and one item per simulation unit test."""

from __future__ import annotations

from collections.abc import Iterator
from operator import attrgetter
from typing import Any

import pytest
from _pytest._code.code import TerminalRepr, TracebackStyle

from .errors import AmigoRunError, SpecError
from .redact import redact
from .report.failure import error_text, failure_text
from .report.junit import junit_properties
from .state import get_session
from .suite.expectations import BoundExpectation
from .suite.spec import UnitTest
from .suite.warnings import warn_empty
from .targets.import_check import python_target_problems
from .verdicts.outcomes import TestOutcome


class SuiteFile(pytest.File):
    def collect(self) -> Iterator[SimulationItem]:
        session = get_session(self.config)
        suite = session.catalog.collect(self.path)
        if not suite.tests and not suite.metrics:
            warn_empty(self.path)
        session.expect_model_calls(suite.tests)
        problems = python_target_problems(suite, session.rootpath)
        if problems:  # the file is an error: with its tests' other problems, all in one go
            problems += session.binding_problems(suite)
            raise SpecError(sorted(problems, key=attrgetter("line")))
        for test in suite.tests:
            yield SimulationItem.from_parent(self, name=test.name, unit_test=test)

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: TracebackStyle | None = None
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, SpecError):
            return excinfo.value.format(self.config.rootpath)
        return super().repr_failure(excinfo)


class SimulationItem(pytest.Item):
    """Conversations and judgements run in setup, so an infrastructure or judge failure is an
    ERROR; the call phase asserts the expectations, so a quality miss is a FAILURE."""

    def __init__(self, *, unit_test: UnitTest, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.unit_test = unit_test
        self.checks: list[BoundExpectation] = []
        self.outcome: TestOutcome | None = None
        self.add_marker("amigo")

    def setup(self) -> None:
        session = get_session(self.config)
        try:
            self.outcome = session.outcome_of(self)
        except AmigoRunError as exc:  # before any run: e.g. no Amigo credentials
            text = f"simulation unit test {self.name!r} could not start: {exc}"
            pytest.fail(redact(text), pytrace=False)
        self.user_properties.extend(junit_properties(self.outcome))
        if self.outcome.status == "error":
            pytest.fail(error_text(self.outcome), pytrace=False)

    def runtest(self) -> None:
        assert self.outcome is not None
        if self.outcome.status == "failed":
            pytest.fail(failure_text(self.outcome), pytrace=False)

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.path, self.unit_test.line - 1, f"simulation unit test: {self.name}"
