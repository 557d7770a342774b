"""pytest hooks only: each hands over to AmigoSession or to plain functions."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections.abc import Callable, Generator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from .ids import new_id
from .items import SimulationItem, SuiteFile
from .models.llm import finish_background_import
from .once import check_folder, forget
from .redact import redact
from .report.comparison_text import MARKUP, comparison_lines, regression_verdict
from .report.session_report import END_KEY, finish_session, start_session
from .report.terminal import summary_lines
from .rootdir_guard import rootdir_problem
from .runs.shared_limits import forget_limits
from .runs.worker_exit import end_worker_quickly
from .runs.xdist_interrupt import interrupt_workers
from .runs.xdist_queue import queued_items
from .session import AmigoSession
from .settings import add_options, resolve_settings
from .state import SESSION_KEY, get_session
from .suite.collection import prepare_items
from .suite.discovery import matches
from .suite.warnings import near_miss, warn_near_miss
from .verdicts.outcomes import TestOutcome

RUN_ID_KEY = "amigo_simulation_unit_test_set_run_id"
STATUS_MARKUP = {"PASSED": {"green": True}, "FAILED": {"red": True}, "ERROR": {"red": True}}


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "amigo: a simulation unit test from a YAML suite file")
    # Calls cancelled when the session stops early (-x), or a loop closed while litellm's
    # logging worker still held work, leave litellm's coroutines unawaited.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:coroutine '(.*acompletion|Logging\\..*)' was never awaited:RuntimeWarning",
    )
    # litellm's types trip pydantic's `ReadOnly` warnings while its background import warms
    # up: a session stopped then (Ctrl-C during collection) listed dozens in its summary.
    config.addinivalue_line("filterwarnings", "ignore:.*`ReadOnly` qualifier:UserWarning")
    problem = rootdir_problem(config)
    if problem:
        raise pytest.UsageError(problem)
    worker_input: dict[str, Any] = getattr(config, "workerinput", {})
    run_id = worker_input.get(RUN_ID_KEY) or new_id()
    config.stash[SESSION_KEY] = AmigoSession(
        resolve_settings(config), run_id, config.rootpath, config=config
    )
    config.pluginmanager.register(
        OutcomeListener(config.stash[SESSION_KEY]), "amigo-metrics-outcomes"
    )
    if any(config.pluginmanager.hasplugin(n) for n in ("xdist", "xdist.plugin")):
        config.pluginmanager.register(XdistHooks(run_id, config), "amigo-metrics-xdist")
    config.pluginmanager.register(ReportHooks(), "amigo-metrics-reports")
    config.pluginmanager.register(LateOutput(config.stash[SESSION_KEY]), "amigo-metrics-late")


class LateOutput:
    """Between two items (pytest captures nothing then): what runs of finished tests wrote
    since; a sync agent past its turn's time limit goes on in its thread."""

    def __init__(self, amigo: AmigoSession) -> None:
        self.amigo = amigo

    def pytest_runtest_logstart(self) -> None:
        self._show()

    def pytest_runtest_logfinish(self) -> None:
        self._show()

    def _show(self) -> None:
        if self.amigo.output.active:
            self.amigo.output.release_late(self.amigo.terminal)


def pytest_sessionstart(session: pytest.Session) -> None:
    amigo = get_session(session.config)
    amigo.check_store()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    # An xdist worker's terminal reporter writes nowhere: late output goes to its stderr.
    if reporter is not None and not hasattr(session.config, "workerinput"):
        capture = session.config.pluginmanager.get_plugin("capturemanager")
        amigo.terminal = live_writer(reporter, capture)
        if session.config.get_verbosity() >= 0:
            amigo.show = amigo.terminal


def live_writer(reporter: Any, capture: Any) -> Callable[[str], None]:
    """Lines for the terminal as they happen: the item that waits has its output captured."""

    def write(line: str) -> None:
        if capture is None:
            reporter.write_line(line)
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    return write


_PYTEST_MAIN = os.path.join("_pytest", "main.py")


def _sessions_running() -> int:
    """How many pytest sessions this thread is inside: 2 in a pytester in-process run."""
    frame: FrameType | None = sys._getframe()
    count = 0
    while frame is not None:
        code = frame.f_code
        count += code.co_name == "wrap_session" and code.co_filename.endswith(_PYTEST_MAIN)
        frame = frame.f_back
    return count


def pytest_unconfigure(config: pytest.Config) -> None:
    # A session inside another (pytester's in-process runs) leaves its process running on:
    # the import it started is waited for there, not cut short.
    outermost = _sessions_running() <= 1
    finish_background_import(abandon=outermost)
    if outermost:
        # litellm's import leaves about a million objects; pytest's garbage collections at
        # exit and the interpreter's would walk them all (over a second). Nothing of them
        # needs collecting then.
        gc.freeze()
    if SESSION_KEY in config.stash:
        get_session(config).close()
        if not hasattr(config, "workerinput"):  # the controller, or a run without xdist
            forget(get_session(config).run_id)
            forget_limits(get_session(config).run_id)
    if hasattr(config, "workerinput") and "litellm" in sys.modules:
        end_worker_quickly()


@pytest.fixture
def amigo_api() -> Generator[Any, None, None]:
    """A fake Amigo API (pytest_amigo_metrics.testing.FakeAmigoAPI) serving the official SDK:
    pass `transport=amigo_api.transport` to an SDK client; sign-in is routed to it too."""
    from .testing import FakeAmigoAPI

    fake = FakeAmigoAPI()
    with fake.serve_sdk():
        yield fake


class OutcomeListener:
    """Collects outcomes from reports, so the controller sees what xdist workers ran."""

    def __init__(self, amigo: AmigoSession) -> None:
        self.amigo = amigo

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, "amigo_outcome", None)
        if data is not None:
            self.amigo.outcomes.append(TestOutcome.model_validate(data))
        elif report.failed and report.when not in ("setup", "call", "teardown"):
            # xdist reports an item whose worker crashed with when="???" and no outcome.
            self.amigo.lost(report.nodeid, report.longreprtext)


class ReportHooks:
    """The run record, the baseline comparison and the JSON/HTML reports: by the process that
    owns the session (the controller under xdist), at its start and end."""

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        start_session(session.config)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        finish_session(session)

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        end = config.stash.get(END_KEY, None)
        if end is None:
            return
        if end.comparison is not None:
            terminalreporter.ensure_newline()
            terminalreporter.section("amigo baseline")
            for line in comparison_lines(end.comparison, quiet=config.get_verbosity() < 0):
                terminalreporter.write_line(line, **MARKUP.get(line.split(" ", 1)[0], {}))
        for note in end.notes:
            terminalreporter.write_line(note, red=note.startswith(("error", "warning")))
        if end.failed_by_regression and end.comparison is not None:
            terminalreporter.write_line(regression_verdict(end.comparison), red=True, bold=True)


class XdistHooks:
    """Hands the controller's run id to every worker: one set run id per pytest session; and
    a Ctrl-C the controller alone received, at once."""

    def __init__(self, run_id: str, config: pytest.Config) -> None:
        self.run_id = run_id
        self.config = config

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        config = session.config
        if config.pluginmanager.hasplugin("dsession"):  # xdist's controller, workers to come
            check_folder(self.run_id)

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[RUN_ID_KEY] = self.run_id

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        # Ctrl-C; a pytest.exit() in the controller is left to xdist's own way of ending.
        controller = self.config.pluginmanager.hasplugin("dsession")
        if controller and isinstance(excinfo.value, KeyboardInterrupt):
            interrupt_workers()

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getvalue("dist") != "load":
            return None  # the user chose a distribution mode: theirs
        from .runs.xdist_scheduling import SuiteLoadScheduling

        return SuiteLoadScheduling(config, log, get_session(config).settings.file_patterns)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> SuiteFile | None:
    patterns = get_session(parent.config).settings.file_patterns
    if matches(file_path.name, patterns):
        return SuiteFile.from_parent(parent, path=file_path)
    if near_miss(file_path.name, patterns):
        warn_near_miss(file_path, patterns)
    return None


def pytest_collection(session: pytest.Session) -> None:
    get_session(session.config).discover(session.config)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """After -k, -m and --deselect: only the selected tests are checked (and their models'
    calls start litellm's import)."""
    items[:] = prepare_items(get_session(config), session, items)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """The items to run are known: start their conversations (pytest's loop then runs)."""
    config = session.config
    if config.option.collectonly or (
        session.testsfailed and not config.option.continue_on_collection_errors
    ):
        return
    tests = [i for i in session.items if isinstance(i, SimulationItem)]
    if tests:
        get_session(config).schedule(tests, queued_items(config, session.items))


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """Inside pytest's capture of each phase: other tests' runs' output is set aside."""
    with _routed(item):
        return (yield)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    with _routed(item):
        return (yield)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    with _routed(item):
        return (yield)


def _routed(item: pytest.Item) -> contextlib.AbstractContextManager[None]:
    """Every item's phases once runs are in flight: what they write is not another test's."""
    output = get_session(item.config).output
    return output.routing(item.nodeid) if output.active else contextlib.nullcontext()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if get_session(item.config).output.active:
        # With capture methods other than fd, a sync agent's thread may write in the instant
        # a phase's capture starts, before its routing (capture.py): masked all the same.
        report.sections = [(title, redact(text)) for title, text in report.sections]
    outcome = getattr(item, "outcome", None)
    if isinstance(outcome, TestOutcome) and call.when == "setup":
        # Its setup waited for its runs, which overlapped other tests': its own time instead
        # (JUnit's `time`, --durations).
        report.duration = outcome.duration
    final_phase = call.when == "call" or (call.when == "setup" and report.failed)
    if isinstance(outcome, TestOutcome) and final_phase:
        report.amigo_outcome = outcome.model_dump(mode="json")  # type: ignore[attr-defined]
    return report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    amigo = get_session(config)
    if not amigo.outcomes:
        return
    terminalreporter.ensure_newline()  # else its first line would follow a blank one
    terminalreporter.section("amigo metrics")
    store = amigo.settings.store_path
    verbosity = config.get_verbosity()
    for line in summary_lines(amigo.outcomes, amigo.run_id, store, verbosity=verbosity):
        status = line.split(" ", 1)[0]
        terminalreporter.write_line(line, **STATUS_MARKUP.get(status, {}))
