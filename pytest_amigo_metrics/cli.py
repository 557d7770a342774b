"""The command line: `python -m pytest_amigo_metrics <command>`.

Each command is a `Command` in COMMANDS: a name, its help, a function that adds its arguments
and a function that runs it and returns the exit code. Adding one is adding an entry.

`validate` is in validate_command.py; the store commands read the results store only.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from . import __version__
from .cli_exit_codes import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from .validate_command import VALIDATE_EPILOG, configure_validate, run_validate

if TYPE_CHECKING:
    from .settings import Settings
    from .store import Store

PROG = "python -m pytest_amigo_metrics"


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    description: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    epilog: str = ""


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        code = run(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # `... show latest | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the exit's flush does not fail again
        return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Tools for pytest-amigo-metrics suite files (pytest runs the suites).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    commands.required = True
    for command in COMMANDS:
        sub = commands.add_parser(
            command.name,
            help=command.help,
            description=command.description,
            epilog=command.epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.configure(sub)
        sub.set_defaults(run=command.run)
    return parser


# --- schema -----------------------------------------------------------------------------------


def configure_schema(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--report",
        action="store_true",
        help="print the JSON Schema of the --amigo-json report instead (report.schema.json)",
    )


def run_schema(args: argparse.Namespace) -> int:
    if getattr(args, "report", False):
        from .report.json_schema import report_schema_text

        sys.stdout.write(report_schema_text())
        return EXIT_OK
    from .suite.suite_schema import schema_text

    sys.stdout.write(schema_text())
    return EXIT_OK


# --- the results store: runs, metrics, results, show, report, compare -----------------------------

STORE_HELP = (
    "the results store (default: --amigo-store from the pytest configuration's addopts, else "
    "the environment variable AMIGO_METRICS_STORE, else the ini option amigo_store, else "
    ".amigo-metrics/results.sqlite3 under the rootdir)"
)
RUN_HELP = "a run id (see `runs`), or `latest`"


def _store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", metavar="PATH", help=STORE_HELP)


def configure_runs(parser: argparse.ArgumentParser) -> None:
    _store_argument(parser)


def configure_show(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ref", metavar="RUN", help=RUN_HELP)
    _store_argument(parser)


def configure_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ref", metavar="RUN", help=RUN_HELP)
    parser.add_argument("--json", metavar="FILE", type=Path, help="write the JSON report here")
    parser.add_argument("--html", metavar="FILE", type=Path, help="write the HTML report here")
    parser.add_argument(
        "--baseline",
        metavar="RUN_A",
        help="include the comparison with this earlier run, as --amigo-baseline does",
    )
    _store_argument(parser)


def configure_compare(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("baseline_ref", metavar="RUN_A", help="the baseline: " + RUN_HELP)
    parser.add_argument("ref", metavar="RUN_B", help="the run compared with it: " + RUN_HELP)
    parser.add_argument(
        "--fail-on-regression",
        action="store_true",
        help=f"exit with {EXIT_PROBLEMS} when a test regressed (as --amigo-fail-on-regression)",
    )
    _store_argument(parser)


def _on_store(work: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Runs a store command; a missing or unusable store or an unknown run is a usage error."""

    def run(args: argparse.Namespace) -> int:
        from .store import RunNotFound, StoreError
        from .store.file_format import unusable

        try:
            return work(args)
        except (StoreError, RunNotFound, pytest.UsageError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except sqlite3.DatabaseError as exc:  # pages damaged past what opening it checks
            print(f"error: {unusable(_given_store(args), exc, 0, writing=False)}", file=sys.stderr)
            return EXIT_USAGE

    return run


def run_runs(args: argparse.Namespace) -> int:
    from .store.view import run_lines

    store = open_store(args.store)
    for line in run_lines(store):
        print(line)
    return EXIT_OK


def configure_metrics(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name", metavar="NAME", nargs="?", help="a metric's name: list its versions"
    )
    _store_argument(parser)


def run_metrics(args: argparse.Namespace) -> int:
    from .store.view import metric_lines

    for line in metric_lines(open_store(args.store), args.name):
        print(line)
    return EXIT_OK


def configure_results(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--run",
        dest="runs",  # `run` is each command's function
        metavar="RUN",
        action="append",
        default=[],
        help=f"only this run's results: {RUN_HELP} (repeat it for several)",
    )
    parser.add_argument(
        "--metric",
        metavar="NAME[@VERSION]",
        action="append",
        default=[],
        help="only this metric's results, of any version or of VERSION (repeat it for several; "
        "the API's <metric_id>-<version> form works too)",
    )
    parser.add_argument(
        "--test",
        metavar="NODEID",
        help="only this test's results: its node id as pytest prints it "
        "(path/to/file.amigo.yaml::name), or its unit test id",
    )
    parser.add_argument(
        "--after",
        metavar="TIME",
        help="created at or after TIME (ISO 8601 with its time zone: 2026-12-01T09:00Z)",
    )
    parser.add_argument(
        "--before", metavar="TIME", help="created at or before TIME (ISO 8601 with its time zone)"
    )
    parser.add_argument("--newest-first", action="store_true", help="newest results first")
    parser.add_argument(
        "--limit", metavar="N", type=int, default=500, help="at most N results (0 to 500; 500)"
    )
    parser.add_argument(
        "--continuation-token",
        metavar="T",
        type=int,
        default=0,
        help="the next page: the token the previous page ended with",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="each result's justification and the messages it cites",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the page as the API's GetMetricEvaluationResults answers it, plus the "
        "metric and test names its ids stand for",
    )
    _store_argument(parser)


def run_results(args: argparse.Namespace) -> int:
    from .store.results_view import ResultsQuery, result_lines, results, results_json

    query = ResultsQuery(
        runs=args.runs,
        metrics=args.metric,
        test=args.test,
        after=args.after,
        before=args.before,
        newest_first=args.newest_first,
        limit=args.limit,
        continuation_token=args.continuation_token,
    )
    view = results(open_store(args.store), query)
    if args.json:
        print(results_json(view))
        return EXIT_OK
    for line in result_lines(view, justifications=args.verbose):
        print(line)
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    from .store.view import show_lines

    for line in show_lines(open_store(args.store), args.ref):
        print(line)
    return EXIT_OK


def run_report(args: argparse.Namespace) -> int:
    from .report.session_report import write_html, write_json, write_report
    from .store.view import past_report

    if args.json is None and args.html is None:
        print(
            "error: say where to write the report: --json FILE and/or --html FILE", file=sys.stderr
        )
        return EXIT_USAGE
    report = past_report(open_store(args.store), args.ref, args.baseline)
    code = EXIT_OK
    for path, kind, write in ((args.json, "JSON", write_json), (args.html, "HTML", write_html)):
        note = write_report(report, path, kind, write)
        if note is not None:
            print(note, file=sys.stderr if note.startswith("error") else sys.stdout)
            code = EXIT_USAGE if note.startswith("error") else code
    return code


def run_compare(args: argparse.Namespace) -> int:
    from .report.comparison_text import comparison_lines
    from .store.view import compare_runs

    comparison = compare_runs(open_store(args.store), args.baseline_ref, args.ref)
    for line in comparison_lines(comparison):
        print(line)
    return EXIT_PROBLEMS if args.fail_on_regression and comparison.regressions else EXIT_OK


def _given_store(args: argparse.Namespace) -> Path:
    """The store a command read, for its error (pytest's configuration may be what is wrong)."""
    if args.store:
        return Path(args.store)
    try:
        return configured_store_path()
    except pytest.UsageError:
        from .settings import DEFAULT_STORE

        return Path(DEFAULT_STORE)


def open_store(given: str | None) -> Store:
    """The store the plugin writes: as given, else as pytest's configuration resolves it. The
    commands only read it, so it is opened read-only: a store on a read-only mount or in a
    read-only folder can be read, and a format-1 store is read as it is, not migrated."""
    from .store import Store, StoreError

    path = Path(given) if given else configured_store_path()
    if not path.is_file():
        raise StoreError(f"there is no results store at {path}; run the suites first, or --store")
    return Store(path, read_only=True)


@dataclass(eq=False)
class _SettingsProbe:
    """Reads the plugin's settings from pytest's configuration, then stops pytest."""

    settings: Settings | None = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_cmdline_main(self, config: pytest.Config) -> int:
        from .settings import resolve_settings

        self.settings = resolve_settings(config)
        return EXIT_OK


def configured_store_path() -> Path:
    probe = _SettingsProbe()
    args = ["-p", "no:cacheprovider"]
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        args += ["-p", "pytest_amigo_metrics.plugin"]
    code = pytest.main(args, plugins=[probe])
    if probe.settings is None:
        raise pytest.UsageError(f"the pytest configuration could not be read (exit code {code})")
    return probe.settings.store_path


COMMANDS: tuple[Command, ...] = (
    Command(
        name="schema",
        help="print the JSON Schema of suite files (for editors)",
        description="Print the JSON Schema (draft 2020-12) of a YAML suite file, as shipped in "
        "the package (pytest_amigo_metrics/suite/suite.schema.json). Point your editor at it for "
        "completion, hover help and checks while you type.",
        configure=configure_schema,
        run=run_schema,
    ),
    Command(
        name="validate",
        help="check suite files as pytest's collection does, without running anything",
        description="Check suite files exactly as `pytest` collects them (same rootdir, ini "
        "files, testpaths, norecursedirs and amigo_file_pattern; same file:line messages), "
        "without running a test, calling a model or an API, or importing test modules.",
        configure=configure_validate,
        run=run_validate,
        epilog=VALIDATE_EPILOG,
    ),
    Command(
        name="runs",
        help="list the runs recorded in the results store",
        description="List the simulation unit test set runs (pytest sessions) in the results "
        "store, oldest first: id, start, end, outcome counts and models.",
        configure=configure_runs,
        run=_on_store(run_runs),
    ),
    Command(
        name="metrics",
        help="list the metrics in the results store, or one metric's versions",
        description="List the metrics in the results store with their type and latest version; "
        "with a NAME, every version of that metric: when it was made, its value space and the "
        "description the judge was given (a version that repeats an earlier one says so).",
        configure=configure_metrics,
        run=_on_store(run_metrics),
    ),
    Command(
        name="results",
        help="list evaluation results, filtered as the API filters them",
        description="List the store's evaluation results as the Amigo API's "
        "GetMetricEvaluationResults does: filtered by run, metric (and version), test and "
        "time, oldest first, 500 to a page. --json prints the page in the API's shape.",
        configure=configure_results,
        run=_on_store(run_results),
    ),
    Command(
        name="show",
        help="print a recorded run's tests and verdicts",
        description="Print a recorded run as the terminal summary showed it: per test its "
        "outcome, runs passed, models, and per metric its version, values and expectation.",
        configure=configure_show,
        run=_on_store(run_show),
    ),
    Command(
        name="report",
        help="write the JSON and/or HTML report of a recorded run",
        description="Write the report of any recorded run, as --amigo-json / --amigo-html "
        "wrote it at the end of that session, from the results store alone.",
        configure=configure_report,
        run=_on_store(run_report),
    ),
    Command(
        name="compare",
        help="compare two recorded runs (RUN_B against the baseline RUN_A)",
        description="Compare two recorded runs test by test, as --amigo-baseline does: "
        "outcomes, pass rates, per metric the mean or the distribution of values, and the "
        "metric versions on each side (flagged when they differ).",
        configure=configure_compare,
        run=_on_store(run_compare),
    ),
)
