"""`validate`: pytest's own collection of the suite files, in this process, with a small plugin
that keeps it to suite files, so rootdir, ini files, testpaths, norecursedirs and
`amigo_file_pattern` behave as in a pytest run and the messages are the ones pytest shows.
Collection never calls a model or an API and never imports litellm."""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from warnings import WarningMessage

import pytest

from .cli_exit_codes import (
    EXIT_INTERNAL_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
)

if TYPE_CHECKING:
    from .items import SimulationItem

VALIDATE_EPILOG = f"""\
exit codes:
  {EXIT_OK}  every suite file is valid
  {EXIT_PROBLEMS}  problems were found (printed as file:line: field: message, then the fix)
  {EXIT_INTERRUPTED}  wrong arguments, or the collection was interrupted
  {EXIT_INTERNAL_ERROR}  internal error
  {EXIT_USAGE}  usage error: a path that does not exist or is not a suite file, a bad pytest
     configuration or results store
"""


def configure_validate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files or directories to check, as given to pytest (default: testpaths, or the "
        "current directory)",
    )


@dataclass(frozen=True)
class Problem:
    nodeid: str
    text: str

    @property
    def located(self) -> bool:
        """Whether the text is the plugin's own file:line problems (else, e.g., a traceback)."""
        lines = self.text.splitlines()
        return bool(lines) and all(_PROBLEM_HEAD.match(ln) or ln.startswith(_MORE) for ln in lines)

    @property
    def count(self) -> int:
        heads = sum(1 for ln in self.text.splitlines() if _PROBLEM_HEAD.match(ln))
        return heads if self.located else 1

    def format(self) -> str:
        return self.text if self.located else f"ERROR collecting {self.nodeid or '.'}\n{self.text}"


_PROBLEM_HEAD = re.compile(r"^\S.*:\d+: ")
_MORE = "    "  # a problem's further lines: `fix: ...`, `looked in: ...`


@dataclass(eq=False)  # pluggy keeps plugins in sets: hashed by identity
class ValidatePlugin:
    """Registered with pytest for `validate`: only suite files are collected (no test module is
    imported) and the collection's errors and warnings are kept instead of printed."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    suite_files: set[str] = field(default_factory=set)
    not_suite_files: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    tests: int = 0
    metrics: int = 0
    collected: list[SimulationItem] = field(default_factory=list)

    @pytest.hookimpl(tryfirst=True)  # before the plugin's own check of the store
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from .state import get_session

        amigo = get_session(session.config)
        amigo.read_only = True
        self.patterns = list(amigo.settings.file_patterns)

    def pytest_ignore_collect(self, collection_path: Path) -> bool | None:
        """Files that are not suite files are not even looked at, but for a near miss
        (`support.amigo.yml`), which the plugin warns about as in a pytest run; directories
        are up to pytest."""
        from .suite.warnings import near_miss

        name = collection_path.name
        if collection_path.is_file() and not self.is_suite(name):
            return None if near_miss(name, self.patterns) else True
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> pytest.CollectReport | None:
        """A file named on the command line is collected even when ignored: still, no module is
        imported and no other plugin's collector runs."""
        from .items import SuiteFile

        if not isinstance(collector, pytest.File) or isinstance(collector, SuiteFile):
            return None
        if collector.session.isinitpath(collector.path):
            self.not_suite_files.append(collector.nodeid)
        return pytest.CollectReport(collector.nodeid, "passed", None, [])

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        path = report.nodeid.split("::", 1)[0]
        if path and self.is_suite(PurePosixPath(path).name):
            self.suite_files.add(path)
        if report.failed:
            self.problems.append(Problem(report.nodeid, report.longreprtext))

    def pytest_warning_recorded(self, warning_message: WarningMessage, nodeid: str) -> None:
        message = str(warning_message.message).strip()
        text = f"warning: {warning_message.category.__name__}: {message}"
        self.warnings.append(f"{text} ({nodeid})" if nodeid else text)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Every test, before those with problems are left out: their models are checked too,
        so that one run of `validate` finds all of a test's problems."""
        from .items import SimulationItem

        self.collected = [item for item in items if isinstance(item, SimulationItem)]

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        from .items import SimulationItem
        from .state import get_session

        tests = [item for item in session.items if isinstance(item, SimulationItem)]
        self.tests = len(tests)
        self.metrics = len(get_session(session.config).registry.metrics)
        self.check_models(session.config, self.collected)

    def check_models(self, config: pytest.Config, tests: Sequence[SimulationItem]) -> None:
        """Model names no litellm provider accepts, as a pytest run finds them after its
        collection (which --collect-only skips), once per declaration."""
        from .models.llm import is_offline
        from .roles import live_models, model_problems
        from .state import get_session

        settings = get_session(config).settings
        seen: set[str] = set()
        for item in tests:
            live = live_models(settings, item.unit_test).values()
            if all(is_offline(endpoint.model) for endpoint in live):
                continue  # the built-in provider's: checking them would import litellm for nothing
            for problem in model_problems(settings, item.unit_test, item.path):
                text = problem.format(config.rootpath)
                if text not in seen:
                    seen.add(text)
                    self.problems.append(Problem(item.nodeid, text))

    def is_suite(self, name: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in self.patterns)

    @property
    def problem_count(self) -> int:
        return sum(p.count for p in self.problems)

    def summary(self) -> str:
        found = _plural(self.problem_count, "problem") if self.problems else "no problems"
        line = (
            f"{_plural(len(self.suite_files), 'suite file')} checked: "
            f"{_plural(self.tests, 'test')}, {_plural(self.metrics, 'metric')}; {found}"
        )
        return line + (f", {_plural(len(self.warnings), 'warning')}" if self.warnings else "")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def collect(paths: Sequence[str]) -> tuple[int, ValidatePlugin]:
    """pytest's collection of suite files, in this process, silent; (pytest's exit code, what
    the validate plugin saw)."""
    plugin = ValidatePlugin()
    args = ["--collect-only", "-p", "no:cacheprovider", "-p", "no:terminal", "-o", "addopts="]
    # No test runs, so no assert needs rewriting; and pytest does not warn that this package,
    # imported already, cannot be rewritten (it marks it for an editable install).
    args += ["--assert=plain"]
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        args += ["-p", "pytest_amigo_metrics.plugin"]
    code = pytest.main([*args, *paths], plugins=[plugin])
    return int(code), plugin


def run_validate(args: argparse.Namespace) -> int:
    code, plugin = collect(args.paths)
    if code in (EXIT_USAGE, EXIT_INTERNAL_ERROR):  # pytest has printed why, on stderr
        return code
    if plugin.not_suite_files:
        patterns = " ".join(plugin.patterns)
        for nodeid in plugin.not_suite_files:
            print(
                f"error: {nodeid}: not a suite file (amigo_file_pattern: {patterns})",
                file=sys.stderr,
            )
        return EXIT_USAGE
    for problem in plugin.problems:
        print(problem.format())
    for warning in plugin.warnings:
        print(warning)
    print(plugin.summary())
    if plugin.problems:
        return EXIT_PROBLEMS
    if code == EXIT_INTERRUPTED:
        print("error: the collection was interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK
